// The control plane's /metrics: counts pushes/ACKs/NACKs/streams and per-proxy versions, served
// over HTTP, and parses as strict Prometheus text.
#include "control_plane/metrics_http.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "control_plane/file_store.h"
#include "gtest/gtest.h"
#include "tests/support/http_client.h"
#include "tests/support/prometheus_parser.h"

namespace mcmesh::control_plane {
namespace {

TEST(ControlPlaneMetricsTest, ServesCountsThatParseStrictly) {
  const char* dir = std::getenv("TEST_TMPDIR");
  FileTopologyStore store(absl::StrCat(dir != nullptr ? dir : "/tmp", "/metrics-store.pb"));
  auto service = TopologyService::create(store);
  ASSERT_TRUE(service.ok()) << service.status();
  ProxyRegistry registry;
  uint64_t a = registry.connected("proxy-a", "default", "ipv4:127.0.0.1:1", 0);
  uint64_t b = registry.connected("proxy-b", "default", "ipv4:127.0.0.1:2", 0);
  registry.sent("proxy-a", a, 3);
  registry.acked("proxy-a", a, 3);
  registry.sent("proxy-b", b, 3);
  registry.nacked("proxy-b", b, 2, 3, "unknown filter 'x'");
  registry.disconnected("proxy-b", b);

  auto server = MetricsHttpServer::start("127.0.0.1:0", **service, registry);
  ASSERT_TRUE(server.ok()) << server.status();
  auto reply = testing::httpRequest((*server)->port(), "GET", "/metrics");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200);
  auto parsed = testing::parsePrometheusText(reply->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << reply->body;
  EXPECT_EQ(parsed->value("mcmesh_cp_pushes_total"), 2);
  EXPECT_EQ(parsed->value("mcmesh_cp_acks_total"), 1);
  EXPECT_EQ(parsed->value("mcmesh_cp_nacks_total"), 1);
  EXPECT_EQ(parsed->value("mcmesh_cp_streams_total"), 2);
  EXPECT_EQ(parsed->value("mcmesh_cp_subscribed_proxies"), 1);
  EXPECT_EQ(parsed->value("mcmesh_cp_proxy_applied_version",
                          {{"proxy", "proxy-a"}, {"cluster", "default"}}),
            3);
  EXPECT_EQ(parsed->value("mcmesh_cp_proxy_applied_version",
                          {{"proxy", "proxy-b"}, {"cluster", "default"}}),
            2);
  EXPECT_EQ(parsed->value("mcmesh_cp_proxy_connected",
                          {{"proxy", "proxy-b"}, {"cluster", "default"}}),
            0);

  EXPECT_EQ(testing::httpRequest((*server)->port(), "GET", "/healthz")->status, 200);
  EXPECT_EQ(testing::httpRequest((*server)->port(), "GET", "/nope")->status, 404);
}

TEST(ControlPlaneMetricsTest, BadListenAddressIsAClearError) {
  const char* dir = std::getenv("TEST_TMPDIR");
  FileTopologyStore store(absl::StrCat(dir != nullptr ? dir : "/tmp", "/metrics-store2.pb"));
  auto service = TopologyService::create(store);
  ProxyRegistry registry;
  auto bad = MetricsHttpServer::start("nonsense", **service, registry);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mcmesh::control_plane
