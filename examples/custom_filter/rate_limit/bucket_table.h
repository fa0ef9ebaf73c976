// BucketTable: one worker's token buckets, one per client connection, bounded and self-evicting.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proxy/filter_counters.h"
#include "proxy/filter_registry.h"
#include "proxy/stats.h"

namespace custom_filter::rate_limit {

// The validated `rate_limit` options (immutable, shared by every worker).
struct RateLimitConfig {
  uint64_t rate = 0;               // tokens (requests) added per second, per connection.
  uint64_t burst = 0;              // bucket size: what a new or idle connection may send at once.
  size_t max_connections = 10000;  // buckets one worker keeps at most (see BucketTable).
};

/**
 * Parses `rate` (required, >= 1), `burst` (default: rate) and `max_connections` (default 10000).
 * @return INVALID_ARGUMENT naming the option for a missing/bad value or an unknown option.
 */
absl::StatusOr<RateLimitConfig> parseRateLimitConfig(const mcmesh::FilterConfigMap& config);

// The rate limiter's counters, declared with mcmesh (FilterContext::counters) so they appear in
// `stats` as rate_limit_<name> and in /metrics as mcmesh_filter_rate_limit_<name>_total, summed
// over workers. Each is a slot number; a worker counts into its own ProxyCounters.
struct RateLimitCounters {
  mcmesh::FilterCounter allowed;         // requests that took a token.
  mcmesh::FilterCounter limited;         // requests answered "SERVER_ERROR rate limited".
  mcmesh::FilterCounter evicted_idle;    // full buckets dropped (lossless: a new one starts full).
  mcmesh::FilterCounter evicted_active;  // degraded: table full of active buckets, oldest dropped.

  /** Declares them (a rebuilt chain gets the same slots, so counts survive a push). */
  static absl::StatusOr<RateLimitCounters> declare(mcmesh::FilterCounterRegistry& registry);
};

/**
 * Token buckets keyed by connection id, owned by one worker (never shared between threads).
 *
 * The filter API does not tell filters when a connection closes, so the table cannot delete a
 * bucket at close. It does not need to: a bucket left alone for burst/rate seconds is full, which
 * is exactly what a new bucket is, so dropping it loses nothing. The table sweeps such idle
 * buckets at most once per refill period (amortised O(1) per request) and before growing past
 * max_connections; only if every bucket is still refilling does it drop the least recently used
 * one (that connection gets a fresh burst; counted in evicted_active). At most max_connections
 * buckets are held, so the table's size needs no gauge.
 */
class BucketTable {
 public:
  BucketTable(const RateLimitConfig& config, const RateLimitCounters& counters);
  BucketTable(const BucketTable&) = delete;
  BucketTable& operator=(const BucketTable&) = delete;

  /**
   * Refills the connection's bucket up to `now` and takes one token; counts what happened in
   * `worker` (this worker's counters: FilterCallbacks::cluster().counters()).
   * @return true if the request may proceed, false if it is over the limit.
   */
  bool tryTake(uint64_t connection_id, absl::Time now, mcmesh::ProxyCounters& worker);
  size_t size() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;  // when `tokens` was computed.
  };

  double refill(const Bucket& bucket, absl::Time now) const;
  // Drops every bucket that is full at `now`.
  void sweepIdle(absl::Time now, mcmesh::ProxyCounters& worker);
  // Drops the bucket used least recently (O(n); only when the table is full of active buckets).
  void evictLeastRecent(mcmesh::ProxyCounters& worker);

  const RateLimitConfig config_;
  const RateLimitCounters counters_;
  const absl::Duration refill_time_;  // empty -> full.
  absl::flat_hash_map<uint64_t, Bucket> buckets_;
  absl::Time next_sweep_ = absl::InfinitePast();
};

}  // namespace custom_filter::rate_limit
