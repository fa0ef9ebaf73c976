// A topology push that changes only hosts or weights keeps the filter chain (and so filters'
// state); a change to the filters or the cluster-wide settings builds a new one.
#include <atomic>

#include "absl/strings/str_cat.h"
#include "filters/builtin_filters.h"
#include "gtest/gtest.h"
#include "proxy/server.h"

namespace mcmesh {
namespace {

TEST(ChainRebuildTest, OnlyFilterOrSettingChangesBuildANewChain) {
  auto builds = std::make_shared<std::atomic<int>>(0);
  FilterRegistry registry;
  registerBuiltinFilters(registry);
  ASSERT_TRUE(registry
                  .add("probe",
                       [builds](const FilterConfigMap&,
                                const FilterContext&) -> absl::StatusOr<FilterFactory> {
                         builds->fetch_add(1);
                         return FilterFactory([] { return std::make_unique<PassThroughFilter>(); });
                       })
                  .ok());
  Options options;
  options.port = 0;  // no client listener
  options.concurrency = 1;
  options.rehydrate = false;
  Server server(options, std::move(registry));
  ASSERT_TRUE(server.init().ok());

  upstream::ClusterConfig config;
  config.version = 1;
  config.primaries.push_back(*upstream::parseHostAddress("127.0.0.1:1"));
  config.filters = {{"probe", {}}, {"ketama_router", {}}};
  ASSERT_TRUE(server.applyClusterConfig(config).ok());
  EXPECT_EQ(builds->load(), 1);

  config.version = 2;  // a weight change and a new node: same chain
  config.primaries[0].weight = 5;
  config.primaries.push_back(*upstream::parseHostAddress("127.0.0.1:2"));
  ASSERT_TRUE(server.applyClusterConfig(config).ok());
  EXPECT_EQ(builds->load(), 1);
  EXPECT_EQ(server.chainBuilds(), 1u);

  config.version = 3;  // a filter option: new chain
  config.filters[0].config["limit"] = "10";
  ASSERT_TRUE(server.applyClusterConfig(config).ok());
  EXPECT_EQ(builds->load(), 2);

  config.version = 4;  // a cluster-wide setting the builders may read: new chain
  config.miss_failover = !config.miss_failover;
  ASSERT_TRUE(server.applyClusterConfig(config).ok());
  EXPECT_EQ(builds->load(), 3);
  EXPECT_EQ(server.chainBuilds(), 3u);
}

}  // namespace
}  // namespace mcmesh
