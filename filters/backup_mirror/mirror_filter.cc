// BackupMirrorFilter: what to mirror, and async/sync copying to the backup pool.
#include "filters/backup_mirror/mirror_filter.h"

#include "absl/strings/str_cat.h"

namespace mcmesh::mirror {

absl::StatusOr<FilterFactory> makeMirrorFactory(const FilterConfigMap& config,
                                                const FilterContext& context) {
  MirrorOptions options;
  options.sync = context.cluster.mirror_mode == upstream::MirrorMode::kSync;
  options.enabled = context.cluster.mirror_mode != upstream::MirrorMode::kNone;
  for (const auto& entry : config) {
    if (entry.first == "mode") {
      if (entry.second != "async" && entry.second != "sync" && entry.second != "none") {
        return absl::InvalidArgumentError(
            absl::StrCat("mode must be async, sync or none, got '", entry.second, "'"));
      }
      options.sync = entry.second == "sync";
      options.enabled = entry.second != "none";
    } else if (entry.first != "max_inflight") {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", entry.first, "'"));
    }
  }
  auto max_inflight = configUint(config, "max_inflight", options.max_inflight);
  if (!max_inflight.ok()) return max_inflight.status();
  options.max_inflight = *max_inflight;
  return FilterFactory([options] { return std::make_unique<BackupMirrorFilter>(options); });
}

bool primaryApplied(Command command, ResponseType reply) {
  switch (reply) {
    case ResponseType::kStored:
    case ResponseType::kDeleted:
    case ResponseType::kTouched:
    case ResponseType::kNumber:
      return true;
    case ResponseType::kNotFound:
      // A delete of a key the primary lacks still clears a stale backup copy.
      return command == Command::kDelete;
    default:
      return false;
  }
}

Request mirrorRequestFor(const Request& request) {
  Request copy = request;
  copy.noreply = false;
  if (copy.command == Command::kCas) copy.command = Command::kSet;
  // cas uniques differ per server: a compare (binary/meta append, delete, incr) would fail there.
  copy.cas_unique = 0;
  return copy;
}

FilterStatus BackupMirrorFilter::onResponse(Response& response) {
  const Request& request = callbacks_->request();
  if (!options_.enabled || !isWrite(request.command) ||
      !primaryApplied(request.command, response.type)) {
    return FilterStatus::kContinue;
  }
  upstream::ClusterView& cluster = callbacks_->cluster();
  const upstream::HostConfig* backup = cluster.snapshot().backupFor(request.keys[0]);
  if (backup == nullptr) return FilterStatus::kContinue;
  ProxyCounters* counters = &cluster.counters();
  if (!options_.sync) {
    if (counters->mirror_inflight.value() >= options_.max_inflight) {
      counters->mirror_dropped.inc();
      return FilterStatus::kContinue;
    }
    counters->mirror_sent.inc();
    counters->mirror_inflight.inc();
    // Outlives this request on purpose: capture only worker-lifetime state.
    cluster.send(*backup, mirrorRequestFor(request), [counters](Response&& r) {
      counters->mirror_inflight.dec();
      if (r.type == ResponseType::kUpstreamFailure || r.type == ResponseType::kServerError ||
          r.type == ResponseType::kClientError || r.type == ResponseType::kError) {
        counters->mirror_errors.inc();
      }
    }, callbacks_->connectionId());
    return FilterStatus::kContinue;
  }
  counters->mirror_sent.inc();
  handle_ = cluster.send(*backup, mirrorRequestFor(request), [this, counters](Response&& r) {
    handle_ = nullptr;
    // The primary's answer stands; a failed copy is counted (and the key repaired on read).
    if (r.type == ResponseType::kUpstreamFailure || r.type == ResponseType::kServerError) {
      counters->mirror_errors.inc();
    }
    callbacks_->continueResponse();  // also correct when the callback runs inline.
  }, callbacks_->connectionId());
  return FilterStatus::kStopIteration;
}

void BackupMirrorFilter::onDestroy() {
  if (handle_ != nullptr) handle_->cancel();
  handle_ = nullptr;
}

}  // namespace mcmesh::mirror
