// BackupMirrorFilter ("backup_mirror"): copies every write the primary applied to the backup.
// Async by default (never delays the primary; bounded in-flight count, drops counted); in sync
// mode the client's answer waits for the backup too. cas is mirrored as set (cas uniques differ
// per server); append/prepend/incr/decr/touch/delete mirror as themselves.
#pragma once

#include "proxy/filter.h"
#include "proxy/filter_registry.h"
#include "proxy/upstream/cluster_view.h"

namespace mcmesh::mirror {

struct MirrorOptions {
  bool enabled = true;
  bool sync = false;
  uint64_t max_inflight = 65536;  // per worker; beyond it async copies are dropped and counted.
};

absl::StatusOr<FilterFactory> makeMirrorFactory(const FilterConfigMap& config,
                                                const FilterContext& context);

/** Whether a primary reply means the write took effect there (so the backup should follow). */
bool primaryApplied(Command command, ResponseType reply);
/** The request to send to the backup for `request` (cas becomes set; no cas compares). */
Request mirrorRequestFor(const Request& request);

class BackupMirrorFilter : public PassThroughFilter {
 public:
  explicit BackupMirrorFilter(MirrorOptions options) : options_(options) {}
  FilterStatus onResponse(Response& response) override;
  void onDestroy() override;
  bool resetForReuse() override {
    handle_ = nullptr;
    return true;
  }

 private:
  MirrorOptions options_;
  upstream::Cancellable* handle_ = nullptr;
};

}  // namespace mcmesh::mirror
