// Tests of ProxyCounters' fixed-bucket latency histogram: bucket edges follow Prometheus `le`.
#include "gtest/gtest.h"
#include "proxy/stats.h"

namespace mcmesh {
namespace {

TEST(LatencyHistogramTest, ValuesOnABoundGoIntoThatBucket) {
  LatencyHistogram h;
  h.observe(0);
  h.observe(100);   // le=100us
  h.observe(101);   // le=250us
  h.observe(1000);  // le=1ms
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(3), 1u);
  EXPECT_EQ(h.sumMicros(), 1201u);
}

TEST(LatencyHistogramTest, SlowRequestsLandInTheOverflowBucket) {
  LatencyHistogram h;
  h.observe(1000000);  // exactly 1s: the last finite bucket.
  h.observe(1000001);
  h.observe(UINT32_MAX);
  EXPECT_EQ(h.bucket(LatencyHistogram::kBoundsUs.size() - 1), 1u);
  EXPECT_EQ(h.bucket(LatencyHistogram::kBoundsUs.size()), 2u);
}

TEST(LatencyHistogramTest, BoundsAscend) {
  for (size_t i = 1; i < LatencyHistogram::kBoundsUs.size(); ++i) {
    EXPECT_LT(LatencyHistogram::kBoundsUs[i - 1], LatencyHistogram::kBoundsUs[i]);
  }
}

}  // namespace
}  // namespace mcmesh
