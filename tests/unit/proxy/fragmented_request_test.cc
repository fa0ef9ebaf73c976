// FragmentedRequest: grouping by server, sub-requests, key-order merge and broadcast merge.
#include "proxy/fragmented_request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace {

using ::testing::ElementsAre;

mcmesh::upstream::HostConfig host(const std::string& address) {
  mcmesh::upstream::HostConfig h;
  h.address = address;
  return h;
}

Response values(std::vector<std::pair<std::string, std::string>> items) {
  Response r = Response::ofType(ResponseType::kValues);
  for (auto& [key, value] : items) {
    mcmesh::Item item;
    item.key = key;
    item.value = value;
    r.items.push_back(std::move(item));
  }
  return r;
}

std::vector<std::string> keysOf(const Response& r) {
  std::vector<std::string> keys;
  for (const auto& item : r.items) keys.push_back(item.key);
  return keys;
}

mcmesh::Request get(std::vector<std::string> keys) {
  mcmesh::Request r;
  r.command = mcmesh::Command::kGet;
  r.keys = std::move(keys);
  return r;
}

TEST(FragmentedRequestTest, KeysForOneServerShareAFragmentInRequestOrder) {
  const auto a = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  fr.addKey(0, &a, a.address);
  fr.addKey(1, &b, b.address);
  fr.addKey(2, &a, a.address);
  ASSERT_EQ(fr.fragments().size(), 2u);
  mcmesh::Request request = get({"k0", "k1", "k2"});
  EXPECT_THAT(fr.subRequest(request, 0).keys, ElementsAre("k0", "k2"));
  EXPECT_THAT(fr.subRequest(request, 1).keys, ElementsAre("k1"));
  EXPECT_EQ(fr.subRequest(request, 1).command, mcmesh::Command::kGet);
}

TEST(FragmentedRequestTest, DownServersGetTheirOwnFragment) {
  const auto a = host("a:1");
  FragmentedRequest fr;
  fr.addKey(0, &a, a.address);
  fr.addKey(1, nullptr, a.address);
  ASSERT_EQ(fr.fragments().size(), 2u);
  EXPECT_EQ(fr.fragments()[1].host, nullptr);
  EXPECT_EQ(fr.fragments()[1].address, "a:1");
}

TEST(FragmentedRequestTest, MergesHitsInKeyOrderWhateverOrderRepliesCameIn) {
  const auto a = host("a:1"), b = host("b:1"), c = host("c:1");
  FragmentedRequest fr;
  mcmesh::Request request = get({"k0", "k1", "k2", "k3", "k4"});
  fr.addKey(0, &b, b.address);
  fr.addKey(1, &a, a.address);
  fr.addKey(2, &c, c.address);
  fr.addKey(3, &a, a.address);
  fr.addKey(4, &b, b.address);
  fr.start();
  EXPECT_FALSE(fr.complete(2, values({{"k2", "v2"}})));
  EXPECT_FALSE(fr.complete(1, values({{"k1", "v1"}, {"k3", "v3"}})));
  EXPECT_TRUE(fr.complete(0, values({{"k4", "v4"}})));  // k0 missed.
  Response merged = fr.mergeRetrieval(request);
  EXPECT_EQ(merged.type, ResponseType::kValues);
  EXPECT_THAT(keysOf(merged), ElementsAre("k1", "k2", "k3", "k4"));
  EXPECT_TRUE(merged.failed_keys.empty());
}

TEST(FragmentedRequestTest, RepeatedKeysAreAnsweredEachTime) {
  const auto a = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  mcmesh::Request request = get({"x", "y", "x"});
  fr.addKey(0, &a, a.address);
  fr.addKey(1, &b, b.address);
  fr.addKey(2, &a, a.address);
  fr.start();
  fr.complete(0, values({{"x", "1"}, {"x", "1"}}));
  fr.complete(1, values({{"y", "2"}}));
  EXPECT_THAT(keysOf(fr.mergeRetrieval(request)), ElementsAre("x", "y", "x"));
}

TEST(FragmentedRequestTest, FailedFragmentsReadAsMissesAndAreListed) {
  const auto a = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  mcmesh::Request request = get({"k0", "k1", "k2"});
  fr.addKey(0, &a, a.address);
  fr.addKey(1, &b, b.address);
  fr.addKey(2, &a, a.address);
  fr.start();
  fr.complete(0, Response::upstreamFailure("timeout"));
  fr.complete(1, values({{"k1", "v1"}}));
  Response merged = fr.mergeRetrieval(request);
  EXPECT_EQ(merged.type, ResponseType::kValues);
  EXPECT_THAT(keysOf(merged), ElementsAre("k1"));
  EXPECT_THAT(merged.failed_keys, ElementsAre("k0", "k2"));
}

TEST(FragmentedRequestTest, AllFragmentsFailedIsAnUpstreamFailure) {
  const auto a = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  mcmesh::Request request = get({"k0", "k1"});
  fr.addKey(0, &a, a.address);
  fr.addKey(1, &b, b.address);
  fr.start();
  fr.complete(0, Response::upstreamFailure("server a:1 is down (ejected)"));
  fr.complete(1, Response::upstreamFailure("timeout"));
  Response merged = fr.mergeRetrieval(request);
  EXPECT_EQ(merged.type, ResponseType::kUpstreamFailure);
  EXPECT_EQ(merged.text, "server a:1 is down (ejected)");
  EXPECT_THAT(merged.failed_keys, ElementsAre("k0", "k1"));
}

TEST(FragmentedRequestTest, ACompletedFragmentCannotCompleteTwice) {
  const auto a = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  fr.addKey(0, &a, a.address);
  fr.addKey(1, &b, b.address);
  fr.start();
  EXPECT_FALSE(fr.complete(0, values({})));
  EXPECT_FALSE(fr.complete(0, values({})));
  EXPECT_EQ(fr.outstanding(), 1u);
  EXPECT_TRUE(fr.complete(1, values({})));
}

TEST(FragmentedRequestTest, BroadcastAddsEachServerOnceAndMergesOk) {
  const auto a = host("a:1"), a_again = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  fr.addHost(a);
  fr.addHost(b);
  fr.addHost(a_again);
  ASSERT_EQ(fr.fragments().size(), 2u);
  fr.start();
  fr.complete(0, Response::ofType(ResponseType::kOk));
  fr.complete(1, Response::ofType(ResponseType::kOk));
  EXPECT_EQ(fr.mergeBroadcast().type, ResponseType::kOk);
}

TEST(FragmentedRequestTest, BroadcastFailureNamesTheServer) {
  const auto a = host("a:1"), b = host("b:1");
  FragmentedRequest fr;
  fr.addHost(a);
  fr.addHost(b);
  fr.start();
  fr.complete(0, Response::ofType(ResponseType::kOk));
  fr.complete(1, Response::upstreamFailure("connection refused"));
  Response merged = fr.mergeBroadcast();
  EXPECT_EQ(merged.type, ResponseType::kServerError);
  EXPECT_EQ(merged.text, "failed on 1 of 2 servers (b:1: connection refused)");
}

}  // namespace
}  // namespace mcmesh
