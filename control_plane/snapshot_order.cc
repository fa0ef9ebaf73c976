// Implements checkSnapshotOrder: compare (epoch, version), explain a refusal.
#include "control_plane/snapshot_order.h"

#include "absl/strings/str_cat.h"

namespace mcmesh {
namespace control_plane {
namespace {

std::string describe(const SnapshotId& id) {
  return absl::StrCat("version ", id.version, " (epoch ", id.epoch, ")");
}

// What the NACK tells the operator to do: a reset to an epoch above the proxy's.
std::string remedy(const SnapshotId& applied) {
  return absl::StrCat(", so it keeps running version ", applied.version,
                      "; if the control plane's topology was recreated on purpose, run "
                      "`mcmeshctl reset-epoch ",
                      applied.epoch + 1, "` so proxies accept it");
}

} // namespace

absl::Status checkSnapshotOrder(const SnapshotId& applied, const SnapshotId& offered,
                                bool same_version_differs) {
  if (applied.version == 0 || offered.epoch > applied.epoch) {
    return absl::OkStatus();
  }
  if (offered.epoch < applied.epoch) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", describe(offered), " is from an older epoch than the ",
                     describe(applied), " this proxy runs", remedy(applied)));
  }
  if (offered.version < applied.version) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", describe(offered), " is older than the ", describe(applied),
                     " this proxy runs (versions never go backwards)",
                     remedy(applied)));
  }
  if (offered.version == applied.version && same_version_differs) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", describe(offered), " differs from the ", describe(applied),
                     " this proxy runs (two topologies under one version)",
                     remedy(applied)));
  }
  return absl::OkStatus();
}

} // namespace control_plane
} // namespace mcmesh
