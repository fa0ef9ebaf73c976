// ChainSettings: per-chain overrides of the cluster's replication settings, given as options of
// the router (`ketama_router:mirror=sync`) or of the legacy entries `backup_mirror` and
// `failover_reader` that configure it.
#pragma once

#include <cstdint>

#include "absl/types/optional.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace mcmesh::replication {

struct ChainSettings {
  absl::optional<upstream::MirrorMode> mirror;      // unset: the cluster's mirror_mode.
  absl::optional<uint64_t> max_mirror_inflight;     // unset: ReplicationOptions'.
  absl::optional<bool> miss_failover;               // unset: the cluster's miss_failover.
  bool repair = true;  // copy backup hits back to the primary (false: serve them only).
};

}  // namespace mcmesh::replication
