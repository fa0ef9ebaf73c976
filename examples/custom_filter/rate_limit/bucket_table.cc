// BucketTable: token-bucket arithmetic, option parsing and idle/overflow eviction.
#include "rate_limit/bucket_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace custom_filter::rate_limit {

absl::StatusOr<RateLimitConfig> parseRateLimitConfig(const mcmesh::FilterConfigMap& config) {
  for (const auto& [key, value] : config) {
    if (key != "rate" && key != "burst" && key != "max_connections") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown option '", key, "' (known: rate, burst, max_connections)"));
    }
  }
  if (config.count("rate") == 0) {
    return absl::InvalidArgumentError(
        "option 'rate' (requests per second per client connection) is required");
  }
  RateLimitConfig out;
  auto rate = mcmesh::configUint(config, "rate", 0);
  if (!rate.ok()) return rate.status();
  if (*rate == 0) return absl::InvalidArgumentError("option 'rate' must be at least 1");
  auto burst = mcmesh::configUint(config, "burst", *rate);
  if (!burst.ok()) return burst.status();
  if (*burst == 0) return absl::InvalidArgumentError("option 'burst' must be at least 1");
  auto max_connections = mcmesh::configUint(config, "max_connections", out.max_connections);
  if (!max_connections.ok()) return max_connections.status();
  if (*max_connections == 0) {
    return absl::InvalidArgumentError("option 'max_connections' must be at least 1");
  }
  out.rate = *rate;
  out.burst = *burst;
  out.max_connections = *max_connections;
  return out;
}

BucketTable::BucketTable(const RateLimitConfig& config, RateLimitStats& stats)
    : config_(config),
      stats_(stats),
      refill_time_(absl::Seconds(static_cast<double>(config.burst) / config.rate)) {}

BucketTable::~BucketTable() { stats_.tracked.dec(buckets_.size()); }

double BucketTable::refill(const Bucket& bucket, absl::Time now) const {
  // The data-path clock is wall time: never let it running backwards drain a bucket.
  double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.last));
  return std::min(static_cast<double>(config_.burst), bucket.tokens + elapsed * config_.rate);
}

bool BucketTable::tryTake(uint64_t connection_id, absl::Time now) {
  if (now >= next_sweep_) {
    sweepIdle(now);
    next_sweep_ = now + std::max(refill_time_, absl::Seconds(1));
  }
  auto it = buckets_.find(connection_id);
  if (it == buckets_.end()) {
    if (buckets_.size() >= config_.max_connections) {
      sweepIdle(now);
      if (buckets_.size() >= config_.max_connections) evictLeastRecent();
    }
    it = buckets_.emplace(connection_id, Bucket{static_cast<double>(config_.burst), now}).first;
    stats_.tracked.inc();
  }
  Bucket& bucket = it->second;
  bucket.tokens = refill(bucket, now);
  bucket.last = std::max(bucket.last, now);
  if (bucket.tokens < 1.0) {
    stats_.limited.inc();
    return false;
  }
  bucket.tokens -= 1.0;
  stats_.allowed.inc();
  return true;
}

void BucketTable::sweepIdle(absl::Time now) {
  size_t before = buckets_.size();
  absl::erase_if(buckets_, [&](const auto& entry) {
    return refill(entry.second, now) >= static_cast<double>(config_.burst);
  });
  size_t dropped = before - buckets_.size();
  stats_.tracked.dec(dropped);
  stats_.evicted_idle.inc(dropped);
}

void BucketTable::evictLeastRecent() {
  auto oldest = buckets_.begin();
  for (auto it = buckets_.begin(); it != buckets_.end(); ++it) {
    if (it->second.last < oldest->second.last) oldest = it;
  }
  if (oldest == buckets_.end()) return;
  buckets_.erase(oldest);
  stats_.tracked.dec();
  stats_.evicted_active.inc();
}

}  // namespace custom_filter::rate_limit
