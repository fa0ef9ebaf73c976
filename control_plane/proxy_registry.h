// ProxyRegistry: what the control plane knows about each subscribed proxy (for ListProxies).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "api/mcmesh/v1/admin.pb.h"
#include "control_plane/proxy_directory.h"

namespace mcmesh {
namespace control_plane {

/**
 * Thread-safe map proxy id -> status, fed by discovery streams. Entries stay after a proxy
 * disconnects (connected = false), so an operator can see a proxy that went away. When one
 * proxy id has two streams (a reconnect racing the old stream's teardown), the newest stream
 * owns the entry: each stream gets a generation and only the owner may mark it disconnected.
 */
class ProxyRegistry : public ProxyDirectory {
public:
  /** A stream opened. @return the stream's generation for the calls below. */
  uint64_t connected(const std::string& id, const std::string& cluster, const std::string& peer,
                     uint64_t applied_version);
  /** A snapshot with `version` was written to the proxy. */
  void sent(const std::string& id, uint64_t generation, uint64_t version);
  /** The proxy ACKed `version`. */
  void acked(const std::string& id, uint64_t generation, uint64_t version);
  /** The proxy NACKed `nacked_version`, still running `applied_version`, because of `reason`. */
  void nacked(const std::string& id, uint64_t generation, uint64_t applied_version,
              uint64_t nacked_version, const std::string& reason);
  /** The stream closed. */
  void disconnected(const std::string& id, uint64_t generation);

  /** @return every proxy ever seen, sorted by id. */
  std::vector<mcmesh::v1::ProxyStatus> list() const;
  /** ProxyDirectory: this control plane's own proxies. */
  std::vector<mcmesh::v1::ProxyStatus> listProxies() override { return list(); }

  // Totals since start, for the control plane's /metrics.
  struct Totals {
    uint64_t pushes = 0;
    uint64_t acks = 0;
    uint64_t nacks = 0;
    uint64_t streams = 0;
  };
  Totals totals() const;

private:
  struct Entry {
    mcmesh::v1::ProxyStatus status;
    uint64_t generation = 0;
  };
  // Looks up the entry if `generation` still owns it; refreshes last_seen.
  Entry* ownedEntry(const std::string& id, uint64_t generation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  mutable absl::Mutex mutex_;
  std::map<std::string, Entry> proxies_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mutex_) = 1;
  Totals totals_ ABSL_GUARDED_BY(mutex_);
};

} // namespace control_plane
} // namespace mcmesh
