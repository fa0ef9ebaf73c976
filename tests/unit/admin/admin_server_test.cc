// AdminServer on an in-process Server (no client listener): routing, status codes, readiness,
// strict /metrics, /topology fields and a drain that ends Server::run() with 0.
#include "proxy/admin/admin_server.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "filters/builtin_filters.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/prometheus_parser.h"

namespace mcmesh::admin {
namespace {

using testing::httpRequest;
using testing::HttpResponse;

upstream::ClusterConfig configWith(const std::string& primary, const std::string& backup) {
  upstream::ClusterConfig config;
  config.name = "unit";
  config.version = 7;
  auto p = upstream::parseHostAddress(primary);
  p->weight = 3;
  config.primaries.push_back(*p);
  config.backups.push_back(*upstream::parseHostAddress(backup));
  return config;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options options;
    options.port = 0;  // no client listener: these tests talk to the admin port only.
    options.concurrency = 1;
    options.rehydrate = false;
    options.connect_timeout = absl::Milliseconds(100);
    FilterRegistry registry;
    registerBuiltinFilters(registry);
    server_ = std::make_unique<Server>(options, std::move(registry));
    ASSERT_TRUE(server_->init().ok());
    auto admin = AdminServer::create(*server_, "127.0.0.1", 0);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    thread_ = std::thread([this] {
      exit_code_ = server_->run();
      stopped_ = true;
    });
  }

  void TearDown() override {
    // shutdown() before the loop runs would be lost: repeat until run() has returned.
    while (thread_.joinable() && !stopped_) {
      server_->shutdown();
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (thread_.joinable()) thread_.join();
    admin_.reset();
    server_.reset();
  }

  HttpResponse request(absl::string_view method, absl::string_view path) {
    auto response = httpRequest(admin_->port(), method, path);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  bool waitUntilStopped(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (!stopped_ && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    return stopped_;
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<AdminServer> admin_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  int exit_code_ = -1;
};

TEST_F(AdminServerTest, HealthzIsOk) {
  HttpResponse r = request("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(AdminServerTest, UnknownPathIs404) {
  EXPECT_EQ(request("GET", "/nope").status, 404);
  EXPECT_EQ(request("GET", "/").status, 404);
  EXPECT_EQ(request("GET", "/metrics/extra").status, 404);
}

TEST_F(AdminServerTest, WrongMethodIs405WithAllow) {
  HttpResponse post_metrics = request("POST", "/metrics");
  EXPECT_EQ(post_metrics.status, 405);
  EXPECT_EQ(post_metrics.headers["allow"], "GET, HEAD");
  HttpResponse get_drain = request("GET", "/drain");
  EXPECT_EQ(get_drain.status, 405);
  EXPECT_EQ(get_drain.headers["allow"], "POST");
  EXPECT_EQ(request("DELETE", "/topology").status, 405);
  EXPECT_FALSE(server_->draining());
}

TEST_F(AdminServerTest, QueryStringsDoNotChangeTheRoute) {
  EXPECT_EQ(request("GET", "/healthz?verbose=1").status, 200);
}

TEST_F(AdminServerTest, NotReadyWithoutTopology) {
  HttpResponse r = request("GET", "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("no topology applied"), std::string::npos) << r.body;
}

TEST_F(AdminServerTest, NotReadyWhenNoPrimaryAnswersProbes) {
  int closed = testing::pickFreePort();  // nothing listens there.
  ASSERT_TRUE(server_
                  ->applyClusterConfig(configWith(absl::StrCat("127.0.0.1:", closed),
                                                  absl::StrCat("127.0.0.1:", closed + 1)))
                  .ok());
  HttpResponse r;
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  do {
    r = request("GET", "/ready");
  } while (r.body.find("probe failure") == std::string::npos && absl::Now() < deadline);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find(absl::StrCat("127.0.0.1:", closed, ": ")), std::string::npos) << r.body;
}

TEST_F(AdminServerTest, MetricsParseStrictlyBeforeAnyTraffic) {
  HttpResponse r = request("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  auto parsed = testing::parsePrometheusText(r.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << r.body;
  for (const auto& f : parsed->families) {
    EXPECT_TRUE(absl::StartsWith(f.name, "mcmesh_")) << f.name;
  }
  EXPECT_EQ(parsed->value("mcmesh_workers"), 1);
  EXPECT_EQ(parsed->value("mcmesh_requests_total", {{"command", "get"}}), 0);
  EXPECT_EQ(parsed->value("mcmesh_request_duration_seconds_count"), 0);
  EXPECT_EQ(parsed->value("mcmesh_topology_version"), 0);
  EXPECT_EQ(parsed->value("mcmesh_topology_last_update_timestamp_seconds"), 0);
  EXPECT_EQ(parsed->value("mcmesh_control_plane_state"), 0);
  EXPECT_EQ(parsed->value("mcmesh_draining"), 0);
  EXPECT_EQ(parsed->family("mcmesh_request_duration_seconds")->type, testing::PromType::kHistogram);
}

TEST_F(AdminServerTest, HeadReturnsHeadersOnly) {
  HttpResponse r = request("HEAD", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  int length = 0;
  EXPECT_TRUE(absl::SimpleAtoi(r.headers["content-length"], &length));
  EXPECT_GT(length, 1000);
}

TEST_F(AdminServerTest, TopologyAndMetricsFollowTheAppliedConfig) {
  HttpResponse before = request("GET", "/topology");
  EXPECT_EQ(before.status, 200);
  EXPECT_EQ(before.body, "{\"applied\":false,\"workers\":1}\n");

  absl::Time applied_after = absl::Now();
  ASSERT_TRUE(server_->applyClusterConfig(configWith("127.0.0.1:1", "127.0.0.1:2")).ok());
  HttpResponse r = request("GET", "/topology");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  for (const char* field :
       {"\"applied\":true", "\"cluster\":\"unit\"", "\"version\":7", "\"mirror_mode\":\"sync\"",
        "\"eject_policy\":\"backup\"", "\"workers\":1",
        "\"primaries\":[{\"address\":\"127.0.0.1:1\",\"weight\":3,\"state\":\"active\","
        "\"health\":{\"ejected\":false,\"ejected_workers\":0}",
        "\"backups\":[{\"address\":\"127.0.0.1:2\",\"weight\":1"}) {
    EXPECT_NE(r.body.find(field), std::string::npos) << field << " not in " << r.body;
  }

  auto parsed = testing::parsePrometheusText(request("GET", "/metrics").body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->value("mcmesh_topology_version"), 7);
  EXPECT_EQ(parsed->value("mcmesh_topology_updates_total"), 1);
  EXPECT_GE(*parsed->value("mcmesh_topology_last_update_timestamp_seconds"),
            absl::ToUnixSeconds(applied_after));
  EXPECT_EQ(parsed->value("mcmesh_upstream_up", {{"pool", "primary"}, {"server", "127.0.0.1:1"}}),
            1);
  EXPECT_EQ(parsed->value("mcmesh_upstream_requests_total",
                          {{"pool", "backup"}, {"server", "127.0.0.1:2"}}),
            0);
}

TEST_F(AdminServerTest, ControlPlaneStateIsExported) {
  server_->setControlPlaneState(ControlPlaneState::kConnected);
  auto parsed = testing::parsePrometheusText(request("GET", "/metrics").body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->value("mcmesh_control_plane_state"), 2);
}

TEST_F(AdminServerTest, BadDrainTimeoutIs400AndDoesNotDrain) {
  EXPECT_EQ(request("POST", "/drain?timeout_s=soon").status, 400);
  EXPECT_EQ(request("POST", "/drain?timeout_s=-1").status, 400);
  EXPECT_FALSE(server_->draining());
}

TEST_F(AdminServerTest, DrainWithNoClientsStopsTheServerWithZero) {
  HttpResponse r = request("POST", "/drain");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "draining\n");
  ASSERT_TRUE(waitUntilStopped(absl::Seconds(5)));
  EXPECT_EQ(exit_code_, 0);
}

TEST_F(AdminServerTest, SecondBindOnTheSamePortFailsWithTheAddress) {
  auto second = AdminServer::create(*server_, "127.0.0.1", admin_->port());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(absl::StrCat("127.0.0.1:", admin_->port())),
            std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace mcmesh::admin
