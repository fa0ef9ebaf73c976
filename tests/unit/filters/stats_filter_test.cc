// StatsFilter through the filter API with the cluster faked: it counts every command in the
// worker's counters, passes keyed requests on, and answers `stats` from the reporter.
#include "filters/stats/stats_filter.h"

#include "gtest/gtest.h"
#include "tests/unit/filters/fake_callbacks.h"
#include "tests/unit/replication/sim_upstreams.h"
#include "tests/unit/replication/world.h"

namespace mcmesh::testing {
namespace {

TEST(StatsFilterTest, CountsCommandsAndAnswersStatsFromTheReporter) {
  SimNetwork net(absl::FromUnixSeconds(1700000000));
  SimUpstreams cluster(net, 0, makeSnapshot(ClusterSpec{}, nullptr, net.now(), false));
  FilterContext context;
  context.stats_reporter = [](absl::string_view args) {
    return StatLines{{"args", std::string(args)}, {"answer", "42"}};
  };
  auto factory = stats::makeStatsFactory({}, context);
  ASSERT_TRUE(factory.ok()) << factory.status();

  for (Command command : {Command::kGet, Command::kGet, Command::kSet}) {
    FakeCallbacks callbacks(cluster);
    FilterPtr filter = (*factory)();
    filter->setCallbacks(callbacks);
    callbacks.request().command = command;
    EXPECT_EQ(filter->onRequest(callbacks.request()), FilterStatus::kContinue);
    EXPECT_FALSE(callbacks.sent.has_value());
  }
  EXPECT_EQ(cluster.counters().commands[static_cast<size_t>(Command::kGet)].value(), 2u);
  EXPECT_EQ(cluster.counters().commands[static_cast<size_t>(Command::kSet)].value(), 1u);

  FakeCallbacks callbacks(cluster);
  FilterPtr filter = (*factory)();
  filter->setCallbacks(callbacks);
  callbacks.request().command = Command::kStats;
  callbacks.request().args = "proxy";
  EXPECT_EQ(filter->onRequest(callbacks.request()), FilterStatus::kStopIteration);
  ASSERT_TRUE(callbacks.sent.has_value());
  EXPECT_EQ(callbacks.sent->type, ResponseType::kStats);
  ASSERT_EQ(callbacks.sent->stats.size(), 2u);
  EXPECT_EQ(callbacks.sent->stats[0].second, "proxy");
  EXPECT_TRUE(net.idle());  // stats never reach a server
}

// memcached answers a group it does not know with ERROR; the reporter says so with no lines.
TEST(StatsFilterTest, AnUnknownGroupIsAnErrorAndPlainStatsIsNot) {
  SimNetwork net(absl::FromUnixSeconds(1700000000));
  SimUpstreams cluster(net, 0, makeSnapshot(ClusterSpec{}, nullptr, net.now(), false));
  FilterContext context;
  context.stats_reporter = [](absl::string_view args) {
    return args == "nosuchgroup" || args.empty() ? StatLines{} : StatLines{{"known", "1"}};
  };
  auto factory = stats::makeStatsFactory({}, context);
  ASSERT_TRUE(factory.ok()) << factory.status();
  auto answer = [&](const std::string& args) {
    FakeCallbacks callbacks(cluster);
    FilterPtr filter = (*factory)();
    filter->setCallbacks(callbacks);
    callbacks.request().command = Command::kStats;
    callbacks.request().args = args;
    EXPECT_EQ(filter->onRequest(callbacks.request()), FilterStatus::kStopIteration);
    EXPECT_TRUE(callbacks.sent.has_value());
    return callbacks.sent.value_or(Response::serverError("no reply")).type;
  };
  EXPECT_EQ(answer("nosuchgroup"), ResponseType::kError);
  EXPECT_EQ(answer(""), ResponseType::kStats);  // an empty list, then END
  EXPECT_EQ(answer("proxy"), ResponseType::kStats);
  EXPECT_TRUE(net.idle());
}

TEST(StatsFilterTest, OptionsAreRefused) {
  FilterContext context;
  auto factory = stats::makeStatsFactory({{"bogus", "1"}}, context);
  ASSERT_FALSE(factory.ok());
  EXPECT_NE(factory.status().message().find("bogus"), std::string::npos) << factory.status();
}

}  // namespace
}  // namespace mcmesh::testing
