// BucketTable and parseRateLimitConfig: token arithmetic on a synthetic clock, bounds, eviction.
#include "rate_limit/bucket_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custom_filter::rate_limit {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

// The table's counters declared in a registry of their own and counted into one worker's
// ProxyCounters, as the proxy does; value() reads a counter's slot back.
struct Counted {
  Counted() : counters(*RateLimitCounters::declare(registry)) {}
  uint64_t value(mcmesh::FilterCounter counter) const {
    return worker.filter[counter.slot()].value();
  }
  mcmesh::FilterCounterRegistry registry;
  mcmesh::ProxyCounters worker;
  RateLimitCounters counters;
};

RateLimitConfig config(uint64_t rate, uint64_t burst, size_t max_connections = 100) {
  RateLimitConfig c;
  c.rate = rate;
  c.burst = burst;
  c.max_connections = max_connections;
  return c;
}

TEST(ParseRateLimitConfigTest, RateIsRequired) {
  auto parsed = parseRateLimitConfig({});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("option 'rate'"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("required"));
}

TEST(ParseRateLimitConfigTest, BurstDefaultsToRate) {
  auto parsed = parseRateLimitConfig({{"rate", "50"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->rate, 50u);
  EXPECT_EQ(parsed->burst, 50u);
  EXPECT_EQ(parsed->max_connections, 10000u);
}

TEST(ParseRateLimitConfigTest, ReadsEveryOption) {
  auto parsed = parseRateLimitConfig({{"rate", "5"}, {"burst", "20"}, {"max_connections", "7"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->rate, 5u);
  EXPECT_EQ(parsed->burst, 20u);
  EXPECT_EQ(parsed->max_connections, 7u);
}

TEST(ParseRateLimitConfigTest, RejectsNonNumbers) {
  auto parsed = parseRateLimitConfig({{"rate", "fast"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("option 'rate' must be a non-negative integer, got 'fast'"));
}

TEST(ParseRateLimitConfigTest, RejectsZeroes) {
  EXPECT_THAT(parseRateLimitConfig({{"rate", "0"}}).status().message(),
              HasSubstr("'rate' must be at least 1"));
  EXPECT_THAT(parseRateLimitConfig({{"rate", "1"}, {"burst", "0"}}).status().message(),
              HasSubstr("'burst' must be at least 1"));
  EXPECT_THAT(
      parseRateLimitConfig({{"rate", "1"}, {"max_connections", "0"}}).status().message(),
      HasSubstr("'max_connections' must be at least 1"));
}

TEST(ParseRateLimitConfigTest, RejectsUnknownOptions) {
  auto parsed = parseRateLimitConfig({{"rate", "1"}, {"brust", "3"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("unknown option 'brust' (known: rate, burst, max_connections)"));
}

TEST(BucketTableTest, AllowsTheBurstThenLimits) {
  Counted stats;
  BucketTable table(config(10, 3), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_FALSE(table.tryTake(1, kT0, stats.worker));
  EXPECT_EQ(stats.value(stats.counters.allowed), 3u);
  EXPECT_EQ(stats.value(stats.counters.limited), 1u);
}

TEST(BucketTableTest, RefillsAtTheRate) {
  Counted stats;
  BucketTable table(config(10, 1), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_FALSE(table.tryTake(1, kT0 + absl::Milliseconds(50), stats.worker));   // half a token.
  EXPECT_TRUE(table.tryTake(1, kT0 + absl::Milliseconds(100), stats.worker));   // one token.
  EXPECT_FALSE(table.tryTake(1, kT0 + absl::Milliseconds(150), stats.worker));
}

TEST(BucketTableTest, LimitedRequestsDoNotCostTokens) {
  Counted stats;
  BucketTable table(config(10, 1), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(table.tryTake(1, kT0 + absl::Milliseconds(10 * i), stats.worker));
  }
  EXPECT_TRUE(table.tryTake(1, kT0 + absl::Milliseconds(100), stats.worker));
}

TEST(BucketTableTest, RefillIsCappedAtBurst) {
  Counted stats;
  BucketTable table(config(100, 2), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  const absl::Time later = kT0 + absl::Hours(1);
  EXPECT_TRUE(table.tryTake(1, later, stats.worker));
  EXPECT_TRUE(table.tryTake(1, later, stats.worker));
  EXPECT_FALSE(table.tryTake(1, later, stats.worker));
}

TEST(BucketTableTest, ConnectionsHaveTheirOwnBuckets) {
  Counted stats;
  BucketTable table(config(1, 1), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_FALSE(table.tryTake(1, kT0, stats.worker));
  EXPECT_TRUE(table.tryTake(2, kT0, stats.worker));
  EXPECT_EQ(table.size(), 2u);
}

TEST(BucketTableTest, ClockGoingBackwardsNeitherGrantsNorDrains) {
  Counted stats;
  BucketTable table(config(1, 2), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_TRUE(table.tryTake(1, kT0 - absl::Seconds(30), stats.worker));
  EXPECT_FALSE(table.tryTake(1, kT0 - absl::Seconds(30), stats.worker));
  // Time resumes from the latest reading, not the earlier one.
  EXPECT_TRUE(table.tryTake(1, kT0 + absl::Seconds(1), stats.worker));
}

TEST(BucketTableTest, ClosedConnectionsAreSweptOnceTheirBucketsAreFull) {
  Counted stats;
  BucketTable table(config(10, 10), stats.counters);  // empty -> full in 1 s.
  for (uint64_t id = 1; id <= 100; ++id) EXPECT_TRUE(table.tryTake(id, kT0, stats.worker));
  EXPECT_EQ(table.size(), 100u);
  // Those connections closed; one new request a while later sweeps them all.
  EXPECT_TRUE(table.tryTake(1000, kT0 + absl::Seconds(2), stats.worker));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(stats.value(stats.counters.evicted_idle), 100u);
}

TEST(BucketTableTest, StillRefillingBucketsSurviveTheSweep) {
  Counted stats;
  BucketTable table(config(1, 5), stats.counters);  // empty -> full in 5 s; sweeps every 5 s.
  // The first sweep; the next is due at kT0 + 5 s.
  EXPECT_TRUE(table.tryTake(9, kT0, stats.worker));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(table.tryTake(1, kT0 + absl::Seconds(4), stats.worker));
  // Sweeps: 9 is full, 1 holds 1 of 5.
  EXPECT_TRUE(table.tryTake(2, kT0 + absl::Seconds(5), stats.worker));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(stats.value(stats.counters.evicted_idle), 1u);
  const absl::Time after = kT0 + absl::Seconds(5) + absl::Milliseconds(1);
  // The kept bucket: one token, not a fresh five.
  EXPECT_TRUE(table.tryTake(1, after, stats.worker));
  EXPECT_FALSE(table.tryTake(1, after, stats.worker));
}

TEST(BucketTableTest, FullTableDropsIdleBucketsFirst) {
  Counted stats;
  // Full again after 100 ms.
  BucketTable table(config(10, 1, /*max_connections=*/2), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_TRUE(table.tryTake(2, kT0 + absl::Milliseconds(150), stats.worker));
  // Bucket 1 is full again (idle), bucket 2 is not: 1 goes, 2 stays and keeps its state.
  EXPECT_TRUE(table.tryTake(3, kT0 + absl::Milliseconds(160), stats.worker));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(stats.value(stats.counters.evicted_idle), 1u);
  EXPECT_EQ(stats.value(stats.counters.evicted_active), 0u);
  EXPECT_FALSE(table.tryTake(2, kT0 + absl::Milliseconds(170), stats.worker));
}

TEST(BucketTableTest, FullTableOfActiveBucketsDropsTheLeastRecentlyUsed) {
  Counted stats;
  BucketTable table(config(1, 5, /*max_connections=*/2), stats.counters);
  EXPECT_TRUE(table.tryTake(1, kT0, stats.worker));
  EXPECT_TRUE(table.tryTake(2, kT0 + absl::Milliseconds(1), stats.worker));
  EXPECT_TRUE(table.tryTake(3, kT0 + absl::Milliseconds(2), stats.worker));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(stats.value(stats.counters.evicted_active), 1u);
  // Connection 2 kept its bucket (4 tokens left); 1 was dropped and starts again full (5).
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(table.tryTake(2, kT0 + absl::Milliseconds(3), stats.worker));
  }
  EXPECT_FALSE(table.tryTake(2, kT0 + absl::Milliseconds(3), stats.worker));
}

}  // namespace
}  // namespace custom_filter::rate_limit
