// RateLimitFilter: worker-local bucket tables, the local "rate limited" reply and its stats.
#include "rate_limit/rate_limit_filter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proxy/dispatcher.h"

namespace custom_filter::rate_limit {

// Where the buckets live, and why there.
//
// Per-connection state must be touched on every request without locks, so it has to be
// worker-local: each connection belongs to exactly one worker, and a worker is one thread running
// one event loop. The filter API gives filters no per-worker slot (factories are shared by all
// workers and immutable; filter instances live for one request), and the proxy core is not ours
// to change, so a thread_local list is the worker-local home. It is keyed by the RateLimitShared
// of one chain entry (held weakly), so two chains - or the old and new chain during a live push -
// never share buckets, and entries of chains that no longer exist are dropped the next time the
// worker builds an entry. Within an entry the BucketTable bounds itself (max_connections) and
// drops buckets of idle or closed connections (see bucket_table.h).
//
// Consequence: a pushed chain (any topology change) starts with fresh, full buckets.
struct RateLimitShared::WorkerState {
  const RateLimitShared* key = nullptr;
  std::weak_ptr<const RateLimitShared> owner;
  std::shared_ptr<RateLimitStats> stats;
  std::unique_ptr<BucketTable> table;
};

BucketTable& RateLimitShared::workerTable() const {
  // One entry per live rate_limit chain entry this worker has served (normally one or two).
  thread_local std::vector<std::unique_ptr<WorkerState>> t_worker_states;
  for (const auto& state : t_worker_states) {
    // The raw key alone could match a new object at a freed address; the weak owner cannot.
    if (state->key == this && !state->owner.expired()) return *state->table;
  }
  t_worker_states.erase(
      std::remove_if(t_worker_states.begin(), t_worker_states.end(),
                     [](const auto& state) { return state->owner.expired(); }),
      t_worker_states.end());
  auto state = std::make_unique<WorkerState>();
  state->key = this;
  state->owner = weak_from_this();
  state->stats = std::make_shared<RateLimitStats>();
  state->table = std::make_unique<BucketTable>(config_, *state->stats);
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    worker_stats_.push_back(state->stats);
  }
  t_worker_states.push_back(std::move(state));
  return *t_worker_states.back()->table;
}

mcmesh::StatLines RateLimitShared::report() const {
  uint64_t allowed = 0, limited = 0, tracked = 0, evicted_idle = 0, evicted_active = 0;
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    for (const auto& s : worker_stats_) {
      allowed += s->allowed.value();
      limited += s->limited.value();
      tracked += s->tracked.value();
      evicted_idle += s->evicted_idle.value();
      evicted_active += s->evicted_active.value();
    }
  }
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
                                                           const mcmesh::FilterContext&) {
  auto parsed = parseRateLimitConfig(config);
  if (!parsed.ok()) return parsed.status();
  // Built here, once per chain; every worker and every request share it read-only.
  RateLimitSharedConstPtr shared = std::make_shared<const RateLimitShared>(*parsed);
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
  if (shared_->workerTable().tryTake(callbacks_->connectionId(), callbacks_->dispatcher().now())) {
    return mcmesh::FilterStatus::kContinue;
  }
  callbacks_->sendResponse(mcmesh::Response::serverError(kLimitedMessage));
  return mcmesh::FilterStatus::kStopIteration;
}

}  // namespace custom_filter::rate_limit
