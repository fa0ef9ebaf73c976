// ClusterSnapshot: validation, drained nodes leave the ring, and warm-up owners after changes.
#include "proxy/upstream/cluster_snapshot.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace mcmesh::upstream {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000000);

HostConfig host(int i, NodeState state = NodeState::kActive) {
  HostConfig h = *parseHostAddress(absl::StrCat("10.0.0.", i, ":11211"));
  h.state = state;
  return h;
}

ClusterConfig config(std::vector<HostConfig> primaries) {
  ClusterConfig c;
  c.primaries = std::move(primaries);
  return c;
}

ClusterSnapshotConstSharedPtr make(ClusterConfig c, ClusterSnapshotConstSharedPtr prev = nullptr,
                                   absl::Time now = kT0) {
  auto s = ClusterSnapshot::create(std::move(c), prev, now);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

TEST(ClusterSnapshotTest, RejectsDuplicatesZeroWeightAndNoActivePrimary) {
  auto dup = ClusterSnapshot::create(config({host(1), host(1)}), nullptr, kT0);
  EXPECT_EQ(dup.status().message(), "server 10.0.0.1:11211 is listed twice in cluster default");
  HostConfig zero = host(2);
  zero.weight = 0;
  EXPECT_FALSE(ClusterSnapshot::create(config({host(1), zero}), nullptr, kT0).ok());
  auto none = ClusterSnapshot::create(config({host(1, NodeState::kDraining)}), nullptr, kT0);
  EXPECT_EQ(none.status().message(), "cluster default has no active primary server");
  EXPECT_FALSE(parseHostAddress("nohost").ok());
  EXPECT_FALSE(parseHostAddress("h:0").ok());
  EXPECT_TRUE(parseHostAddress("[::1]:11211").ok());
}

TEST(ClusterSnapshotTest, UnchangedMembershipHasNoWarmUp) {
  auto a = make(config({host(1), host(2), host(3)}));
  auto b = make(config({host(1), host(2), host(3)}), a);
  for (int k = 0; k < 1000; ++k) EXPECT_EQ(b->previousOwnerFor(absl::StrCat("k", k), kT0), nullptr);
}

TEST(ClusterSnapshotTest, AddedNodeWarmsUpFromPreviousOwnersUntilTheWindowEnds) {
  auto a = make(config({host(1), host(2), host(3)}));
  auto b = make(config({host(1), host(2), host(3), host(4)}), a);
  int moved = 0;
  for (int k = 0; k < 10000; ++k) {
    std::string key = absl::StrCat("k", k);
    const HostConfig* prev = b->previousOwnerFor(key, kT0 + absl::Seconds(1));
    if (b->primaryFor(key).address != a->primaryFor(key).address) {
      ++moved;
      EXPECT_EQ(b->primaryFor(key).address, "10.0.0.4:11211");  // keys only move to the new node
      ASSERT_NE(prev, nullptr);
      EXPECT_EQ(prev->address, a->primaryFor(key).address);
    } else {
      EXPECT_EQ(prev, nullptr);
    }
    EXPECT_EQ(b->previousOwnerFor(key, kT0 + absl::Minutes(5)), nullptr);  // window over
  }
  EXPECT_GT(moved, 1500);  // about a quarter of the keys move
  EXPECT_LT(moved, 3500);
}

TEST(ClusterSnapshotTest, DrainedNodeLeavesTheRingButServesWarmUpUntilRemoved) {
  auto a = make(config({host(1), host(2), host(3)}));
  auto drained = make(config({host(1, NodeState::kDraining), host(2), host(3)}), a);
  auto later = make(config({host(1, NodeState::kDraining), host(2), host(3)}), drained,
                    kT0 + absl::Hours(2));  // an unrelated push keeps the drain's window
  auto removed = make(config({host(2), host(3)}), later, kT0 + absl::Hours(3));
  int from_drained = 0;
  for (int k = 0; k < 5000; ++k) {
    std::string key = absl::StrCat("k", k);
    EXPECT_NE(drained->primaryFor(key).address, "10.0.0.1:11211");
    if (a->primaryFor(key).address == "10.0.0.1:11211") {
      const HostConfig* prev = later->previousOwnerFor(key, kT0 + absl::Hours(2));
      ASSERT_NE(prev, nullptr);
      EXPECT_EQ(prev->address, "10.0.0.1:11211");
      EXPECT_EQ(prev->state, NodeState::kDraining);
      ++from_drained;
    }
    EXPECT_EQ(removed->previousOwnerFor(key, kT0 + absl::Hours(3)), nullptr);
  }
  EXPECT_GT(from_drained, 1000);
}

TEST(ClusterSnapshotTest, AddThenDrainStillFindsKeysNotYetCopiedAfterTheAdd) {
  auto a = make(config({host(1), host(2), host(3)}));
  auto added = make(config({host(1), host(2), host(3), host(4)}), a);
  auto drained =
      make(config({host(1, NodeState::kDraining), host(2), host(3), host(4)}), added,
           kT0 + absl::Seconds(10));
  int checked = 0;
  for (int k = 0; k < 5000; ++k) {
    std::string key = absl::StrCat("k", k);
    const std::string& original = a->primaryFor(key).address;
    const std::string& now_owner = drained->primaryFor(key).address;
    if (original == now_owner) continue;
    // Wherever the key was written originally is still reachable as a warm-up source.
    const HostConfig* prev = drained->previousOwnerFor(key, kT0 + absl::Seconds(11));
    ASSERT_NE(prev, nullptr) << key;
    if (added->primaryFor(key).address == now_owner) {
      EXPECT_EQ(prev->address, original) << key;
      ++checked;
    }
  }
  EXPECT_GT(checked, 500);
}

}  // namespace
}  // namespace mcmesh::upstream
