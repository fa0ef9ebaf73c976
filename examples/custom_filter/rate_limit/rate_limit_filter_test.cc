// RateLimitFilter: continue within the burst, local SERVER_ERROR beyond it, per-connection
// buckets, per-chain state, `stats rate_limit`, and factory errors.
#include "rate_limit/rate_limit_filter.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_filter_callbacks.h"

namespace custom_filter::rate_limit {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using custom_filter::testing::FakeFilterCallbacks;
using mcmesh::FilterStatus;

mcmesh::FilterFactory factoryOf(const mcmesh::FilterConfigMap& config) {
  mcmesh::FilterContext context;
  context.workers = 2;
  auto factory = makeRateLimitFactory(config, context);
  EXPECT_TRUE(factory.ok()) << factory.status();
  return *factory;
}

// Runs one request through a fresh filter instance, as the chain does for every request.
FilterStatus runOne(const mcmesh::FilterFactory& factory, FakeFilterCallbacks& callbacks,
                    mcmesh::Command command = mcmesh::Command::kGet) {
  mcmesh::FilterPtr filter = factory();
  filter->setCallbacks(callbacks);
  callbacks.request().command = command;
  callbacks.request().keys = {"k"};
  FilterStatus status = filter->onRequest(callbacks.request());
  filter->onDestroy();
  return status;
}

// rate=1/s: within a test's few milliseconds the bucket does not refill a whole token.
TEST(RateLimitFilterTest, ContinuesWithinTheBurstAndAnswersLocallyBeyondIt) {
  mcmesh::FilterFactory factory = factoryOf({{"rate", "1"}, {"burst", "3"}});
  FakeFilterCallbacks callbacks;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kContinue);
  EXPECT_EQ(callbacks.responses_sent, 0);
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kStopIteration);
  ASSERT_TRUE(callbacks.sent.has_value());
  EXPECT_EQ(callbacks.sent->type, mcmesh::ResponseType::kServerError);
  EXPECT_EQ(callbacks.sent->text, "rate limited");
}

TEST(RateLimitFilterTest, EachConnectionHasItsOwnBucket) {
  mcmesh::FilterFactory factory = factoryOf({{"rate", "1"}, {"burst", "1"}});
  FakeFilterCallbacks first(/*connection_id=*/7);
  FakeFilterCallbacks second(/*connection_id=*/8);
  EXPECT_EQ(runOne(factory, first), FilterStatus::kContinue);
  EXPECT_EQ(runOne(factory, first), FilterStatus::kStopIteration);
  EXPECT_EQ(runOne(factory, second), FilterStatus::kContinue);
}

TEST(RateLimitFilterTest, TwoChainsDoNotShareBuckets) {
  mcmesh::FilterFactory old_chain = factoryOf({{"rate", "1"}, {"burst", "1"}});
  mcmesh::FilterFactory new_chain = factoryOf({{"rate", "1"}, {"burst", "1"}});
  FakeFilterCallbacks callbacks;
  EXPECT_EQ(runOne(old_chain, callbacks), FilterStatus::kContinue);
  EXPECT_EQ(runOne(old_chain, callbacks), FilterStatus::kStopIteration);
  EXPECT_EQ(runOne(new_chain, callbacks), FilterStatus::kContinue);
}

TEST(RateLimitFilterTest, EachWorkerHasItsOwnBuckets) {
  // Connection ids are per worker, so the same id on two workers is two different clients.
  mcmesh::FilterFactory factory = factoryOf({{"rate", "1"}, {"burst", "1"}});
  FakeFilterCallbacks callbacks;
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kContinue);
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kStopIteration);  // worker 0: limited
  FakeFilterCallbacks other;
  other.setWorkerIndex(1);
  EXPECT_EQ(runOne(factory, other), FilterStatus::kContinue);  // same id on worker 1: its own
}

TEST(RateLimitFilterTest, StatsRateLimitIsAnsweredAndNotLimited) {
  mcmesh::FilterFactory factory = factoryOf({{"rate", "1"}, {"burst", "1"}});
  FakeFilterCallbacks callbacks;
  runOne(factory, callbacks);
  runOne(factory, callbacks);  // limited.
  callbacks.request().args = "rate_limit";
  EXPECT_EQ(runOne(factory, callbacks, mcmesh::Command::kStats), FilterStatus::kStopIteration);
  ASSERT_TRUE(callbacks.sent.has_value());
  EXPECT_EQ(callbacks.sent->type, mcmesh::ResponseType::kStats);
  EXPECT_THAT(callbacks.sent->stats, ::testing::Contains(Pair("rate_limit_allowed", "1")));
  EXPECT_THAT(callbacks.sent->stats, ::testing::Contains(Pair("rate_limit_limited", "1")));
  EXPECT_THAT(callbacks.sent->stats,
              ::testing::Contains(Pair("rate_limit_tracked_connections", "1")));
}

TEST(RateLimitFilterTest, OtherStatsCommandsPassUnlimitedAndFree) {
  mcmesh::FilterFactory factory = factoryOf({{"rate", "1"}, {"burst", "1"}});
  FakeFilterCallbacks callbacks;
  callbacks.request().args = "proxy";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(runOne(factory, callbacks, mcmesh::Command::kStats), FilterStatus::kContinue);
  }
  EXPECT_EQ(callbacks.responses_sent, 0);
  // They cost no token: the connection still has its one request.
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kContinue);
}

TEST(RateLimitFilterTest, BadConfigIsRejectedByTheFactory) {
  auto factory = makeRateLimitFactory({{"rate", "-3"}}, mcmesh::FilterContext{});
  ASSERT_FALSE(factory.ok());
  EXPECT_EQ(factory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(factory.status().message(), HasSubstr("option 'rate' must be a non-negative"));
}

}  // namespace
}  // namespace custom_filter::rate_limit
