// Runs every scenario of scenarios.h under every schedule (explorer.h) and requires 0
// violations of the invariants; the old read-repair protocol must violate (the harness can
// fail). Prints per scenario how many interleavings were explored.
#include <iostream>

#include "gtest/gtest.h"
#include "tests/unit/replication/explorer.h"
#include "tests/unit/replication/scenarios.h"

namespace mcmesh::testing {
namespace {

void expectSafe(const Scenario& scenario, upstream::MirrorMode mirror) {
  Scenario s = scenario;
  s.spec.mirror = mirror;
  if (mirror == upstream::MirrorMode::kSync) s.name += " (mirror=sync)";
  ExploreStats stats = explore(s);
  std::cout << summary(s, stats) << std::endl;
  EXPECT_TRUE(stats.complete) << s.name;
  EXPECT_EQ(stats.violating, 0u) << s.name << ": first violating run:\n" << stats.first_violation;
}

void expectSafeBothMirrors(const Scenario& scenario) {
  expectSafe(scenario, upstream::MirrorMode::kAsync);
  expectSafe(scenario, upstream::MirrorMode::kSync);
}

TEST(InterleavingTest, ReadRepairVsDelete) { expectSafeBothMirrors(scenarios::readRepairVsDelete()); }
TEST(InterleavingTest, ReadRepairVsSet) { expectSafeBothMirrors(scenarios::readRepairVsSet()); }
TEST(InterleavingTest, TwoReadRepairs) { expectSafeBothMirrors(scenarios::twoReadRepairs()); }
// mirror=async violates (known_bugs_test.cc: an async mirror of the set lands on the backup after
// the other client's delete).
TEST(InterleavingTest, ReadRepairVsSetVsDeleteSyncMirror) {
  expectSafe(scenarios::readRepairVsSetVsDelete(), upstream::MirrorMode::kSync);
}
TEST(InterleavingTest, MirrorLag) { expectSafeBothMirrors(scenarios::mirrorLag()); }
// PrimaryDown lives in known_bugs_test.cc until journalDrain waits for its journal read.
TEST(InterleavingTest, WarmUpVsDelete) { expectSafeBothMirrors(scenarios::warmUpVsDelete()); }
TEST(InterleavingTest, WarmUpVsSet) { expectSafeBothMirrors(scenarios::warmUpVsSet()); }
TEST(InterleavingTest, RehydrateVsSet) { expectSafeBothMirrors(scenarios::rehydrateVsSet()); }
TEST(InterleavingTest, RehydrateVsDelete) { expectSafeBothMirrors(scenarios::rehydrateVsDelete()); }
TEST(InterleavingTest, PipelinedGetThenSet) {
  expectSafeBothMirrors(scenarios::pipelinedGetThenSet());
}

// The harness is able to fail: the protocol issue 13 reported (read the backup, then a plain
// add) brings a deleted key back in some schedules.
TEST(InterleavingTest, OldProtocolViolates) {
  Scenario s = scenarios::oldProtocolReadRepairVsDelete();
  ExploreStats stats = explore(s);
  std::cout << summary(s, stats) << " (expected > 0)" << std::endl;
  EXPECT_TRUE(stats.complete);
  EXPECT_GT(stats.violating, 0u);
  std::cout << "example:\n" << stats.first_violation << std::endl;
}

}  // namespace
}  // namespace mcmesh::testing
