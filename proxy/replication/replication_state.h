// ReplicationState: what one worker remembers for the replication protocol between requests.
// Everything that must hold across proxies lives on the servers instead (leases on primaries,
// the dirty journal on backups); this is only policy and bookkeeping.
#pragma once

#include "proxy/replication/miss_policy.h"
#include "proxy/replication/placement.h"

namespace mcmesh::replication {

struct ReplicationOptions {
  MissPolicyOptions miss;
  // Seconds a lease placeholder lives if its copier dies before finishing.
  int64_t lease_ttl_s = 5;
  // Async mirror copies in flight per worker before new ones are dropped (and counted).
  uint64_t max_mirror_inflight = 4096;
};

class ReplicationState {
 public:
  explicit ReplicationState(ReplicationOptions options = {})
      : options_(options), miss_policy_(options.miss) {}
  const ReplicationOptions& options() const { return options_; }
  MissPolicy& missPolicy() { return miss_policy_; }
  Placement& placement() { return placement_; }

 private:
  ReplicationOptions options_;
  MissPolicy miss_policy_;
  Placement placement_;
};

}  // namespace mcmesh::replication
