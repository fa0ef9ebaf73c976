// key_prefix_router end to end: real memcached servers behind mcmesh_custom; keys land on their
// prefix group's servers (ketama inside the group), others on the cluster's ring, and multi-gets
// spanning groups come back merged in key order.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "proxy/routing/ketama_ring.h"
#include "gtest/gtest.h"
#include "integration/custom_proxy.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace custom_filter::testing {
namespace {

using mcmesh::testing::MemcachedServer;
using mcmesh::testing::MemcachedServerPtr;
using mcmesh::testing::TextClient;

class PrefixRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 0: the cluster's own server; 1, 2: "users:"; 3: "sessions:".
    for (int i = 0; i < 4; ++i) {
      auto server = MemcachedServer::start();
      ASSERT_TRUE(server.ok()) << server.status();
      servers_.push_back(std::move(*server));
    }
    const std::string config = topologyText(
        servers_[0]->address(),
        filterText("stats", {}) +
            filterText("key_prefix_router",
                       {{"prefix.users:",
                         absl::StrCat(servers_[1]->address(), ",", servers_[2]->address())},
                        {"prefix.sessions:", servers_[3]->address()}}));
    auto proxy = startCustomProxy({"--config=" + writeTempFile("prefix.textproto", config)});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
    auto client = TextClient::connect(proxy_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  // Which of servers_ hold `key`, asking each server directly.
  std::set<int> holders(const std::string& key) {
    std::set<int> out;
    for (int i = 0; i < static_cast<int>(servers_.size()); ++i) {
      auto direct = TextClient::connect(servers_[i]->port());
      EXPECT_TRUE(direct.ok());
      auto value = (*direct)->get(key);
      EXPECT_TRUE(value.ok()) << value.status();
      if (value.ok() && value->has_value()) out.insert(i);
    }
    return out;
  }

  std::vector<MemcachedServerPtr> servers_;
  std::unique_ptr<mcmesh::testing::McmeshProcess> proxy_;
  std::unique_ptr<TextClient> client_;
};

TEST_F(PrefixRoutingTest, PrefixedKeysLandOnTheirGroupByKetama) {
  // The group's ring, built the way the cluster ring is (nutcracker ketama over host:port).
  std::vector<mcmesh::upstream::HostConfig> group;
  for (int i : {1, 2}) group.push_back(*mcmesh::upstream::parseHostAddress(servers_[i]->address()));
  auto ring = mcmesh::ketama::KetamaRing::build(mcmesh::upstream::toRingServers(group));
  ASSERT_TRUE(ring.ok()) << ring.status();
  std::map<int, int> per_server;
  for (int k = 0; k < 40; ++k) {
    const std::string key = absl::StrCat("users:", k);
    ASSERT_EQ(client_->set(key, "v").value_or(""), "STORED");
    const int expected = 1 + static_cast<int>(ring->serverIndexFor(key));
    EXPECT_EQ(holders(key), std::set<int>{expected}) << key;
    ++per_server[expected];
  }
  EXPECT_EQ(per_server.size(), 2u) << "both servers of the users: group get keys";
}

TEST_F(PrefixRoutingTest, OtherPrefixesAndUnprefixedKeysGoWhereConfigured) {
  ASSERT_EQ(client_->set("sessions:abc", "s").value_or(""), "STORED");
  ASSERT_EQ(client_->set("other:1", "o").value_or(""), "STORED");
  EXPECT_EQ(holders("sessions:abc"), std::set<int>{3});
  EXPECT_EQ(holders("other:1"), std::set<int>{0});
  // Reads come back through the same routes.
  EXPECT_EQ(client_->get("sessions:abc").value_or(std::nullopt), "s");
  EXPECT_EQ(client_->get("other:1").value_or(std::nullopt), "o");
}

TEST_F(PrefixRoutingTest, MultiGetAcrossGroupsIsMergedInKeyOrder) {
  ASSERT_EQ(client_->set("users:1", "u1").value_or(""), "STORED");
  ASSERT_EQ(client_->set("users:2", "u2").value_or(""), "STORED");
  ASSERT_EQ(client_->set("sessions:1", "s1").value_or(""), "STORED");
  ASSERT_EQ(client_->set("plain", "p").value_or(""), "STORED");
  auto reply =
      client_->roundTrip("get users:2 plain missing sessions:1 users:1\r\n", "END\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply,
            "VALUE users:2 0 2\r\nu2\r\n"
            "VALUE plain 0 1\r\np\r\n"
            "VALUE sessions:1 0 2\r\ns1\r\n"
            "VALUE users:1 0 2\r\nu1\r\n"
            "END\r\n");
}

TEST_F(PrefixRoutingTest, FlushAllReachesEveryGroup) {
  ASSERT_EQ(client_->set("users:1", "u").value_or(""), "STORED");
  ASSERT_EQ(client_->set("sessions:1", "s").value_or(""), "STORED");
  ASSERT_EQ(client_->set("plain", "p").value_or(""), "STORED");
  auto reply = client_->roundTrip("flush_all\r\n", "\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "OK\r\n");
  EXPECT_TRUE(holders("users:1").empty());
  EXPECT_TRUE(holders("sessions:1").empty());
  EXPECT_TRUE(holders("plain").empty());
}

TEST_F(PrefixRoutingTest, ADownGroupServerFailsOnlyItsKeys) {
  ASSERT_EQ(client_->set("plain", "p").value_or(""), "STORED");
  servers_[3]->kill();
  auto reply = client_->roundTrip("set sessions:1 0 0 1\r\nx\r\n", "\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(absl::StartsWith(*reply, "SERVER_ERROR")) << *reply;
  EXPECT_EQ(client_->get("plain").value_or(std::nullopt), "p");
}

}  // namespace
}  // namespace custom_filter::testing
