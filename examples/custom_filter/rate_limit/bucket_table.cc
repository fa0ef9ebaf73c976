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

absl::StatusOr<RateLimitCounters> RateLimitCounters::declare(
    mcmesh::FilterCounterRegistry& registry) {
  RateLimitCounters c;
  const struct {
    mcmesh::FilterCounter* counter;
    const char* name;
    const char* help;
  } declared[] = {
      {&c.allowed, "allowed", "Requests that took a token."},
      {&c.limited, "limited", "Requests answered SERVER_ERROR rate limited."},
      {&c.evicted_idle, "evicted_idle", "Full (idle) buckets dropped; lossless."},
      {&c.evicted_active, "evicted_active",
       "Buckets dropped while refilling because the table was full (that client got a new burst)."},
  };
  for (const auto& d : declared) {
    absl::StatusOr<mcmesh::FilterCounter> counter = registry.declare("rate_limit", d.name, d.help);
    if (!counter.ok()) return counter.status();
    *d.counter = *counter;
  }
  return c;
}

BucketTable::BucketTable(const RateLimitConfig& config, const RateLimitCounters& counters)
    : config_(config),
      counters_(counters),
      refill_time_(absl::Seconds(static_cast<double>(config.burst) / config.rate)) {}

double BucketTable::refill(const Bucket& bucket, absl::Time now) const {
  // The data-path clock is wall time: never let it running backwards drain a bucket.
  double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.last));
  return std::min(static_cast<double>(config_.burst), bucket.tokens + elapsed * config_.rate);
}

bool BucketTable::tryTake(uint64_t connection_id, absl::Time now, mcmesh::ProxyCounters& worker) {
  if (now >= next_sweep_) {
    sweepIdle(now, worker);
    next_sweep_ = now + std::max(refill_time_, absl::Seconds(1));
  }
  auto it = buckets_.find(connection_id);
  if (it == buckets_.end()) {
    if (buckets_.size() >= config_.max_connections) {
      sweepIdle(now, worker);
      if (buckets_.size() >= config_.max_connections) evictLeastRecent(worker);
    }
    it = buckets_.emplace(connection_id, Bucket{static_cast<double>(config_.burst), now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = refill(bucket, now);
  bucket.last = std::max(bucket.last, now);
  if (bucket.tokens < 1.0) {
    counters_.limited.inc(worker);
    return false;
  }
  bucket.tokens -= 1.0;
  counters_.allowed.inc(worker);
  return true;
}

void BucketTable::sweepIdle(absl::Time now, mcmesh::ProxyCounters& worker) {
  size_t before = buckets_.size();
  absl::erase_if(buckets_, [&](const auto& entry) {
    return refill(entry.second, now) >= static_cast<double>(config_.burst);
  });
  counters_.evicted_idle.inc(worker, before - buckets_.size());
}

void BucketTable::evictLeastRecent(mcmesh::ProxyCounters& worker) {
  auto oldest = buckets_.begin();
  for (auto it = buckets_.begin(); it != buckets_.end(); ++it) {
    if (it->second.last < oldest->second.last) oldest = it;
  }
  if (oldest == buckets_.end()) return;
  buckets_.erase(oldest);
  counters_.evicted_active.inc(worker);
}

}  // namespace custom_filter::rate_limit
