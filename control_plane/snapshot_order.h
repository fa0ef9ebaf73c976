// The proxy's rule for which pushed snapshots may replace the one it runs: (epoch, version) never
// goes backwards, so a recreated control plane cannot roll proxies back without a deliberate reset.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace mcmesh {
namespace control_plane {

/** Where a topology stands in the control plane's history: Topology.epoch and .version. */
struct SnapshotId {
  uint64_t epoch = 0;
  uint64_t version = 0;
};

/**
 * Decides whether a proxy running `applied` may apply `offered` (a snapshot that is not the very
 * one it runs: identical snapshots are ACKed before this is asked).
 * @param applied what the proxy runs; version 0 = nothing yet (a fresh proxy takes anything).
 * @param same_version_differs true when `offered` has the same epoch and version as `applied`
 *        but other content (two topologies under one version: a recreated store).
 * @return OK to apply; FAILED_PRECONDITION with the reason for the NACK (and what an operator
 *         does about it) when the snapshot would move the proxy backwards.
 */
absl::Status checkSnapshotOrder(const SnapshotId& applied, const SnapshotId& offered,
                                bool same_version_differs);

} // namespace control_plane
} // namespace mcmesh
