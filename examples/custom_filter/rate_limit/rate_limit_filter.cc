// RateLimitFilter: worker-local bucket tables, the local "rate limited" reply and its stats.
#include "rate_limit/rate_limit_filter.h"

#include "absl/strings/str_cat.h"
#include "proxy/dispatcher.h"
#include "proxy/replication/upstreams.h"

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
RateLimitShared::RateLimitShared(RateLimitConfig config, RateLimitCounters counters,
                                 size_t workers)
    : config_(config),
      counters_(counters),
      tables_(workers, [this] { return std::make_unique<BucketTable>(config_, counters_); }) {}

absl::StatusOr<mcmesh::FilterFactory> makeRateLimitFactory(const mcmesh::FilterConfigMap& config,
                                                           const mcmesh::FilterContext& context) {
  auto parsed = parseRateLimitConfig(config);
  if (!parsed.ok()) return parsed.status();
  if (context.counters == nullptr) {
    return absl::FailedPreconditionError("rate_limit: no counter registry to declare its counters");
  }
  auto counters = RateLimitCounters::declare(*context.counters);
  if (!counters.ok()) return counters.status();
  // Built here, once per chain; every worker and every request share it read-only.
  RateLimitSharedConstPtr shared =
      std::make_shared<const RateLimitShared>(*parsed, *counters, context.workers);
  return mcmesh::FilterFactory([shared] { return std::make_unique<RateLimitFilter>(shared); });
}

mcmesh::FilterStatus RateLimitFilter::onRequest(mcmesh::Request& request) {
  // Never limited: an operator must be able to see why a client is limited, from any client.
  if (request.command == mcmesh::Command::kStats) return mcmesh::FilterStatus::kContinue;
  // dispatcher().now() is the loop's cached clock: no system call per request.
  BucketTable& table = shared_->workerTable(callbacks_->workerIndex());
  if (table.tryTake(callbacks_->connectionId(), callbacks_->dispatcher().now(),
                    callbacks_->cluster().counters())) {
    return mcmesh::FilterStatus::kContinue;
  }
  callbacks_->sendResponse(mcmesh::Response::serverError(kLimitedMessage));
  return mcmesh::FilterStatus::kStopIteration;
}

}  // namespace custom_filter::rate_limit
