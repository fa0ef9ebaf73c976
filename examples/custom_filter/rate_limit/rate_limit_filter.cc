// RateLimitFilter: worker-local bucket tables, the local "rate limited" reply and its stats.
#include "rate_limit/rate_limit_filter.h"

#include "absl/strings/str_cat.h"
#include "proxy/dispatcher.h"

namespace custom_filter::rate_limit {

// Where the buckets live, and why there.
//
// Per-connection state must be touched on every request without locks, so it is per worker:
// each connection belongs to exactly one worker, a worker is one thread running one event loop,
// and mcmesh's PerWorker (one slot per worker, indexed by FilterCallbacks::workerIndex()) gives
// each worker its own table. The tables belong to this chain entry's shared object, so two chains
// - or the old and new chain during a live push - never share buckets, and a chain's tables go
// with it. Within a table the BucketTable bounds itself (max_connections) and drops buckets of
// idle or closed connections (see bucket_table.h).
RateLimitShared::RateLimitShared(RateLimitConfig config, size_t workers)
    : config_(config),
      tables_(workers, [this] { return std::make_unique<WorkerState>(config_); }) {}

mcmesh::StatLines RateLimitShared::report() const {
  uint64_t allowed = 0, limited = 0, tracked = 0, evicted_idle = 0, evicted_active = 0;
  // Counters: written by their worker, read here with relaxed loads (never torn).
  tables_.forEach([&](const WorkerState& w) {
    allowed += w.stats.allowed.value();
    limited += w.stats.limited.value();
    tracked += w.stats.tracked.value();
    evicted_idle += w.stats.evicted_idle.value();
    evicted_active += w.stats.evicted_active.value();
  });
  return {
      {"rate_limit_rate", absl::StrCat(config_.rate)},
      {"rate_limit_burst", absl::StrCat(config_.burst)},
      {"rate_limit_allowed", absl::StrCat(allowed)},
      {"rate_limit_limited", absl::StrCat(limited)},
      {"rate_limit_tracked_connections", absl::StrCat(tracked)},
      {"rate_limit_evicted_idle", absl::StrCat(evicted_idle)},
      {"rate_limit_evicted_active", absl::StrCat(evicted_active)},
  };
}

absl::StatusOr<mcmesh::FilterFactory> makeRateLimitFactory(const mcmesh::FilterConfigMap& config,
                                                           const mcmesh::FilterContext& context) {
  auto parsed = parseRateLimitConfig(config);
  if (!parsed.ok()) return parsed.status();
  // Built here, once per chain; every worker and every request share it read-only.
  RateLimitSharedConstPtr shared = std::make_shared<const RateLimitShared>(*parsed, context.workers);
  return mcmesh::FilterFactory([shared] { return std::make_unique<RateLimitFilter>(shared); });
}

mcmesh::FilterStatus RateLimitFilter::onRequest(mcmesh::Request& request) {
  if (request.command == mcmesh::Command::kStats) {
    // Never limited: an operator must be able to see why a client is limited, from any client.
    if (request.args != kFilterName) return mcmesh::FilterStatus::kContinue;
    mcmesh::Response r = mcmesh::Response::ofType(mcmesh::ResponseType::kStats);
    r.stats = shared_->report();
    callbacks_->sendResponse(std::move(r));
    return mcmesh::FilterStatus::kStopIteration;
  }
  // dispatcher().now() is the loop's cached clock: no system call per request.
  BucketTable& table = shared_->workerTable(callbacks_->workerIndex());
  if (table.tryTake(callbacks_->connectionId(), callbacks_->dispatcher().now())) {
    return mcmesh::FilterStatus::kContinue;
  }
  callbacks_->sendResponse(mcmesh::Response::serverError(kLimitedMessage));
  return mcmesh::FilterStatus::kStopIteration;
}

}  // namespace custom_filter::rate_limit
