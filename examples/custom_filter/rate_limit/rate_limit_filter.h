// RateLimitFilter ("rate_limit"): a token bucket per client connection; over the limit the
// request is answered locally with "SERVER_ERROR rate limited" and never reaches a server.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "proxy/filter.h"
#include "proxy/filter_registry.h"
#include "rate_limit/bucket_table.h"

namespace custom_filter::rate_limit {

inline constexpr char kFilterName[] = "rate_limit";
inline constexpr char kLimitedMessage[] = "rate limited";

/**
 * Everything one `rate_limit` chain entry shares between workers: its config and the list of
 * per-worker stats. Built once per chain (topology version) and immutable except for that list,
 * which only grows when a worker first uses this filter and is read by `stats rate_limit`.
 */
class RateLimitShared : public std::enable_shared_from_this<RateLimitShared> {
 public:
  explicit RateLimitShared(RateLimitConfig config) : config_(config) {}

  const RateLimitConfig& config() const { return config_; }
  /** @return the calling worker's bucket table for this chain entry (created on first use). */
  BucketTable& workerTable() const;
  /** @return the counters summed over every worker, as `stats` name/value lines. */
  mcmesh::StatLines report() const;

 private:
  struct WorkerState;

  const RateLimitConfig config_;
  mutable std::mutex stats_mutex_;
  mutable std::vector<std::shared_ptr<const RateLimitStats>> worker_stats_;
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
   * "SERVER_ERROR rate limited". `stats` commands are never limited; `stats rate_limit` is
   * answered here (so put rate_limit ahead of the stats filter, which answers every `stats`).
   */
  mcmesh::FilterStatus onRequest(mcmesh::Request& request) override;

 private:
  RateLimitSharedConstPtr shared_;  // shared: a request may outlive a chain swap.
};

}  // namespace custom_filter::rate_limit
