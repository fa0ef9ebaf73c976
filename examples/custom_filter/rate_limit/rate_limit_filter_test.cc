// RateLimitFilter: continue within the burst, local SERVER_ERROR beyond it, per-connection
// buckets, per-chain state, its counters (declared with mcmesh, counted per worker), and factory
// errors.
#include "rate_limit/rate_limit_filter.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_filter_callbacks.h"
#include "testing/fake_upstreams.h"

namespace custom_filter::rate_limit {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using custom_filter::testing::FakeFilterCallbacks;
using custom_filter::testing::FakeUpstreams;
using mcmesh::FilterStatus;

// Where the proxy keeps declared counters (one per process) and a worker's cluster to count into.
mcmesh::FilterCounterRegistry& registry() {
  static auto* registry = new mcmesh::FilterCounterRegistry();
  return *registry;
}
FakeUpstreams& cluster() {
  static auto* cluster = new FakeUpstreams("10.0.0.1:11211", "10.0.0.9:11211");
  return *cluster;
}
uint64_t counted(absl::string_view name) {
  std::vector<mcmesh::FilterCounterRegistry::Entry> entries = registry().entries();
  for (size_t slot = 0; slot < entries.size(); ++slot) {
    if (entries[slot].filter == "rate_limit" && entries[slot].name == name) {
      return cluster().counters().filter[slot].value();
    }
  }
  ADD_FAILURE() << "rate_limit_" << name << " was not declared";
  return 0;
}

mcmesh::FilterFactory factoryOf(const mcmesh::FilterConfigMap& config) {
  mcmesh::FilterContext context;
  context.workers = 2;
  context.counters = &registry();
  auto factory = makeRateLimitFactory(config, context);
  EXPECT_TRUE(factory.ok()) << factory.status();
  return *factory;
}

// Runs one request through a fresh filter instance, as the chain does for every request.
FilterStatus runOne(const mcmesh::FilterFactory& factory, FakeFilterCallbacks& callbacks,
                    mcmesh::Command command = mcmesh::Command::kGet) {
  mcmesh::FilterPtr filter = factory();
  callbacks.setCluster(&cluster());
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

// The counters are mcmesh's declared filter counters: what `stats` (rate_limit_allowed, ...) and
// /metrics (mcmesh_filter_rate_limit_allowed_total, ...) show, summed over workers.
TEST(RateLimitFilterTest, CountsIntoTheDeclaredCounters) {
  mcmesh::FilterFactory factory = factoryOf({{"rate", "1"}, {"burst", "1"}});
  const uint64_t allowed = counted("allowed"), limited = counted("limited");
  FakeFilterCallbacks callbacks(/*connection_id=*/99);
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kContinue);
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kStopIteration);
  EXPECT_EQ(runOne(factory, callbacks), FilterStatus::kStopIteration);
  EXPECT_EQ(counted("allowed") - allowed, 1u);
  EXPECT_EQ(counted("limited") - limited, 2u);
  // A rebuilt chain (a topology push) declares the same names and gets the same slots.
  const size_t declared = registry().entries().size();
  factoryOf({{"rate", "5"}});
  EXPECT_EQ(registry().entries().size(), declared);
}

TEST(RateLimitFilterTest, AFactoryWithoutACounterRegistryIsRefused) {
  mcmesh::FilterContext context;
  auto factory = makeRateLimitFactory({{"rate", "1"}}, context);
  ASSERT_FALSE(factory.ok());
  EXPECT_THAT(factory.status().message(), HasSubstr("counter registry"));
}

TEST(RateLimitFilterTest, StatsCommandsPassUnlimitedAndFree) {
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
