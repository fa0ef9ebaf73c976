// Runs every scenario of scenarios.h under every schedule (explorer.h) and requires 0
// violations of the invariants; docs/consistency.md's table of interleavings maps onto them
// (rows 1-11). The old read-repair protocol and --mirror=async (documented as not guaranteed)
// must violate: the harness can fail. Prints per scenario how many interleavings were explored.
#include <iostream>

#include "gtest/gtest.h"
#include "tests/unit/replication/explorer.h"
#include "tests/unit/replication/scenarios.h"

namespace mcmesh::testing {
namespace {

using upstream::MirrorMode;

ExploreStats run(Scenario s, MirrorMode mirror) {
  s.spec.mirror = mirror;
  s.name += mirror == MirrorMode::kSync ? " (mirror=sync)" : " (mirror=async)";
  ExploreStats stats = explore(s);
  std::cout << summary(s, stats) << std::endl;
  EXPECT_TRUE(stats.complete) << s.name;
  return stats;
}

void expectSafe(const Scenario& s, MirrorMode mirror = MirrorMode::kSync) {
  ExploreStats stats = run(s, mirror);
  EXPECT_EQ(stats.violating, 0u) << s.name << ": first violating run:\n" << stats.first_violation;
}

// Scenarios whose writes all complete before the reads that could see a lagging mirror hold
// with either mirror mode.
void expectSafeBothMirrors(const Scenario& s) {
  expectSafe(s, MirrorMode::kSync);
  expectSafe(s, MirrorMode::kAsync);
}

void expectViolates(const Scenario& s, MirrorMode mirror) {
  ExploreStats stats = run(s, mirror);
  EXPECT_GT(stats.violating, 0u) << s.name;
  std::cout << "  (expected) example:\n" << stats.first_violation << std::endl;
}

// Rows 1-3: read-repair against a delete, a set, another repair, and both writes.
TEST(InterleavingTest, ReadRepairVsDelete) {
  expectSafeBothMirrors(scenarios::readRepairVsDelete());
}
TEST(InterleavingTest, ReadRepairVsSet) { expectSafeBothMirrors(scenarios::readRepairVsSet()); }
TEST(InterleavingTest, TwoReadRepairs) { expectSafeBothMirrors(scenarios::twoReadRepairs()); }
TEST(InterleavingTest, ReadRepairVsSetVsDelete) {
  expectSafe(scenarios::readRepairVsSetVsDelete());
}
// Row 4: pipelined get then set on one connection, while another proxy's copy leases the key.
// These found the placeholder check that asked the primary again after the set (fixed: a
// suspected placeholder is answered from the backup, read at once).
TEST(InterleavingTest, PipelinedGetThenSet) {
  expectSafeBothMirrors(scenarios::pipelinedGetThenSet());
}
TEST(InterleavingTest, PipelinedGetThenSetOverPlaceholder) {
  expectSafeBothMirrors(scenarios::pipelinedGetThenSetOverPlaceholder());
}
// An empty value with flags 0 looks like a placeholder and is answered from the backup: with
// the sync mirror the backup has it; with async it may still have the old value (documented).
TEST(InterleavingTest, PipelinedGetThenSetEmptyValue) {
  expectSafe(scenarios::pipelinedGetThenSetEmptyValue());
  expectViolates(scenarios::pipelinedGetThenSetEmptyValue(), MirrorMode::kAsync);
}
// Row 5: mirror lag.
TEST(InterleavingTest, MirrorLag) { expectSafeBothMirrors(scenarios::mirrorLag()); }
// Rows 6-7: primary killed and restarted empty; primary stopped and back with old data.
TEST(InterleavingTest, PrimaryKilledRestartedEmpty) {
  expectSafe(scenarios::primaryKilledRestartedEmpty());
}
TEST(InterleavingTest, PrimaryDown) { expectSafe(scenarios::primaryDown()); }
TEST(InterleavingTest, PrimaryDownOneProxy) { expectSafe(scenarios::primaryDownOneProxy()); }
TEST(InterleavingTest, LaggingViewWriteVsReadRepair) {
  expectSafe(scenarios::laggingViewWriteVsReadRepair());
}
// Rows 8-9: node added, node drained.
TEST(InterleavingTest, WarmUpVsDelete) { expectSafeBothMirrors(scenarios::warmUpVsDelete()); }
TEST(InterleavingTest, WarmUpVsSet) { expectSafeBothMirrors(scenarios::warmUpVsSet()); }
TEST(InterleavingTest, DrainVsDelete) { expectSafe(scenarios::drainVsDelete()); }
TEST(InterleavingTest, DrainVsSet) { expectSafe(scenarios::drainVsSet()); }
// Row 10: rehydration.
TEST(InterleavingTest, RehydrateVsSet) { expectSafeBothMirrors(scenarios::rehydrateVsSet()); }
TEST(InterleavingTest, RehydrateVsDelete) { expectSafeBothMirrors(scenarios::rehydrateVsDelete()); }
// Row 11: a proxy dies between lease and store (the placeholder expires with its 5 s TTL).
TEST(InterleavingTest, ProxyDiesDuringCopy) { expectSafe(scenarios::proxyDiesDuringCopy()); }

// The harness is able to fail: the protocol issue 13 reported (read the backup, then a plain
// add) brings a deleted key back in some schedules.
TEST(InterleavingTest, OldProtocolViolates) {
  expectViolates(scenarios::oldProtocolReadRepairVsDelete(), MirrorMode::kSync);
}

// docs/consistency.md, "Not guaranteed": with --mirror=async the copy of an acknowledged set can
// land on the backup after another connection's delete.
TEST(InterleavingTest, AsyncMirrorViolatesAsDocumented) {
  expectViolates(scenarios::mirrorLagVsDeleteAcrossProxies(), MirrorMode::kAsync);
}
// ... and with sync (the default) the same scenarios hold.
TEST(InterleavingTest, SyncMirrorHoldsWhereAsyncDoesNot) {
  expectSafe(scenarios::mirrorLagVsDeleteAcrossProxies(), MirrorMode::kSync);
}

}  // namespace
}  // namespace mcmesh::testing
