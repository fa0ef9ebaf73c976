// KeyPrefixRouterFilter against a scripted cluster (mcmesh's upstream interface): where keys go, multi-get split and merge,
// inline and late replies, down servers, flush_all, cancellation and factory errors.
#include "key_prefix_router/key_prefix_router.h"

#include <functional>
#include <map>
#include <memory>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_filter_callbacks.h"
#include "testing/fake_upstreams.h"

namespace custom_filter::key_prefix_router {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using custom_filter::testing::FakeFilterCallbacks;
using custom_filter::testing::FakeUpstreams;
using mcmesh::Command;
using mcmesh::FilterStatus;
using mcmesh::Response;
using mcmesh::ResponseType;
using mcmesh::upstream::HostConfig;

class KeyPrefixRouterTest : public ::testing::Test {
 protected:
  KeyPrefixRouterTest()
      : upstreams_("10.0.0.1:11211", "10.0.0.9:11211"), callbacks_(/*connection_id=*/42) {
    callbacks_.setCluster(&upstreams_);
    auto table = PrefixRouteTable::create({{"prefix.users:", "10.0.1.1:11211"},
                                           {"prefix.sessions:", "10.0.2.1:11211,10.0.2.2:11211"},
                                           {"prefix.users:vip:", "10.0.3.1:11211"}});
    EXPECT_TRUE(table.ok()) << table.status();
    table_ = *table;
  }

  // Runs `request` through a new filter; the filter stays alive for late replies.
  FilterStatus run(mcmesh::Request request) {
    callbacks_.request() = std::move(request);
    filter_ = std::make_unique<KeyPrefixRouterFilter>(table_);
    filter_->setCallbacks(callbacks_);
    return filter_->onRequest(callbacks_.request());
  }

  static mcmesh::Request get(std::vector<std::string> keys) {
    mcmesh::Request r;
    r.command = Command::kGet;
    r.keys = std::move(keys);
    return r;
  }

  static mcmesh::Request set(const std::string& key, const std::string& value) {
    mcmesh::Request r;
    r.command = Command::kSet;
    r.keys = {key};
    r.value = value;
    return r;
  }

  std::vector<std::string> sentTo() const {
    std::vector<std::string> out;
    for (const auto& s : upstreams_.sent) out.push_back(s.address);
    return out;
  }

  PrefixRouteTableConstSharedPtr table_;
  FakeUpstreams upstreams_;
  FakeFilterCallbacks callbacks_;
  std::unique_ptr<KeyPrefixRouterFilter> filter_;
};

TEST_F(KeyPrefixRouterTest, PrefixedKeyGoesToItsGroup) {
  EXPECT_EQ(run(set("users:1", "alice")), FilterStatus::kStopIteration);
  EXPECT_THAT(sentTo(), ElementsAre("10.0.1.1:11211"));
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.sent->type, ResponseType::kStored);
  EXPECT_EQ(upstreams_.data["10.0.1.1:11211"]["users:1"], "alice");
}

TEST_F(KeyPrefixRouterTest, LongestPrefixWins) {
  run(set("users:vip:1", "bob"));
  EXPECT_THAT(sentTo(), ElementsAre("10.0.3.1:11211"));
}

TEST_F(KeyPrefixRouterTest, UnprefixedKeyUsesTheClusterRing) {
  run(set("other:1", "x"));
  EXPECT_THAT(sentTo(), ElementsAre("10.0.0.1:11211"));
}

TEST_F(KeyPrefixRouterTest, SendsWithTheClientConnectionAsAffinity) {
  run(set("users:1", "x"));
  EXPECT_THAT(upstreams_.affinities, ElementsAre(42u));
}

TEST_F(KeyPrefixRouterTest, MultiGetIsSplitPerServerAndMergedInKeyOrder) {
  upstreams_.data["10.0.1.1:11211"] = {{"users:1", "u1"}, {"users:2", "u2"}};
  upstreams_.data["10.0.0.1:11211"] = {{"plain", "p"}};
  upstreams_.data["10.0.3.1:11211"] = {{"users:vip:1", "v1"}};
  upstreams_.reply_inline = false;
  EXPECT_EQ(run(get({"users:1", "plain", "users:vip:1", "missing", "users:2"})),
            FilterStatus::kStopIteration);
  // One sub-request per server, each with only its keys, in request order.
  ASSERT_EQ(upstreams_.sent.size(), 3u);
  EXPECT_EQ(upstreams_.sent[0].address, "10.0.1.1:11211");
  EXPECT_THAT(upstreams_.sent[0].keys, ElementsAre("users:1", "users:2"));
  EXPECT_EQ(upstreams_.sent[1].address, "10.0.0.1:11211");
  EXPECT_THAT(upstreams_.sent[1].keys, ElementsAre("plain", "missing"));
  EXPECT_EQ(upstreams_.sent[2].address, "10.0.3.1:11211");
  EXPECT_THAT(upstreams_.sent[2].keys, ElementsAre("users:vip:1"));
  EXPECT_FALSE(callbacks_.sent.has_value());
  upstreams_.replyAllInReverse();
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.responses_sent, 1);
  std::vector<std::string> keys;
  for (const auto& item : callbacks_.sent->items) keys.push_back(item.key);
  EXPECT_THAT(keys, ElementsAre("users:1", "plain", "users:vip:1", "users:2"));
}

TEST_F(KeyPrefixRouterTest, InlineRepliesCompleteTheRequestExactlyOnce) {
  upstreams_.data["10.0.1.1:11211"] = {{"users:1", "u1"}};
  upstreams_.data["10.0.0.1:11211"] = {{"plain", "p"}};
  EXPECT_EQ(run(get({"plain", "users:1"})), FilterStatus::kStopIteration);
  EXPECT_EQ(callbacks_.responses_sent, 1);
  ASSERT_EQ(callbacks_.sent->items.size(), 2u);
  EXPECT_EQ(callbacks_.sent->items[0].key, "plain");
  // Spent handles are not kept: destroying the filter cancels nothing.
  filter_->onDestroy();
  for (const auto& h : upstreams_.handles) EXPECT_FALSE(h->cancelled);
}

TEST_F(KeyPrefixRouterTest, SingleServerGetSendsTheRequestUnchanged) {
  run(get({"users:1", "users:2"}));
  ASSERT_EQ(upstreams_.sent.size(), 1u);
  EXPECT_THAT(upstreams_.sent[0].keys, ElementsAre("users:1", "users:2"));
}

TEST_F(KeyPrefixRouterTest, DownGroupServerFailsOnlyItsKeys) {
  upstreams_.down.insert("10.0.1.1:11211");
  upstreams_.data["10.0.0.1:11211"] = {{"plain", "p"}};
  run(get({"users:1", "plain"}));
  EXPECT_THAT(sentTo(), ElementsAre("10.0.0.1:11211"));
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.sent->type, ResponseType::kValues);
  ASSERT_EQ(callbacks_.sent->items.size(), 1u);
  EXPECT_THAT(callbacks_.sent->failed_keys, ElementsAre("users:1"));
}

TEST_F(KeyPrefixRouterTest, DownServerForASingleKeyIsAnUpstreamFailureNamingIt) {
  upstreams_.down.insert("10.0.1.1:11211");
  run(set("users:1", "x"));
  EXPECT_TRUE(upstreams_.sent.empty());
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.sent->type, ResponseType::kUpstreamFailure);
  EXPECT_EQ(callbacks_.sent->text, "server 10.0.1.1:11211 is down (ejected)");
}

TEST_F(KeyPrefixRouterTest, DownClusterOwnerIsNamedToo) {
  upstreams_.down.insert("10.0.0.1:11211");
  run(set("plain", "x"));
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.sent->text, "server 10.0.0.1:11211 is down (ejected)");
}

TEST_F(KeyPrefixRouterTest, FlushAllReachesEveryServerOnce) {
  mcmesh::Request flush;
  flush.command = Command::kFlushAll;
  run(flush);
  EXPECT_THAT(sentTo(), UnorderedElementsAre("10.0.0.1:11211", "10.0.0.9:11211",
                                             "10.0.1.1:11211", "10.0.2.1:11211",
                                             "10.0.2.2:11211", "10.0.3.1:11211"));
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.sent->type, ResponseType::kOk);
}

TEST_F(KeyPrefixRouterTest, DestroyCancelsRepliesStillInFlight) {
  upstreams_.reply_inline = false;
  run(get({"users:1", "plain"}));
  ASSERT_EQ(upstreams_.handles.size(), 2u);
  filter_->onDestroy();
  EXPECT_TRUE(upstreams_.handles[0]->cancelled);
  EXPECT_TRUE(upstreams_.handles[1]->cancelled);
}

TEST_F(KeyPrefixRouterTest, VersionIsAnsweredWithoutAServer) {
  mcmesh::Request version;
  version.command = Command::kVersion;
  run(version);
  EXPECT_TRUE(upstreams_.sent.empty());
  ASSERT_TRUE(callbacks_.sent.has_value());
  EXPECT_EQ(callbacks_.sent->type, ResponseType::kVersion);
}

TEST(KeyPrefixRouterFactoryTest, BadConfigIsRejected) {
  auto factory = makeKeyPrefixRouterFactory({{"prefix.users:", "nope"}}, mcmesh::FilterContext{});
  ASSERT_FALSE(factory.ok());
  EXPECT_EQ(factory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(factory.status().message(), HasSubstr("option 'prefix.users:': bad server address"));
}

TEST(KeyPrefixRouterFactoryTest, FactoryInstancesShareOneTable) {
  auto factory = makeKeyPrefixRouterFactory({{"prefix.users:", "127.0.0.1:11211"}},
                                            mcmesh::FilterContext{});
  ASSERT_TRUE(factory.ok()) << factory.status();
  EXPECT_NE((*factory)(), nullptr);
  EXPECT_NE((*factory)(), nullptr);
}

}  // namespace
}  // namespace custom_filter::key_prefix_router
