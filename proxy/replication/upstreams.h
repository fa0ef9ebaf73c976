// Upstreams: what the replication protocol needs from a worker's cluster (placement, health,
// sends, time, counters). ClusterView implements it; tests implement it with fake servers whose
// replies they deliver in an order of their choosing.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "proxy/message.h"
#include "proxy/stats.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/conn_pool.h"

namespace mcmesh::replication {

class ReplicationState;

class Upstreams {
 public:
  virtual ~Upstreams() = default;

  /** The current topology. Operations pin the pointer they started with. */
  virtual const upstream::ClusterSnapshotConstSharedPtr& snapshotPtr() const = 0;
  /** Whether `host` may take requests now (not ejected, and not being recovered). */
  virtual bool available(const upstream::HostConfig& host) = 0;
  /**
   * Sends `request` to `host`; `callback` gets the reply or kUpstreamFailure, possibly inline.
   * Requests with the same affinity to the same host are delivered and answered in send order.
   * @return a handle to cancel, or null if the callback already ran.
   */
  virtual upstream::Cancellable* send(const upstream::HostConfig& host, const Request& request,
                                      upstream::ResponseCallback callback, uint64_t affinity) = 0;
  virtual absl::Time now() const = 0;
  virtual ProxyCounters& counters() = 0;
  /** Per-worker replication state (miss policy, recoveries). */
  virtual ReplicationState& replication() = 0;
};

}  // namespace mcmesh::replication
