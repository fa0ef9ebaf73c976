// OperationContext: what every replicated operation (a read, a write) carries: the worker's
// upstreams, the client's request and where its reply goes, the chain's settings, the client
// connection's affinity, and the topology it started with (pinned: hosts are pointed at).
#pragma once

#include <cstdint>

#include "proxy/message.h"
#include "proxy/replication/chain_settings.h"
#include "proxy/replication/reply_sink.h"
#include "proxy/replication/upstreams.h"

namespace mcmesh::replication {

struct OperationContext {
  Upstreams* up = nullptr;
  const Request* request = nullptr;
  ReplySink* sink = nullptr;
  const ChainSettings* settings = nullptr;
  uint64_t affinity = 0;
  upstream::ClusterSnapshotConstSharedPtr snapshot;

  void bind(Upstreams& upstreams, const Request& r, uint64_t a, ReplySink& s,
            const ChainSettings& c) {
    up = &upstreams;
    request = &r;
    sink = &s;
    settings = &c;
    affinity = a;
    snapshot = upstreams.snapshotPtr();
  }
  void clear() { *this = OperationContext(); }
};

}  // namespace mcmesh::replication
