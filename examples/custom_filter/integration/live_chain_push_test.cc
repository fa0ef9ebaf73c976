// A chain pushed live through the control plane: adding rate_limit to a running cluster takes
// effect on connections opened before the push (no reconnect), and a chain the proxy cannot
// build is NACKed while the old chain keeps serving. The control plane runs in-process (the
// mcmesh_cp services over a memory store) so the test needs no extra binaries; the same change
// from a shell is `mcmeshctl set-filters` (see //tests/integration:live_chain_test).
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "control_plane/server.h"
#include "control_plane/topology_service.h"
#include "gtest/gtest.h"
#include "integration/custom_proxy.h"

namespace custom_filter::testing {
namespace {

using mcmesh::control_plane::ControlPlaneServer;
using mcmesh::control_plane::TopologyService;
using mcmesh::testing::MemcachedServer;
using mcmesh::testing::MemcachedServerPtr;
using mcmesh::testing::TextClient;

class MemoryStore : public mcmesh::control_plane::TopologyStore {
 public:
  absl::StatusOr<mcmesh::v1::Topology> load() override {
    if (!saved_) return absl::NotFoundError("nothing saved");
    return topology_;
  }
  absl::Status save(const mcmesh::v1::Topology& topology) override {
    topology_ = topology;
    saved_ = true;
    return absl::OkStatus();
  }

 private:
  mcmesh::v1::Topology topology_;
  bool saved_ = false;
};

void setFilter(mcmesh::v1::FilterConfig* filter, const std::string& name,
               const std::vector<std::pair<std::string, std::string>>& config = {}) {
  filter->set_name(name);
  for (const auto& [key, value] : config) (*filter->mutable_config())[key] = value;
}

class LiveChainPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = MemcachedServer::start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    mcmesh::v1::Topology bootstrap;
    mcmesh::v1::Cluster* cluster = bootstrap.add_clusters();
    cluster->set_name("default");
    mcmesh::v1::Node* node = cluster->mutable_primary()->add_nodes();
    node->set_address(server_->address());
    node->set_weight(1);
    node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
    setFilter(cluster->add_filters(), "stats");
    setFilter(cluster->add_filters(), "ketama_router");
    auto topology = TopologyService::create(store_, &bootstrap);
    ASSERT_TRUE(topology.ok()) << topology.status();
    topology_ = std::move(*topology);
    mcmesh::control_plane::ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    auto cp = ControlPlaneServer::start(options, *topology_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    auto proxy = startCustomProxy({absl::StrCat("--control_plane=127.0.0.1:", cp_->port()),
                                   "--cluster=default", "--proxy_id=live-push-test"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }

  void TearDown() override {
    proxy_.reset();
    if (cp_) cp_->shutdown();
  }

  // Replaces the cluster's chain; @return the new topology version.
  uint64_t pushChain(
      const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>&
          chain) {
    auto result = topology_->update("test: set filters", [&](mcmesh::v1::Topology& t) {
      mcmesh::v1::Cluster* cluster = t.mutable_clusters(0);
      cluster->clear_filters();
      for (const auto& [name, config] : chain) setFilter(cluster->add_filters(), name, config);
      return absl::OkStatus();
    });
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? (*result)->version() : 0;
  }

  static uint64_t appliedVersion(TextClient& client) {
    uint64_t version = 0;
    (void)absl::SimpleAtoi(statValue(client, "proxy", "topology_version"), &version);
    return version;
  }

  // Waits (on `client`'s own connection) until the proxy reports `version`.
  static bool awaitVersion(TextClient& client, uint64_t version) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (appliedVersion(client) < version && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return appliedVersion(client) >= version;
  }

  // The control plane's view of this proxy's last NACK, once it has one.
  std::string awaitNack(uint64_t version) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      for (const auto& p : cp_->registry().list()) {
        if (p.id() == "live-push-test" && p.last_nack_version() == version) {
          return p.last_nack_reason();
        }
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return "";
  }

  MemoryStore store_;
  MemcachedServerPtr server_;
  std::unique_ptr<TopologyService> topology_;
  std::unique_ptr<ControlPlaneServer> cp_;
  std::unique_ptr<mcmesh::testing::McmeshProcess> proxy_;
};

TEST_F(LiveChainPushTest, AddingRateLimitTakesEffectWithoutReconnecting) {
  auto connected = TextClient::connect(proxy_->port());
  ASSERT_TRUE(connected.ok()) << connected.status();
  TextClient& client = **connected;
  const uint64_t first = topology_->snapshot()->version();
  ASSERT_TRUE(awaitVersion(client, first));
  // No limit yet: far more than the coming burst goes through.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(client.set("k", "v").value_or(""), "STORED") << i;
  const std::string connections_before = statValue(client, "proxy", "total_connections");

  const uint64_t pushed = pushChain(
      {{"rate_limit", {{"rate", "1"}, {"burst", "3"}}}, {"stats", {}}, {"ketama_router", {}}});
  ASSERT_TRUE(awaitVersion(client, pushed));

  // The same connection, now limited by the pushed chain.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.set("k", "v").value_or(""), "STORED") << i;
  EXPECT_EQ(client.roundTrip("set k 0 0 1\r\nv\r\n", "\r\n").value_or(""),
            "SERVER_ERROR rate limited\r\n");
  EXPECT_EQ(statValue(client, "proxy", "rate_limit_limited"), "1");
  // No client connection was opened in between: the client never reconnected.
  EXPECT_EQ(statValue(client, "proxy", "total_connections"), connections_before);
}

TEST_F(LiveChainPushTest, ABadChainIsNackedAndTheOldChainKeepsServing) {
  auto connected = TextClient::connect(proxy_->port());
  ASSERT_TRUE(connected.ok()) << connected.status();
  TextClient& client = **connected;
  const uint64_t good = pushChain(
      {{"rate_limit", {{"rate", "1"}, {"burst", "2"}}}, {"stats", {}}, {"ketama_router", {}}});
  ASSERT_TRUE(awaitVersion(client, good));

  // rate=0 cannot be built: the proxy NACKs it with the filter's own message.
  const uint64_t bad = pushChain(
      {{"rate_limit", {{"rate", "0"}}}, {"stats", {}}, {"ketama_router", {}}});
  const std::string reason = awaitNack(bad);
  EXPECT_NE(reason.find("filter 'rate_limit': option 'rate' must be at least 1"),
            std::string::npos)
      << reason;
  EXPECT_EQ(appliedVersion(client), good);
  // The good chain still limits this connection (burst 2).
  EXPECT_EQ(client.set("k", "v").value_or(""), "STORED");
  EXPECT_EQ(client.set("k", "v").value_or(""), "STORED");
  EXPECT_EQ(client.roundTrip("set k 0 0 1\r\nv\r\n", "\r\n").value_or(""),
            "SERVER_ERROR rate limited\r\n");

  // So is an unknown filter.
  const uint64_t unknown = pushChain({{"no_such_filter", {}}, {"ketama_router", {}}});
  EXPECT_NE(awaitNack(unknown).find("unknown filter 'no_such_filter'"), std::string::npos);
  EXPECT_EQ(appliedVersion(client), good);
}

}  // namespace
}  // namespace custom_filter::testing
