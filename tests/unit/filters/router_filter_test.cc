// RouterFilter through the filter API with the cluster faked (SimUpstreams over in-memory
// servers, replies delivered by the test): writes reach primary and backup, reads answer from the
// primary or, when it is down, the backup, and local commands never touch a server.
#include "filters/ketama_router/router_filter.h"

#include "gtest/gtest.h"
#include "proxy/version.h"
#include "tests/unit/filters/fake_callbacks.h"
#include "tests/unit/replication/sim_upstreams.h"
#include "tests/unit/replication/world.h"

namespace mcmesh::testing {
namespace {

class RouterFilterTest : public ::testing::Test {
 protected:
  RouterFilterTest()
      : net_(absl::FromUnixSeconds(1700000000)),
        snapshot_(makeSnapshot(ClusterSpec{}, nullptr, net_.now(), false)),
        cluster_(net_, 0, snapshot_) {}

  // Runs one request through a fresh filter and delivers every reply; returns what it answered.
  Response run(Request request) {
    FakeCallbacks callbacks(cluster_);
    router::RouterFilter filter;
    filter.setCallbacks(callbacks);
    callbacks.request() = std::move(request);
    filter.onRequest(callbacks.request());
    while (!net_.idle()) net_.deliver(0);
    filter.onDestroy();
    EXPECT_TRUE(callbacks.sent.has_value());
    return callbacks.sent.value_or(Response::serverError("no reply"));
  }
  static Request req(Command command, std::string key, std::string value = "") {
    Request r;
    r.command = command;
    r.keys = {std::move(key)};
    r.value = std::move(value);
    return r;
  }

  SimNetwork net_;
  upstream::ClusterSnapshotConstSharedPtr snapshot_;
  SimUpstreams cluster_;
};

TEST_F(RouterFilterTest, SetReachesPrimaryAndBackupAndGetReadsIt) {
  EXPECT_EQ(run(req(Command::kSet, "k1", "v1")).type, ResponseType::kStored);
  const std::string primary = snapshot_->primaryFor("k1").address;
  const std::string backup = snapshot_->backupFor("k1")->address;
  ASSERT_NE(net_.server(primary).find("k1", net_.nowSeconds()), nullptr);
  ASSERT_NE(net_.server(backup).find("k1", net_.nowSeconds()), nullptr);
  Response got = run(req(Command::kGet, "k1"));
  ASSERT_EQ(got.type, ResponseType::kValues);
  ASSERT_EQ(got.items.size(), 1u);
  EXPECT_EQ(got.items[0].value, "v1");
}

// A filter before the router may ask where the request goes (Placement::routeOf); the router
// sends it there, not to where it would place it now: the primary went down in between here.
TEST_F(RouterFilterTest, AWriteGoesWhereAnEarlierFilterSawItPlaced) {
  Request request = req(Command::kSet, "k3", "v3");
  const upstream::HostConfig* placed = cluster_.replication().placement().routeOf(cluster_, request);
  ASSERT_NE(placed, nullptr);
  cluster_.setAvailable(placed->address, false);
  EXPECT_EQ(run(std::move(request)).type, ResponseType::kStored);
  EXPECT_NE(net_.server(placed->address).find("k3", net_.nowSeconds()), nullptr);

  // A request not placed before the outage goes around the ejected primary: the value goes to
  // the backup, never to the primary (which at most gets the delete written around it).
  EXPECT_EQ(run(req(Command::kSet, "k3", "v4")).type, ResponseType::kStored);
  const auto* on_primary = net_.server(placed->address).find("k3", net_.nowSeconds());
  EXPECT_TRUE(on_primary == nullptr || on_primary->value == "v3");
  const auto* on_backup =
      net_.server(snapshot_->backupFor("k3")->address).find("k3", net_.nowSeconds());
  ASSERT_NE(on_backup, nullptr);
  EXPECT_EQ(on_backup->value, "v4");
}

TEST_F(RouterFilterTest, PrimaryDownReadsTheBackup) {
  ASSERT_EQ(run(req(Command::kSet, "k2", "v2")).type, ResponseType::kStored);
  net_.setDown(snapshot_->primaryFor("k2").address, true);
  Response got = run(req(Command::kGet, "k2"));
  ASSERT_EQ(got.type, ResponseType::kValues);
  ASSERT_EQ(got.items.size(), 1u);
  EXPECT_EQ(got.items[0].value, "v2");
}

TEST_F(RouterFilterTest, DeleteLeavesNoCopyAnywhere) {
  ASSERT_EQ(run(req(Command::kSet, "k3", "v3")).type, ResponseType::kStored);
  EXPECT_EQ(run(req(Command::kDelete, "k3")).type, ResponseType::kDeleted);
  EXPECT_EQ(net_.server(snapshot_->primaryFor("k3").address).find("k3", net_.nowSeconds()),
            nullptr);
  EXPECT_EQ(net_.server(snapshot_->backupFor("k3")->address).find("k3", net_.nowSeconds()),
            nullptr);
  EXPECT_TRUE(run(req(Command::kGet, "k3")).items.empty());
}

TEST_F(RouterFilterTest, VersionIsAnsweredLocally) {
  Request version;
  version.command = Command::kVersion;
  Response r = run(version);
  EXPECT_EQ(r.type, ResponseType::kVersion);
  EXPECT_EQ(r.text, kVersionString);
  EXPECT_TRUE(net_.trace().empty());  // no server saw anything
}

}  // namespace
}  // namespace mcmesh::testing
