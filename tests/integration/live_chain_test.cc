// End-to-end `mcmeshctl set-filters`: a pushed chain goes live, an unbuildable one is NACKed.
// The proxy applies the new chain on the connections it already has, and after the NACK its last
// good chain keeps serving those same connections.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

constexpr char kProxyId[] = "live-chain-test";

class LiveChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&primary_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    auto cp = ControlPlaneProcess::start(testTempPath("live-chain-topology.pb"));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    // --mirror=none: the default chain's backup_mirror copies nothing, so a write that shows up
    // on the backup proves a pushed backup_mirror:mode=sync is the chain in effect.
    ASSERT_EQ(cp_->ctl({"create-cluster", "default", primary_->address(),
                        "--backup=" + backup_->address(), "--mirror=none"}),
              0);
    auto proxy = McmeshProcess::start({absl::StrCat("--control_plane=127.0.0.1:", cp_->port()),
                                       "--cluster=default", "--proxy_id=" + std::string(kProxyId),
                                       "--concurrency=1"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }

  static std::string stat(TextClient& c, const std::string& group, const std::string& name) {
    auto stats = c.roundTrip(absl::StrCat("stats ", group, "\r\n"), "END\r\n");
    if (!stats.ok()) return "";
    const std::string prefix = absl::StrCat("STAT ", name, " ");
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      if (absl::StartsWith(line, prefix)) return std::string(line.substr(prefix.size()));
    }
    return "";
  }

  static uint64_t version(TextClient& c) {
    uint64_t v = 0;
    (void)absl::SimpleAtoi(stat(c, "proxy", "topology_version"), &v);
    return v;
  }

  // Polls `stats proxy` on the client's own connection until the proxy applied `want`.
  static bool awaitVersion(TextClient& c, uint64_t want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (version(c) < want && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    return version(c) >= want;
  }

  // `mcmeshctl --json proxies`, as an operator would run it.
  std::string proxiesJson() {
    const std::string out = testTempPath("proxies.json");
    auto sh = ChildProcess::start(
        {"/bin/sh", "-c",
         absl::StrCat(runfilePath("control_plane/mcmeshctl"), " --control_plane=127.0.0.1:",
                      cp_->port(), " --json proxies > ", out)});
    if (!sh.ok()) return "";
    if ((*sh)->waitForExit(absl::Seconds(15)) != 0) return "";
    std::ifstream in(out);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // Waits until the control plane records a NACK of `version` from this test's proxy.
  std::string awaitNack(uint64_t version) {
    const std::string wanted = absl::StrCat("\"last_nack_version\":\"", version, "\"");
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    std::string json;
    while (absl::Now() < deadline) {
      json = proxiesJson();
      if (absl::StrContains(json, kProxyId) && absl::StrContains(json, wanted)) return json;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "no NACK of version " << version << " in: " << json;
    return json;
  }

  // Whether `key` is on the backup memcached, asked directly (not through the proxy).
  std::string onBackup(const std::string& key) {
    auto direct = TextClient::connect(backup_->port());
    if (!direct.ok()) return "<no connection>";
    auto value = (*direct)->get(key);
    if (!value.ok()) return "<error>";
    return value->value_or("<miss>");
  }

  MemcachedServerPtr primary_;
  MemcachedServerPtr backup_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::unique_ptr<McmeshProcess> proxy_;
};

TEST_F(LiveChainTest, PushedChainAppliesLiveAndABadOneIsNackedWhileTheOldOneServes) {
  auto connected = TextClient::connect(proxy_->port());
  ASSERT_TRUE(connected.ok()) << connected.status();
  TextClient& client = **connected;
  ASSERT_TRUE(awaitVersion(client, 1));
  ASSERT_EQ(client.set("before", "1").value_or(""), "STORED");
  EXPECT_EQ(onBackup("before"), "<miss>") << "--mirror=none must not mirror";
  const std::string connections = stat(client, "proxy", "total_connections");

  // A good chain: applied live, on this same connection.
  ASSERT_EQ(cp_->ctl({"set-filters", "default", "stats", "failover_reader",
                      "backup_mirror:mode=sync", "ketama_router"}),
            0);
  ASSERT_TRUE(awaitVersion(client, 2)) << "version " << version(client);
  ASSERT_EQ(client.set("after", "2").value_or(""), "STORED");
  // Sync mirroring answers only after the backup stored the copy: it is there already.
  EXPECT_EQ(onBackup("after"), "2");
  EXPECT_EQ(stat(client, "proxy", "mirror_sent"), "1");
  EXPECT_EQ(client.get("before").value_or(std::nullopt).value_or("<miss>"), "1");

  // A chain naming a filter the proxy does not have: NACKed with the registry's reason.
  ASSERT_EQ(cp_->ctl({"set-filters", "default", "stats", "nope", "ketama_router"}), 0);
  const std::string json = awaitNack(3);
  EXPECT_TRUE(absl::StrContains(json, "unknown filter 'nope'")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"applied_version\":\"2\"")) << json;

  // The proxy stays on version 2, and the same connection is still served by its chain.
  EXPECT_EQ(version(client), 2u);
  ASSERT_EQ(client.set("still", "3").value_or(""), "STORED");
  EXPECT_EQ(onBackup("still"), "3");
  EXPECT_EQ(client.get("after").value_or(std::nullopt).value_or("<miss>"), "2");
  EXPECT_EQ(stat(client, "proxy", "total_connections"), connections)
      << "the client must not have needed a new connection";
}

}  // namespace
}  // namespace mcmesh::testing
