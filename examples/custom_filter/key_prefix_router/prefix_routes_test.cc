// PrefixRouteTable: longest-prefix lookup, ketama inside a group, server lists and config errors.
#include "key_prefix_router/prefix_routes.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custom_filter::key_prefix_router {
namespace {

using ::testing::HasSubstr;

PrefixRouteTableConstSharedPtr tableOf(const mcmesh::FilterConfigMap& config) {
  auto table = PrefixRouteTable::create(config);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : nullptr;
}

std::string errorOf(const mcmesh::FilterConfigMap& config) {
  auto table = PrefixRouteTable::create(config);
  EXPECT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(table.status().message());
}

TEST(PrefixRouteTableTest, LongestPrefixWins) {
  auto table = tableOf({{"prefix.user:", "10.0.0.1:11211"},
                        {"prefix.user:vip:", "10.0.0.2:11211"},
                        {"prefix.u", "10.0.0.3:11211"}});
  ASSERT_NE(table->groupFor("user:vip:7"), nullptr);
  EXPECT_EQ(table->groupFor("user:vip:7")->prefix, "user:vip:");
  EXPECT_EQ(table->groupFor("user:7")->prefix, "user:");
  EXPECT_EQ(table->groupFor("uxyz")->prefix, "u");
  EXPECT_EQ(table->groupFor("session:1"), nullptr);
  EXPECT_EQ(table->groupFor(""), nullptr);
  // The prefix itself is a key of its group.
  EXPECT_EQ(table->groupFor("user:")->prefix, "user:");
}

TEST(PrefixRouteTableTest, KeysInAGroupFollowThatGroupsKetamaRing) {
  auto table = tableOf({{"prefix.users:", "127.0.0.1:11211,127.0.0.1:11212,127.0.0.1:11213"}});
  const PrefixGroup* group = table->groupFor("users:1");
  ASSERT_NE(group, nullptr);
  ASSERT_EQ(group->hosts.size(), 3u);
  // Same continuum as nutcracker would build for these servers (the cluster ring's code).
  auto ring = mcmesh::ketama::KetamaRing::build(mcmesh::upstream::toRingServers(group->hosts));
  ASSERT_TRUE(ring.ok());
  std::map<std::string, int> per_host;
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("users:", i);
    const mcmesh::upstream::HostConfig& host = table->hostFor(*group, key);
    EXPECT_EQ(host.address, group->hosts[ring->serverIndexFor(key)].address);
    ++per_host[host.address];
  }
  EXPECT_EQ(per_host.size(), 3u);  // all three servers get keys.
}

TEST(PrefixRouteTableTest, ParsesWeightsAndWhitespace) {
  auto hosts = parseServerList(" 127.0.0.1:11211:3 , [::1]:11212:2,127.0.0.1:11213 ,");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 3u);
  EXPECT_EQ((*hosts)[0].address, "127.0.0.1:11211");
  EXPECT_EQ((*hosts)[0].weight, 3u);
  EXPECT_EQ((*hosts)[1].address, "[::1]:11212");
  EXPECT_EQ((*hosts)[1].host, "::1");
  EXPECT_EQ((*hosts)[1].weight, 2u);
  EXPECT_EQ((*hosts)[2].port, 11213);
  EXPECT_EQ((*hosts)[2].weight, 1u);
}

TEST(PrefixRouteTableTest, RejectsUnknownOptions) {
  EXPECT_THAT(errorOf({{"prefix.a:", "127.0.0.1:1"}, {"users:", "127.0.0.1:2"}}),
              HasSubstr("unknown option 'users:' (expected 'prefix.<key prefix>'"));
}

TEST(PrefixRouteTableTest, RejectsAConfigWithoutPrefixes) {
  EXPECT_THAT(errorOf({}), HasSubstr("needs at least one 'prefix.<key prefix>'"));
}

TEST(PrefixRouteTableTest, RejectsEmptyAndUnmatchablePrefixes) {
  EXPECT_THAT(errorOf({{"prefix.", "127.0.0.1:1"}}), HasSubstr("empty prefix"));
  EXPECT_THAT(errorOf({{"prefix.a b", "127.0.0.1:1"}}),
              HasSubstr("option 'prefix.a b': a key prefix cannot contain spaces"));
}

TEST(PrefixRouteTableTest, RejectsBadServerLists) {
  EXPECT_THAT(errorOf({{"prefix.a:", ""}}), HasSubstr("option 'prefix.a:': empty server list"));
  EXPECT_THAT(errorOf({{"prefix.a:", "localhost"}}),
              HasSubstr("option 'prefix.a:': bad server address 'localhost'"));
  EXPECT_THAT(errorOf({{"prefix.a:", "127.0.0.1:99999"}}), HasSubstr("port must be 1..65535"));
  EXPECT_THAT(errorOf({{"prefix.a:", "127.0.0.1:1:0"}}), HasSubstr("bad weight"));
  EXPECT_THAT(errorOf({{"prefix.a:", "127.0.0.1:1,127.0.0.1:1"}}),
              HasSubstr("server '127.0.0.1:1' listed twice"));
}

}  // namespace
}  // namespace custom_filter::key_prefix_router
