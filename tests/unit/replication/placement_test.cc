// Placement::routeOf: a request's placement is decided once per topology and recorded on it
// (Request::route), so filters before the router, the router and filters on the way back agree.
#include "proxy/replication/placement.h"

#include "gtest/gtest.h"
#include "tests/unit/replication/sim_upstreams.h"
#include "tests/unit/replication/world.h"

namespace mcmesh::testing {
namespace {

Request setOf(const std::string& key) {
  Request r;
  r.command = Command::kSet;
  r.keys = {key};
  r.value = "v";
  return r;
}

TEST(PlacementTest, ARouteIsDecidedOncePerRequestAndTopology) {
  SimNetwork net(absl::FromUnixSeconds(1700000000));
  upstream::ClusterSnapshotConstSharedPtr first = makeSnapshot(ClusterSpec{}, nullptr, net.now());
  SimUpstreams cluster(net, 0, first);
  replication::Placement& placement = cluster.replication().placement();
  const upstream::HostConfig& owner = first->primaryFor("k1");

  Request request = setOf("k1");
  EXPECT_EQ(request.route.snapshot_id, 0u);
  EXPECT_EQ(placement.routeOf(cluster, request), &owner);
  EXPECT_EQ(request.route.snapshot_id, first->id());
  EXPECT_EQ(request.route.primary, &owner);

  // The owner is ejected: the request keeps the placement it was given (nobody recomputes it on
  // the way), while a new request goes to the backup's turn (null under EjectPolicy::kBackup).
  cluster.setAvailable(owner.address, false);
  EXPECT_EQ(placement.routeOf(cluster, request), &owner);
  Request fresh = setOf("k1");
  EXPECT_EQ(placement.routeOf(cluster, fresh), nullptr);
  EXPECT_EQ(fresh.route.snapshot_id, first->id());

  // A new topology (even the same hosts) is decided again: the recorded pointer points into the
  // old snapshot and is never used against another.
  upstream::ClusterSnapshotConstSharedPtr second = makeSnapshot(ClusterSpec{}, first, net.now());
  ASSERT_NE(second->id(), first->id());
  cluster.setSnapshot(second);
  EXPECT_EQ(placement.routeOf(cluster, request), nullptr);
  EXPECT_EQ(request.route.snapshot_id, second->id());

  // A filter that rewrites the key gets the new key's placement, not the old one's.
  cluster.setAvailable(owner.address, true);
  std::string other_key;
  for (int i = 0; other_key.empty(); ++i) {
    const std::string k = "k" + std::to_string(i);
    if (&second->primaryFor(k) != &second->primaryFor("k1")) other_key = k;
  }
  Request rewritten = setOf("k1");
  EXPECT_EQ(placement.routeOf(cluster, rewritten), &second->primaryFor("k1"));
  rewritten.keys[0] = other_key;
  EXPECT_EQ(placement.routeOf(cluster, rewritten), &second->primaryFor(other_key));

  // Only single-key requests are placed as a whole.
  Request multi = setOf("k1");
  multi.keys.push_back("k2");
  EXPECT_EQ(placement.routeOf(cluster, multi), nullptr);
  EXPECT_EQ(multi.route.snapshot_id, 0u);

  // A request parsed into the same object starts undecided.
  request.clear();
  EXPECT_EQ(request.route.snapshot_id, 0u);
  EXPECT_EQ(request.route.primary, nullptr);
}

TEST(PlacementTest, SnapshotIdsAreUniqueEvenForTheSameVersion) {
  upstream::ClusterConfig config;
  config.primaries = {*upstream::parseHostAddress("10.0.0.1:11211")};
  auto a = upstream::ClusterSnapshot::create(config, nullptr, absl::UnixEpoch());
  auto b = upstream::ClusterSnapshot::create(config, nullptr, absl::UnixEpoch());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->version(), (*b)->version());
  EXPECT_NE((*a)->id(), (*b)->id());
  EXPECT_NE((*a)->id(), 0u);
}

}  // namespace
}  // namespace mcmesh::testing
