// Tests the proxy's NACK decision: (epoch, version) never goes backwards without a reset.
#include "control_plane/snapshot_order.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::HasSubstr;

TEST(SnapshotOrderTest, FreshProxyTakesAnything) {
  EXPECT_TRUE(checkSnapshotOrder({0, 0}, {0, 1}, false).ok());
  EXPECT_TRUE(checkSnapshotOrder({0, 0}, {3, 1}, false).ok());
}

TEST(SnapshotOrderTest, NewerVersionIsApplied) {
  EXPECT_TRUE(checkSnapshotOrder({0, 108}, {0, 109}, false).ok());
  EXPECT_TRUE(checkSnapshotOrder({2, 5}, {2, 500}, false).ok());
}

// The case: a recreated control plane offers version 1 to a proxy at 108.
TEST(SnapshotOrderTest, OlderVersionIsNackedWithTheRemedy) {
  absl::Status status = checkSnapshotOrder({0, 108}, {0, 1}, false);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("snapshot version 1 (epoch 0) is older than the "
                                          "version 108 (epoch 0) this proxy runs"));
  EXPECT_THAT(status.message(), HasSubstr("mcmeshctl reset-epoch 1"));
}

TEST(SnapshotOrderTest, SameVersionSameContentIsNotARefusal) {
  EXPECT_TRUE(checkSnapshotOrder({0, 7}, {0, 7}, false).ok());
}

TEST(SnapshotOrderTest, SameVersionOtherContentIsNacked) {
  absl::Status status = checkSnapshotOrder({0, 7}, {0, 7}, true);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("two topologies under one version"));
}

TEST(SnapshotOrderTest, HigherEpochIsAppliedWhateverItsVersion) {
  EXPECT_TRUE(checkSnapshotOrder({0, 108}, {1, 2}, false).ok());
  EXPECT_TRUE(checkSnapshotOrder({1, 2}, {4, 1}, false).ok());
}

TEST(SnapshotOrderTest, LowerEpochIsNackedEvenWithAHigherVersion) {
  absl::Status status = checkSnapshotOrder({2, 5}, {1, 900}, false);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("older epoch"));
  EXPECT_THAT(status.message(), HasSubstr("mcmeshctl reset-epoch 3"));
}

} // namespace
} // namespace control_plane
} // namespace mcmesh
