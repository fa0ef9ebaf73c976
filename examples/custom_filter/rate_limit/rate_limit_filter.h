// RateLimitFilter ("rate_limit"): a token bucket per client connection; over the limit the
// request is answered locally with "SERVER_ERROR rate limited" and never reaches a server.
#pragma once

#include <memory>

#include "proxy/filter.h"
#include "proxy/per_worker.h"
#include "proxy/filter_registry.h"
#include "rate_limit/bucket_table.h"

namespace custom_filter::rate_limit {

inline constexpr char kFilterName[] = "rate_limit";
inline constexpr char kLimitedMessage[] = "rate limited";

/**
 * Everything one `rate_limit` chain entry shares between workers: its config, its declared
 * counters and one bucket table per worker. Built once per chain; it lives as long as the chain,
 * so a push that changes only servers keeps the buckets, and a new rate_limit config starts fresh.
 */
class RateLimitShared {
 public:
  RateLimitShared(RateLimitConfig config, RateLimitCounters counters, size_t workers);

  const RateLimitConfig& config() const { return config_; }
  /** @return worker `worker`'s bucket table (FilterCallbacks::workerIndex()). */
  BucketTable& workerTable(size_t worker) const { return tables_.get(worker); }

 private:
  const RateLimitConfig config_;
  const RateLimitCounters counters_;
  mcmesh::PerWorker<BucketTable> tables_;
};
using RateLimitSharedConstPtr = std::shared_ptr<const RateLimitShared>;

/** The registry builder: validates the options and returns the per-request factory. */
absl::StatusOr<mcmesh::FilterFactory> makeRateLimitFactory(const mcmesh::FilterConfigMap& config,
                                                           const mcmesh::FilterContext& context);

class RateLimitFilter : public mcmesh::PassThroughFilter {
 public:
  explicit RateLimitFilter(RateLimitSharedConstPtr shared) : shared_(std::move(shared)) {}
  /**
   * Takes a token from this connection's bucket and continues, or answers
   * "SERVER_ERROR rate limited". `stats` commands are never limited. The counters are in `stats`
   * (rate_limit_allowed, ...) and /metrics like the proxy's own.
   */
  mcmesh::FilterStatus onRequest(mcmesh::Request& request) override;

 private:
  RateLimitSharedConstPtr shared_;  // shared: a request may outlive a chain swap.
};

}  // namespace custom_filter::rate_limit
