// registerExampleFilters: names, terminal flags and chains built from config, next to built-ins.
#include "register.h"

#include "filters/builtin_filters.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custom_filter {
namespace {

using ::testing::HasSubstr;
using mcmesh::upstream::FilterSpec;

mcmesh::FilterRegistry registryWithEverything() {
  mcmesh::FilterRegistry registry;
  mcmesh::registerBuiltinFilters(registry);
  registerExampleFilters(registry);
  return registry;
}

TEST(RegisterTest, AddsBothFiltersNextToTheBuiltIns) {
  mcmesh::FilterRegistry registry = registryWithEverything();
  EXPECT_TRUE(registry.has("rate_limit"));
  EXPECT_TRUE(registry.has("key_prefix_router"));
  EXPECT_TRUE(registry.has("ketama_router"));
}

TEST(RegisterTest, BuildsAChainWithBothFilters) {
  mcmesh::FilterRegistry registry = registryWithEverything();
  mcmesh::FilterCounterRegistry counters;  // the proxy's, where rate_limit declares its counters.
  mcmesh::FilterContext context;
  context.counters = &counters;
  auto chain = registry.buildChain(
      {FilterSpec{"stats", {}}, FilterSpec{"rate_limit", {{"rate", "100"}, {"burst", "10"}}},
       FilterSpec{"key_prefix_router", {{"prefix.users:", "127.0.0.1:11211"}}}},
      context);
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ((*chain)->names,
            (std::vector<std::string>{"stats", "rate_limit", "key_prefix_router"}));
}

TEST(RegisterTest, KeyPrefixRouterIsTerminal) {
  mcmesh::FilterRegistry registry = registryWithEverything();
  auto chain = registry.buildChain(
      {FilterSpec{"key_prefix_router", {{"prefix.users:", "127.0.0.1:11211"}}},
       FilterSpec{"ketama_router", {}}},
      mcmesh::FilterContext{});
  ASSERT_FALSE(chain.ok());
  EXPECT_THAT(chain.status().message(),
              HasSubstr("terminal filter 'key_prefix_router' must be last"));
}

TEST(RegisterTest, RateLimitIsNotTerminal) {
  mcmesh::FilterRegistry registry = registryWithEverything();
  auto chain = registry.buildChain({FilterSpec{"rate_limit", {{"rate", "1"}}}},
                                   mcmesh::FilterContext{});
  ASSERT_FALSE(chain.ok());
  EXPECT_THAT(chain.status().message(), HasSubstr("chain must end with a router"));
}

TEST(RegisterTest, BadFilterConfigNamesTheFilter) {
  mcmesh::FilterRegistry registry = registryWithEverything();
  auto chain = registry.buildChain(
      {FilterSpec{"rate_limit", {{"burst", "3"}}}, FilterSpec{"ketama_router", {}}},
      mcmesh::FilterContext{});
  ASSERT_FALSE(chain.ok());
  EXPECT_THAT(chain.status().message(), HasSubstr("filter 'rate_limit': option 'rate'"));
}

}  // namespace
}  // namespace custom_filter
