// rate_limit end to end: mcmesh_custom in front of a real memcached answers
// "SERVER_ERROR rate limited" beyond a connection's burst, without reaching the server; other
// connections keep their own budget, and the bucket refills.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "integration/custom_proxy.h"
#include "tests/support/http_client.h"

namespace custom_filter::testing {
namespace {

using mcmesh::testing::MemcachedServer;
using mcmesh::testing::MemcachedServerPtr;
using mcmesh::testing::TextClient;

constexpr int kBurst = 5;

class RateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = MemcachedServer::start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    // rate=1/s: a test's quick requests never earn a whole extra token.
    const std::string config = topologyText(
        server_->address(),
        filterText("rate_limit", {{"rate", "1"}, {"burst", absl::StrCat(kBurst)}}) +
            filterText("stats", {}) +
            filterText("ketama_router", {}));
    const std::string config_path = writeTempFile("rate.textproto", config);
    // pickFreePort races with other tests: a taken admin port makes mcmesh exit 1; try again.
    for (int attempt = 0; attempt < 3 && proxy_ == nullptr; ++attempt) {
      const int admin_port = mcmesh::testing::pickFreePort();
      auto proxy = startCustomProxy(
          {"--config=" + config_path, absl::StrCat("--admin_port=", admin_port)});
      ASSERT_TRUE(proxy.ok()) << proxy.status();
      if (mcmesh::testing::waitForPort(admin_port, absl::Seconds(5)) &&
          (*proxy)->process().running()) {
        proxy_ = std::move(*proxy);
        admin_port_ = admin_port;
      }
    }
    ASSERT_NE(proxy_, nullptr) << "mcmesh_custom did not serve its admin port";
  }

  std::unique_ptr<TextClient> connect() {
    auto client = TextClient::connect(proxy_->port());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  MemcachedServerPtr server_;
  std::unique_ptr<mcmesh::testing::McmeshProcess> proxy_;
  int admin_port_ = 0;
};

TEST_F(RateLimitTest, AnswersRateLimitedBeyondTheBurst) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < kBurst; ++i) {
    EXPECT_EQ(client->set(absl::StrCat("k", i), "v").value_or(""), "STORED") << i;
  }
  auto reply = client->roundTrip("set over 0 0 1\r\nv\r\n", "\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "SERVER_ERROR rate limited\r\n");
  // Answered by the proxy: the server never saw the write.
  auto direct = TextClient::connect(server_->port());
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ((*direct)->get("over").value_or(std::optional<std::string>("?")), std::nullopt);
  EXPECT_EQ((*direct)->get("k0").value_or(std::nullopt), "v");
}

TEST_F(RateLimitTest, ReadsAreLimitedToo) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < kBurst; ++i) ASSERT_TRUE(client->get("k").ok());
  auto reply = client->roundTrip("get k\r\n", "\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "SERVER_ERROR rate limited\r\n");
}

TEST_F(RateLimitTest, EachConnectionHasItsOwnBudget) {
  auto greedy = connect();
  auto polite = connect();
  ASSERT_TRUE(greedy && polite);
  for (int i = 0; i < kBurst; ++i) ASSERT_EQ(greedy->set("g", "v").value_or(""), "STORED");
  EXPECT_EQ(greedy->roundTrip("set g 0 0 1\r\nv\r\n", "\r\n").value_or(""),
            "SERVER_ERROR rate limited\r\n");
  EXPECT_EQ(polite->set("p", "v").value_or(""), "STORED");
}

TEST_F(RateLimitTest, TheBucketRefillsAtTheRate) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < kBurst; ++i) ASSERT_EQ(client->set("k", "v").value_or(""), "STORED");
  // One token per second: poll (each limited attempt costs nothing) until one is earned.
  const absl::Time start = absl::Now();
  std::string reply;
  while (absl::Now() - start < absl::Seconds(3)) {
    reply = client->roundTrip("set k 0 0 1\r\nv\r\n", "\r\n").value_or("error");
    if (reply != "SERVER_ERROR rate limited\r\n") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(reply, "STORED\r\n");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(500));
}

// The plugin's counters are declared with mcmesh: `stats` and /metrics show them like the
// proxy's own, and `stats` commands are never limited.
TEST_F(RateLimitTest, ItsCountersAreInStatsAndMetrics) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < kBurst + 2; ++i) ASSERT_TRUE(client->roundTrip("get k\r\n", "\r\n").ok());
  EXPECT_NE(statValue(*client, "proxy", "pid"), "");
  EXPECT_EQ(statValue(*client, "", "rate_limit_allowed"), absl::StrCat(kBurst));
  EXPECT_EQ(statValue(*client, "", "rate_limit_limited"), "2");
  EXPECT_EQ(statValue(*client, "", "rate_limit_evicted_active"), "0");
  auto metrics = mcmesh::testing::httpRequest(admin_port_, "GET", "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->body.find(absl::StrCat("\nmcmesh_filter_rate_limit_allowed_total ", kBurst,
                                            "\n")),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("\nmcmesh_filter_rate_limit_limited_total 2\n"), std::string::npos);
}

}  // namespace
}  // namespace custom_filter::testing
