// Filter counters: a filter declares a counter once at chain build; it counts on the data path
// and shows in `stats` and /metrics; a rebuilt chain (topology push) keeps the count.
#include "proxy/filter_counters.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "filters/builtin_filters.h"
#include "gtest/gtest.h"
#include "proxy/admin/metrics.h"
#include "proxy/server.h"
#include "tests/support/harness.h"
#include "tests/support/prometheus_parser.h"

namespace mcmesh {
namespace {

TEST(FilterCounterRegistryTest, SamePairSameSlotAndClearErrors) {
  FilterCounterRegistry registry;
  auto a = registry.declare("rate_limit", "limited", "Requests refused.");
  auto b = registry.declare("rate_limit", "passed", "");
  auto again = registry.declare("rate_limit", "limited", "Requests refused.");
  ASSERT_TRUE(a.ok() && b.ok() && again.ok());
  EXPECT_NE(a->slot(), b->slot());
  EXPECT_EQ(a->slot(), again->slot());
  EXPECT_EQ(registry.entries().size(), 2u);

  auto bad = registry.declare("Rate-Limit", "x", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("[a-z0-9_]"), std::string::npos) << bad.status();
  EXPECT_FALSE(registry.declare("f", "", "").ok());

  for (size_t i = registry.entries().size(); i < kMaxFilterCounters; ++i) {
    ASSERT_TRUE(registry.declare("many", absl::StrCat("c", i), "").ok());
  }
  auto full = registry.declare("many", "one_too_many", "");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
}

// Counts every request it sees in its own counter "seen", then passes it on.
class CountingFilter : public PassThroughFilter {
 public:
  explicit CountingFilter(FilterCounter seen) : seen_(seen) {}
  FilterStatus onRequest(Request&) override {
    seen_.inc(callbacks_->cluster().counters());
    return FilterStatus::kContinue;
  }

 private:
  FilterCounter seen_;
};

TEST(FilterCountersTest, PluginCounterAppearsInStatsAndMetricsAndSurvivesRebuilds) {
  FilterRegistry registry;
  registerBuiltinFilters(registry);
  ASSERT_TRUE(registry
                  .add("counting",
                       [](const FilterConfigMap&,
                          const FilterContext& context) -> absl::StatusOr<FilterFactory> {
                         auto seen = context.counters->declare("counting", "seen",
                                                               "Requests the filter saw.");
                         if (!seen.ok()) return seen.status();
                         FilterCounter counter = *seen;
                         return FilterFactory(
                             [counter] { return std::make_unique<CountingFilter>(counter); });
                       })
                  .ok());
  Options options;
  options.port = testing::pickFreePort();
  options.concurrency = 2;
  options.rehydrate = false;
  options.connect_timeout = absl::Milliseconds(100);
  Server server(options, std::move(registry));
  ASSERT_TRUE(server.init().ok());
  std::thread loop([&server] { server.run(); });

  upstream::ClusterConfig config;
  config.name = "unit";
  config.primaries.push_back(
      *upstream::parseHostAddress(absl::StrCat("127.0.0.1:", testing::pickFreePort())));
  config.filters = {{"counting", {}}, {"stats", {}}, {"ketama_router", {}}};
  ASSERT_TRUE(server.applyClusterConfig(config).ok());

  auto send = [&](int n) {
    auto c = testing::TextClient::connect(options.port);
    ASSERT_TRUE(c.ok()) << c.status();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*c)->roundTrip(absl::StrCat("get k", i, "\r\n"), "\r\n").ok());
    }
  };
  send(3);
  config.version = 2;  // a topology push rebuilds every chain
  ASSERT_TRUE(server.applyClusterConfig(config).ok());
  send(2);

  uint64_t in_stats = 0;
  bool listed = false;
  for (const auto& [name, value] : server.report("")) {
    if (name == "counting_seen") {
      listed = true;
      in_stats = std::stoull(value);
    }
  }
  EXPECT_TRUE(listed);
  EXPECT_EQ(in_stats, 5u);
  auto metrics = testing::parsePrometheusText(admin::renderMetrics(server));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->value("mcmesh_filter_counting_seen_total"), 5);

  server.shutdown();
  loop.join();
}

}  // namespace
}  // namespace mcmesh
