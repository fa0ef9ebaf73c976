// Tests TopologyService over a store shared with other writers (as with etcd): lost races are
// retried on the new state, unconfirmed writes are reported as such, watched commits published.
#include <string>
#include <vector>

#include "control_plane/topology_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::HasSubstr;

// A store with revisions, where "another replica" can commit between our read and our save.
class SharedStore : public TopologyStore {
public:
  absl::StatusOr<mcmesh::v1::Topology> load() override { return stored_.topology; }
  absl::Status save(const mcmesh::v1::Topology& topology) override {
    stored_ = {topology, stored_.revision + 1};
    return absl::OkStatus();
  }
  absl::StatusOr<StoredTopology> read() override {
    ++reads_;
    if (stored_.revision == 0) {
      return absl::NotFoundError("empty");
    }
    return stored_;
  }
  absl::StatusOr<int64_t> saveIfRevision(const mcmesh::v1::Topology& topology,
                                         int64_t revision) override {
    if (!next_error_.ok()) {
      absl::Status error = next_error_;
      next_error_ = absl::OkStatus();
      return error;
    }
    if (foreign_commits_ > 0) {
      --foreign_commits_;
      commitForeign();
    }
    if (revision != stored_.revision) {
      return absl::AbortedError("revision moved");
    }
    stored_ = {topology, stored_.revision + 10};
    return stored_.revision;
  }
  void watch(int64_t, ChangeCallback callback) override { callback_ = std::move(callback); }
  void stopWatching() override { callback_ = nullptr; }

  // Another replica adds a node "10.9.9.<n>:11211" to web.
  void commitForeign() {
    mcmesh::v1::Topology next = stored_.topology;
    auto* node = next.mutable_clusters(0)->mutable_primary()->add_nodes();
    node->set_address("10.9.9." + std::to_string(++foreign_) + ":11211");
    node->set_weight(1);
    node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
    next.set_version(next.version() + 1);
    stored_ = {next, stored_.revision + 10};
  }

  StoredTopology stored_;
  int foreign_commits_ = 0;
  int foreign_ = 0;
  int reads_ = 0;
  absl::Status next_error_;
  ChangeCallback callback_;
};

mcmesh::v1::Topology bootstrap() {
  mcmesh::v1::Topology topology;
  auto* cluster = topology.add_clusters();
  cluster->set_name("web");
  auto* node = cluster->mutable_primary()->add_nodes();
  node->set_address("127.0.0.1:11211");
  node->set_weight(1);
  node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  return topology;
}

bool hasNode(const mcmesh::v1::Topology& topology, const std::string& address) {
  for (const auto& node : topology.clusters(0).primary().nodes()) {
    if (node.address() == address) {
      return true;
    }
  }
  return false;
}

TEST(SharedStoreTest, LostRaceIsRetriedOnTheNewStateAndKeepsBothChanges) {
  SharedStore store;
  const mcmesh::v1::Topology initial = bootstrap();
  auto service = TopologyService::create(store, &initial);
  ASSERT_TRUE(service.ok()) << service.status();
  std::vector<uint64_t> published;
  (*service)->subscribe(
      [&](const TopologyConstSharedPtr& t) { published.push_back(t->version()); });

  store.foreign_commits_ = 2; // Two other replicas win before ours does.
  auto result = (*service)->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->version(), 4u); // 1 (bootstrap) + 2 foreign + ours
  EXPECT_TRUE(hasNode(**result, "10.9.9.1:11211"));
  EXPECT_TRUE(hasNode(**result, "10.9.9.2:11211"));
  EXPECT_TRUE(hasNode(**result, "127.0.0.1:11212"));
  EXPECT_EQ(store.stored_.topology.version(), 4u);
  // The foreign versions it re-read were published too, in order.
  EXPECT_THAT(published, ::testing::ElementsAre(2u, 3u, 4u));
}

TEST(SharedStoreTest, ANoOpOnAStaleCopyIsCheckedAgainstTheStore) {
  SharedStore store;
  const mcmesh::v1::Topology initial = bootstrap();
  auto service = TopologyService::create(store, &initial);
  ASSERT_TRUE(service.ok());
  // Another replica set the weight to 5; our watch has not delivered it yet.
  mcmesh::v1::Topology theirs = store.stored_.topology;
  theirs.mutable_clusters(0)->mutable_primary()->mutable_nodes(0)->set_weight(5);
  theirs.set_version(2);
  store.stored_ = {theirs, store.stored_.revision + 10};

  // Weight 1 is what our copy already has, but not what the store has: not a no-op.
  auto result = (*service)->setWeight("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211", 1);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->version(), 3u);
  EXPECT_EQ(store.stored_.topology.clusters(0).primary().nodes(0).weight(), 1u);

  // Now it is one, and the store agrees: nothing written.
  const int64_t revision = store.stored_.revision;
  auto again = (*service)->setWeight("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211", 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->version(), 3u);
  EXPECT_EQ(store.stored_.revision, revision);
}

TEST(SharedStoreTest, EndlessRacesEndWithAbortedAndNothingChanged) {
  SharedStore store;
  const mcmesh::v1::Topology initial = bootstrap();
  auto service = TopologyService::create(store, &initial);
  ASSERT_TRUE(service.ok());
  store.foreign_commits_ = 1000;
  auto result = (*service)->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(result.status().message(), HasSubstr("try again"));
  EXPECT_FALSE(hasNode(store.stored_.topology, "127.0.0.1:11212"));
}

TEST(SharedStoreTest, StoreErrorsSayWhetherTheChangeMayStillApply) {
  SharedStore store;
  const mcmesh::v1::Topology initial = bootstrap();
  auto service = TopologyService::create(store, &initial);
  ASSERT_TRUE(service.ok());

  store.next_error_ = absl::UnavailableError("etcdserver: no leader");
  auto refused = (*service)->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("nothing was changed"));

  store.next_error_ = absl::DeadlineExceededError("no answer within 3s");
  auto unknown = (*service)->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(unknown.status().message(), HasSubstr("may still be applied"));
  // Either way the replica's topology did not move.
  EXPECT_EQ((*service)->snapshot()->version(), 1u);
}

TEST(SharedStoreTest, WatchedCommitsArePublishedOnceAndInOrder) {
  SharedStore store;
  const mcmesh::v1::Topology initial = bootstrap();
  auto service = TopologyService::create(store, &initial);
  ASSERT_TRUE(service.ok());
  ASSERT_TRUE(store.callback_ != nullptr);
  std::vector<uint64_t> published;
  (*service)->subscribe(
      [&](const TopologyConstSharedPtr& t) { published.push_back(t->version()); });

  store.commitForeign();
  const StoredTopology first = store.stored_;
  store.callback_(first);
  store.callback_(first); // Delivered twice (e.g. a re-read after a reconnect): one publish.
  StoredTopology stale = first;
  stale.revision -= 5; // Older than what the service has: ignored.
  store.callback_(stale);
  mcmesh::v1::Topology invalid = first.topology;
  invalid.mutable_clusters(0)->mutable_primary()->mutable_nodes(0)->set_weight(0);
  store.callback_(StoredTopology{invalid, first.revision + 100}); // Invalid: not installed.
  EXPECT_THAT(published, ::testing::ElementsAre(2u));
  EXPECT_EQ((*service)->snapshot()->version(), 2u);
}

// Another replica saves its bootstrap between our read (empty) and our save.
class RacingBootstrapStore : public SharedStore {
public:
  absl::StatusOr<int64_t> saveIfRevision(const mcmesh::v1::Topology& topology,
                                         int64_t revision) override {
    if (!raced_) {
      raced_ = true;
      stored_ = {theirs_, 42};
    }
    return SharedStore::saveIfRevision(topology, revision);
  }
  bool raced_ = false;
  mcmesh::v1::Topology theirs_;
};

TEST(SharedStoreTest, TwoReplicasStartingTogetherKeepOneBootstrap) {
  RacingBootstrapStore store;
  store.theirs_ = bootstrap();
  store.theirs_.set_version(7);
  const mcmesh::v1::Topology ours = bootstrap();
  auto service = TopologyService::create(store, &ours);
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ((*service)->snapshot()->version(), 7u);
}

} // namespace
} // namespace control_plane
} // namespace mcmesh
