// Tests TopologyService: versioning, refusal of invalid changes, persist-before-publish, restart.
#include "control_plane/topology_service.h"

#include <cstdlib>
#include <map>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "control_plane/file_store.h"
#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

// In-memory store that records saves and can be told to fail.
class FakeStore : public TopologyStore {
public:
  absl::StatusOr<mcmesh::v1::Topology> load() override {
    if (!has_data_) {
      return absl::NotFoundError("empty");
    }
    return data_;
  }
  absl::Status save(const mcmesh::v1::Topology& topology) override {
    if (fail_saves_) {
      return absl::UnavailableError("disk on fire");
    }
    data_ = topology;
    has_data_ = true;
    ++saves_;
    return absl::OkStatus();
  }

  bool has_data_ = false;
  bool fail_saves_ = false;
  int saves_ = 0;
  mcmesh::v1::Topology data_;
};

mcmesh::v1::Cluster webCluster() {
  mcmesh::v1::Cluster cluster;
  cluster.set_name("web");
  auto* node = cluster.mutable_primary()->add_nodes();
  node->set_address("127.0.0.1:11211");
  node->set_weight(1);
  node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  return cluster;
}

class TopologyServiceTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto created = TopologyService::create(store_);
    ASSERT_TRUE(created.ok()) << created.status();
    service_ = std::move(*created);
    ASSERT_TRUE(service_->createCluster(webCluster()).ok());
  }

  FakeStore store_;
  TopologyServicePtr service_;
};

TEST_F(TopologyServiceTest, EachChangeBumpsVersionAndPersists) {
  EXPECT_EQ(service_->snapshot()->version(), 1u);
  auto result = service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 0);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->version(), 2u);
  EXPECT_EQ((*result)->clusters(0).primary().nodes(1).weight(), 1u); // 0 means default weight.
  EXPECT_EQ(store_.data_.version(), 2u);
  EXPECT_EQ(store_.saves_, 2);
}

TEST_F(TopologyServiceTest, ResetEpochRaisesTheEpochAsANewVersion) {
  auto reset = service_->resetEpoch(0);
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ((*reset)->epoch(), 1u);
  EXPECT_EQ((*reset)->version(), 2u);
  EXPECT_EQ(store_.data_.epoch(), 1u);
  reset = service_->resetEpoch(5);
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ((*reset)->epoch(), 5u);
  EXPECT_EQ((*reset)->version(), 3u);
  // Later changes keep the epoch.
  auto added = service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ((*added)->epoch(), 5u);
}

TEST_F(TopologyServiceTest, ResetEpochMustGoUp) {
  ASSERT_TRUE(service_->resetEpoch(3).ok());
  auto lower = service_->resetEpoch(2);
  EXPECT_EQ(lower.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(lower.status().message(), HasSubstr("not above the current epoch 3"));
  EXPECT_EQ(service_->snapshot()->epoch(), 3u);
}

TEST_F(TopologyServiceTest, InvalidChangeIsRefusedAndChangesNothing) {
  auto before = service_->snapshot();
  int published = 0;
  service_->subscribe([&](const TopologyConstSharedPtr&) { ++published; });

  auto bad_address = service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "nope", 1);
  EXPECT_EQ(bad_address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_address.status().message(), HasSubstr("bad address: missing port"));

  auto unknown = service_->addNode("api", mcmesh::v1::POOL_KIND_PRIMARY, "10.0.0.1:1", 1);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "unknown cluster \"api\"");

  auto drain_last = service_->drainNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211");
  EXPECT_EQ(drain_last.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(drain_last.status().message(), HasSubstr("primary pool has no ACTIVE node"));

  auto zero = service_->setWeight("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211", 0);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);

  auto dup = service_->addNode("web", mcmesh::v1::POOL_KIND_BACKUP, "127.0.0.1:11211", 1);
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status().message(), HasSubstr("duplicate node \"127.0.0.1:11211\""));

  EXPECT_EQ(service_->snapshot(), before);
  EXPECT_TRUE(MessageDifferencer::Equals(store_.data_, *before));
  EXPECT_EQ(store_.saves_, 1);
  EXPECT_EQ(published, 0);
}

TEST_F(TopologyServiceTest, StoreFailureChangesNothingAndPublishesNothing) {
  auto before = service_->snapshot();
  int published = 0;
  service_->subscribe([&](const TopologyConstSharedPtr&) { ++published; });
  store_.fail_saves_ = true;
  auto result = service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(), HasSubstr("cannot persist topology"));
  EXPECT_EQ(service_->snapshot(), before);
  EXPECT_EQ(published, 0);
}

TEST_F(TopologyServiceTest, SubscribersSeeOnlyPersistedVersions) {
  std::vector<uint64_t> seen;
  service_->subscribe([&](const TopologyConstSharedPtr& topology) {
    // Persist happens before publish: the store already holds what subscribers see.
    EXPECT_EQ(store_.data_.version(), topology->version());
    seen.push_back(topology->version());
  });
  ASSERT_TRUE(service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1).ok());
  ASSERT_TRUE(service_->drainNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211").ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3}));
}

TEST_F(TopologyServiceTest, UnsubscribedIsNotCalled) {
  int calls = 0;
  const uint64_t id = service_->subscribe([&](const TopologyConstSharedPtr&) { ++calls; });
  service_->unsubscribe(id);
  ASSERT_TRUE(service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 1).ok());
  EXPECT_EQ(calls, 0);
}

TEST_F(TopologyServiceTest, NoOpChangeKeepsVersion) {
  auto again = service_->setWeight("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->version(), 1u);
  EXPECT_EQ(store_.saves_, 1);
}

TEST_F(TopologyServiceTest, DrainThenRemove) {
  ASSERT_TRUE(service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11212", 3).ok());
  auto drained = service_->drainNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211");
  ASSERT_TRUE(drained.ok()) << drained.status();
  EXPECT_EQ((*drained)->clusters(0).primary().nodes(0).state(), mcmesh::v1::NODE_STATE_DRAINING);
  auto removed = service_->removeNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211");
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_EQ((*removed)->clusters(0).primary().nodes_size(), 1);
  EXPECT_EQ((*removed)->clusters(0).primary().nodes(0).address(), "127.0.0.1:11212");
  EXPECT_EQ((*removed)->version(), 4u);
}

TEST_F(TopologyServiceTest, MissingNodeIsNotFound) {
  auto result = service_->drainNode("web", mcmesh::v1::POOL_KIND_BACKUP, "127.0.0.1:11211");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(),
            "node \"127.0.0.1:11211\" is not in cluster \"web\" backup pool");
}

TEST_F(TopologyServiceTest, AddExistingNodeIsRefused) {
  auto result = service_->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:11211", 1);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(TopologyServiceTest, CreateExistingClusterIsRefused) {
  auto result = service_->createCluster(webCluster());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(result.status().message(), "cluster \"web\" already exists");
}

TEST_F(TopologyServiceTest, SetBackupReplacesAndClears) {
  mcmesh::v1::Pool backup;
  auto* node = backup.add_nodes();
  node->set_address("127.0.0.2:11211");
  node->set_weight(1);
  node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  auto set = service_->setBackup("web", backup);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->clusters(0).backup().nodes_size(), 1);
  auto cleared = service_->setBackup("web", mcmesh::v1::Pool());
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ((*cleared)->clusters(0).backup().nodes_size(), 0);
  EXPECT_EQ((*cleared)->version(), 3u);
}

google::protobuf::RepeatedPtrField<mcmesh::v1::FilterConfig>
filters(const std::vector<std::pair<std::string, std::map<std::string, std::string>>>& specs) {
  google::protobuf::RepeatedPtrField<mcmesh::v1::FilterConfig> out;
  for (const auto& spec : specs) {
    mcmesh::v1::FilterConfig* filter = out.Add();
    filter->set_name(spec.first);
    filter->mutable_config()->insert(spec.second.begin(), spec.second.end());
  }
  return out;
}

TEST_F(TopologyServiceTest, SetFiltersReplacesTheChainPersistsAndPublishes) {
  std::vector<uint64_t> published;
  service_->subscribe(
      [&](const TopologyConstSharedPtr& topology) { published.push_back(topology->version()); });
  auto set = service_->setFilters(
      "web",
      filters({{"stats", {}}, {"backup_mirror", {{"mode", "sync"}}}, {"ketama_router", {}}}));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->version(), 2u);
  const mcmesh::v1::Cluster& cluster = (*set)->clusters(0);
  ASSERT_EQ(cluster.filters_size(), 3);
  EXPECT_EQ(cluster.filters(1).name(), "backup_mirror");
  EXPECT_EQ(cluster.filters(1).config().at("mode"), "sync");
  EXPECT_EQ(cluster.primary().nodes_size(), 1); // Nothing else in the cluster changed.
  EXPECT_TRUE(MessageDifferencer::Equals(store_.data_, **set));
  EXPECT_EQ(published, (std::vector<uint64_t>{2}));

  // The whole chain is replaced, not merged.
  auto replaced = service_->setFilters("web", filters({{"ketama_router", {}}}));
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  ASSERT_EQ((*replaced)->clusters(0).filters_size(), 1);
  EXPECT_EQ((*replaced)->clusters(0).filters(0).name(), "ketama_router");
  EXPECT_EQ((*replaced)->version(), 3u);
}

TEST_F(TopologyServiceTest, SetFiltersWithNoFiltersGoesBackToTheDefaultChain) {
  ASSERT_TRUE(service_->setFilters("web", filters({{"stats", {}}, {"ketama_router", {}}})).ok());
  auto reset = service_->setFilters("web", filters({}));
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ((*reset)->version(), 3u);
  EXPECT_EQ((*reset)->clusters(0).filters_size(), 0);
  EXPECT_EQ(store_.data_.clusters(0).filters_size(), 0);
}

TEST_F(TopologyServiceTest, SetFiltersToTheSameChainIsANoOp) {
  const auto chain =
      filters({{"stats", {}}, {"backup_mirror", {{"mode", "sync"}}}, {"ketama_router", {}}});
  ASSERT_TRUE(service_->setFilters("web", chain).ok());
  int published = 0;
  service_->subscribe([&](const TopologyConstSharedPtr&) { ++published; });
  auto again = service_->setFilters("web", chain);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->version(), 2u);
  EXPECT_EQ(store_.saves_, 2);
  EXPECT_EQ(published, 0);
}

TEST_F(TopologyServiceTest, SetFiltersRefusesUnknownClustersAndBadChains) {
  auto before = service_->snapshot();
  int published = 0;
  service_->subscribe([&](const TopologyConstSharedPtr&) { ++published; });

  auto unknown = service_->setFilters("api", filters({{"ketama_router", {}}}));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "unknown cluster \"api\"");

  auto unnamed = service_->setFilters("web", filters({{"", {}}, {"ketama_router", {}}}));
  EXPECT_EQ(unnamed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unnamed.status().message(), "cluster \"web\": filter #0 has no name");

  auto not_identifier = service_->setFilters("web", filters({{"Rate-Limit", {}}}));
  EXPECT_EQ(not_identifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_identifier.status().message(),
              HasSubstr("filter #0 name \"Rate-Limit\" is not an identifier"));

  auto empty_key = service_->setFilters("web", filters({{"backup_mirror", {{"", "sync"}}}}));
  EXPECT_EQ(empty_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty_key.status().message(), HasSubstr("has an empty option key"));

  // Unknown filter names and options are the proxy's business (it NACKs), not the control plane's.
  EXPECT_TRUE(service_->setFilters("web", filters({{"no_such_filter", {{"x", "y"}}}})).ok());
  EXPECT_EQ(published, 1);
  EXPECT_EQ(service_->snapshot()->version(), before->version() + 1);
}

TEST_F(TopologyServiceTest, CreateClusterChecksFilterNamesLikeSetFilters) {
  mcmesh::v1::Cluster cluster = webCluster();
  cluster.set_name("api");
  cluster.add_filters()->set_name("Stats");
  auto created = service_->createCluster(cluster);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(),
              HasSubstr("cluster \"api\": filter #0 name \"Stats\" is not an identifier"));
  EXPECT_EQ(service_->snapshot()->clusters_size(), 1);
}

TEST(TopologyServiceStartTest, BootstrapIsUsedOnlyWhenStoreIsEmpty) {
  FakeStore store;
  mcmesh::v1::Topology bootstrap;
  *bootstrap.add_clusters() = webCluster();
  auto first = TopologyService::create(store, &bootstrap);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->snapshot()->version(), 1u);
  EXPECT_EQ(store.saves_, 1);
  ASSERT_TRUE((*first)->addNode("web", mcmesh::v1::POOL_KIND_PRIMARY, "127.0.0.1:2", 1).ok());

  auto second = TopologyService::create(store, &bootstrap);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->snapshot()->version(), 2u);
  EXPECT_EQ((*second)->snapshot()->clusters(0).primary().nodes_size(), 2);
}

TEST(TopologyServiceStartTest, InvalidBootstrapFails) {
  FakeStore store;
  mcmesh::v1::Topology bootstrap;
  bootstrap.add_clusters()->set_name("web");
  auto created = TopologyService::create(store, &bootstrap);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("bootstrap topology is invalid"));
  EXPECT_EQ(store.saves_, 0);
}

TEST(TopologyServiceStartTest, RestartOnFileStoreKeepsEverything) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/service-restart.pb";
  ::unlink(path.c_str());
  {
    FileTopologyStore store(path);
    auto service = TopologyService::create(store);
    ASSERT_TRUE(service.ok());
    ASSERT_TRUE((*service)->createCluster(webCluster()).ok());
    ASSERT_TRUE((*service)->addNode("web", mcmesh::v1::POOL_KIND_BACKUP, "127.0.0.9:1", 2).ok());
  }
  FileTopologyStore store(path);
  auto restarted = TopologyService::create(store);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_EQ((*restarted)->snapshot()->version(), 2u);
  EXPECT_EQ((*restarted)->snapshot()->clusters(0).backup().nodes(0).weight(), 2u);
}

} // namespace
} // namespace control_plane
} // namespace mcmesh
