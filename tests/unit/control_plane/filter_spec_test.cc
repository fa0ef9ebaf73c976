// Tests parseFilterSpec/formatFilterSpec: mcmeshctl's "<name>[:<key>=<value>,...]" syntax.
#include "control_plane/filter_spec.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> options(const mcmesh::v1::FilterConfig& filter) {
  return {filter.config().begin(), filter.config().end()};
}

TEST(FilterSpecTest, BareName) {
  auto filter = parseFilterSpec("ketama_router");
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ(filter->name(), "ketama_router");
  EXPECT_TRUE(filter->config().empty());
}

TEST(FilterSpecTest, NameWithOptions) {
  auto filter = parseFilterSpec("backup_mirror:mode=sync,max_inflight=64");
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ(filter->name(), "backup_mirror");
  EXPECT_EQ(options(*filter),
            (std::map<std::string, std::string>{{"mode", "sync"}, {"max_inflight", "64"}}));
}

TEST(FilterSpecTest, ValuesMayHoldColonsAndEqualsOrBeEmpty) {
  auto filter = parseFilterSpec("key_prefix_router:route=user:=127.0.0.1:11211,tag=");
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ(filter->name(), "key_prefix_router");
  EXPECT_EQ(options(*filter),
            (std::map<std::string, std::string>{{"route", "user:=127.0.0.1:11211"}, {"tag", ""}}));
}

TEST(FilterSpecTest, DigitsAndUnderscoresAreIdentifiers) {
  EXPECT_TRUE(parseFilterSpec("rate_limit2").ok());
  EXPECT_TRUE(parseFilterSpec("_x").ok());
  EXPECT_TRUE(parseFilterSpec("9").ok());
}

TEST(FilterSpecTest, SyntaxErrorsSayWhatIsWrong) {
  struct Case {
    std::string spec;
    std::string message;
  };
  const Case cases[] = {
      {"", "filter \"\" has no name"},
      {":mode=sync", "filter \":mode=sync\" has no name"},
      {"Stats", "filter name \"Stats\" is not an identifier (want [a-z0-9_]+)"},
      {"backup-mirror", "filter name \"backup-mirror\" is not an identifier"},
      {"stats,ketama_router", "has a ','; give each filter as its own argument"},
      {"backup_mirror:", "has a ':' but no options (want key=value,...)"},
      {"backup_mirror:mode", "option \"mode\" of filter \"backup_mirror\" is not key=value"},
      {"backup_mirror:=sync", "option \"=sync\" of filter \"backup_mirror\" has no key"},
      {"backup_mirror:mode=sync,", "option \"\" of filter \"backup_mirror\" is not key=value"},
      {"backup_mirror:mode=sync,,x=1", "option \"\" of filter \"backup_mirror\" is not key=value"},
      {"backup_mirror:mode=sync,mode=async",
       "option \"mode\" of filter \"backup_mirror\" is given twice"},
  };
  for (const Case& c : cases) {
    auto filter = parseFilterSpec(c.spec);
    EXPECT_EQ(filter.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(filter.status().message(), HasSubstr(c.message)) << c.spec;
  }
}

TEST(FilterSpecTest, FormatSortsOptionsAndRoundTrips) {
  mcmesh::v1::FilterConfig filter;
  filter.set_name("backup_mirror");
  (*filter.mutable_config())["mode"] = "sync";
  (*filter.mutable_config())["max_inflight"] = "64";
  const std::string text = formatFilterSpec(filter);
  EXPECT_EQ(text, "backup_mirror:max_inflight=64,mode=sync");
  auto parsed = parseFilterSpec(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name(), "backup_mirror");
  EXPECT_EQ(options(*parsed), options(filter));

  filter.clear_config();
  EXPECT_EQ(formatFilterSpec(filter), "backup_mirror");
}

} // namespace
} // namespace control_plane
} // namespace mcmesh
