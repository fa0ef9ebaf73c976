// LatencyHistogram: HDR-like log-linear buckets (<1% relative error) for per-request latencies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mcmesh::bench {

// Records nanosecond values in buckets that are exact below 128 ns and then keep 7 significant
// bits (64 linear sub-buckets per power of two), like HdrHistogram with ~2 significant digits.
// Fixed size (no allocation while recording), mergeable across threads.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;  // 128
  static constexpr uint64_t kHalf = kSubCount / 2;                 // 64
  static constexpr size_t kBuckets = 64 * kHalf;

  /** @return the bucket holding `ns`. */
  static size_t bucketOf(uint64_t ns) {
    if (ns < kSubCount) return static_cast<size_t>(ns);
    int msb = 63 - __builtin_clzll(ns);
    int shift = msb - (kSubBits - 1);
    return static_cast<size_t>(shift * kHalf + (ns >> shift));
  }
  /** @return the smallest value that lands in `bucket`. */
  static uint64_t lowerBound(size_t bucket) {
    if (bucket < kSubCount) return bucket;
    uint64_t shift = bucket / kHalf - 1;
    return (bucket - shift * kHalf) << shift;
  }
  /** @return the largest value that lands in `bucket`. */
  static uint64_t upperBound(size_t bucket) {
    if (bucket < kSubCount) return bucket;
    uint64_t shift = bucket / kHalf - 1;
    return lowerBound(bucket) + (uint64_t{1} << shift) - 1;
  }

  void record(uint64_t ns) {
    size_t b = bucketOf(ns);
    if (b >= kBuckets) b = kBuckets - 1;
    counts_[b]++;
    total_++;
    sum_ += ns;
    if (ns > max_) max_ = ns;
  }

  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    if (other.max_ > max_) max_ = other.max_;
  }

  /**
   * @param q quantile in [0, 1].
   * @return the midpoint of the bucket holding the q-th value (ns), 0 when empty.
   */
  uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        uint64_t mid = lowerBound(i) + (upperBound(i) - lowerBound(i)) / 2;
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ == 0 ? 0.0 : static_cast<double>(sum_) / total_; }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace mcmesh::bench
