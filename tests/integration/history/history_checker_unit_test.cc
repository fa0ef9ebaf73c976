// The history checker on hand-made histories: it must catch stale reads and accept every read
// that some order of concurrent operations explains.
#include "gtest/gtest.h"
#include "tests/integration/history/history.h"

namespace mcmesh::history {
namespace {

Op set(std::string value, int64_t start, int64_t end, Outcome outcome = Outcome::kAcked) {
  return {1, OpKind::kSet, "k", std::move(value), outcome, start, end};
}
Op del(int64_t start, int64_t end, Outcome outcome = Outcome::kAcked) {
  return {1, OpKind::kDelete, "k", std::nullopt, outcome, start, end};
}
Op get(std::optional<std::string> value, int64_t start, int64_t end) {
  return {2, OpKind::kRead, "k", std::move(value), Outcome::kAcked, start, end};
}

size_t violations(std::vector<Op> history) { return check(history).violations; }

TEST(HistoryChecker, CatchesAReadOfAValueThatAnAckedWriteReplacedBeforeTheReadStarted) {
  EXPECT_EQ(violations({set("a", 0, 10), set("b", 20, 30), get("a", 40, 50)}), 1u);
  CheckResult r = check({set("a", 0, 10), set("b", 20, 30), get("a", 40, 50)});
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_NE(r.examples[0].find("set b"), std::string::npos) << r.examples[0];
}

TEST(HistoryChecker, CatchesADeletedValueComingBack) {
  EXPECT_EQ(violations({set("a", 0, 10), del(20, 30), get("a", 40, 50)}), 1u);
}

TEST(HistoryChecker, CatchesValuesNeverWrittenOrWrittenOnlyAfterTheRead) {
  EXPECT_EQ(violations({set("a", 0, 10), get("zz", 20, 30)}), 1u);
  EXPECT_EQ(violations({get("a", 0, 10), set("a", 20, 30)}), 1u);
}

TEST(HistoryChecker, AcceptsReadsConcurrentWithTheWrites) {
  // The read overlaps the write that replaces a: either order.
  EXPECT_EQ(violations({set("a", 0, 10), set("b", 20, 30), get("a", 25, 35)}), 0u);
  // The read overlaps the write of a itself, and the replacing write started before it ended.
  EXPECT_EQ(violations({set("a", 0, 10), get("a", 5, 8)}), 0u);
  EXPECT_EQ(violations({set("a", 0, 10), set("b", 20, 30), get("b", 15, 25)}), 0u);
  // Two overlapping writes: after both, either value may win.
  EXPECT_EQ(violations({set("a", 0, 20), set("b", 10, 30), get("a", 40, 50)}), 0u);
  EXPECT_EQ(violations({set("a", 0, 20), set("b", 10, 30), get("b", 40, 50)}), 0u);
  // The deleting write overlaps the read.
  EXPECT_EQ(violations({set("a", 0, 10), del(20, 60), get("a", 40, 50)}), 0u);
}

TEST(HistoryChecker, AcceptsMissesAlways) {
  EXPECT_EQ(violations({set("a", 0, 10), get(std::nullopt, 20, 30)}), 0u);
}

TEST(HistoryChecker, UncertainWritesMayLandLateAndReplaceNothing) {
  // A failed write may still land after its client gave up: its value stays readable.
  EXPECT_EQ(violations({set("a", 0, 10, Outcome::kUncertain), set("b", 20, 30), get("a", 40, 50)}),
            0u);
  // A failed write or delete does not prove the old value was replaced.
  EXPECT_EQ(violations({set("a", 0, 10), set("b", 20, 30, Outcome::kUncertain), get("a", 40, 50)}),
            0u);
  EXPECT_EQ(violations({set("a", 0, 10), del(20, 30, Outcome::kUncertain), get("a", 40, 50)}), 0u);
  // But never before it started.
  EXPECT_EQ(violations({get("a", 0, 10), set("a", 20, 30, Outcome::kUncertain)}), 1u);
}

TEST(HistoryChecker, FindsTheOverwriteAmongManyWrites) {
  std::vector<Op> history = {set("a", 0, 10)};
  for (int i = 0; i < 100; ++i) history.push_back(set("x" + std::to_string(i), 100 + i, 300));
  EXPECT_EQ(violations(history), 0u);
  history.push_back(get("a", 250, 260));  // every later write still in flight: allowed
  EXPECT_EQ(violations(history), 0u);
  history.push_back(set("y", 50, 60));  // this one finished before the read started
  EXPECT_EQ(violations(history), 1u);
}

TEST(HistoryChecker, FinalStateMustBeTheLastAcknowledgedWriteWhenWritesDidNotOverlap) {
  std::vector<Op> history = {set("a", 0, 10), set("b", 20, 30)};
  EXPECT_EQ(checkFinalState(history, {get("b", 100, 110)}).mismatches, 0u);
  FinalStateResult stale = checkFinalState(history, {get("a", 100, 110)});
  EXPECT_EQ(stale.determinate, 1u);
  EXPECT_EQ(stale.mismatches, 1u);
  EXPECT_EQ(checkFinalState(history, {get(std::nullopt, 100, 110)}).mismatches, 1u);
  // Deleted last: a miss, and only a miss.
  history.push_back(del(40, 50));
  EXPECT_EQ(checkFinalState(history, {get(std::nullopt, 100, 110)}).mismatches, 0u);
  EXPECT_EQ(checkFinalState(history, {get("b", 100, 110)}).mismatches, 1u);
  // An uncertain write may have landed after the last acknowledged one.
  history.push_back(set("c", 5, 15, Outcome::kUncertain));
  EXPECT_EQ(checkFinalState(history, {get("c", 100, 110)}).mismatches, 0u);
  // Overlapping last writes: not determinate, skipped.
  FinalStateResult overlap =
      checkFinalState({set("a", 0, 20), set("b", 10, 30)}, {get("a", 100, 110)});
  EXPECT_EQ(overlap.determinate, 0u);
  EXPECT_EQ(overlap.mismatches, 0u);
}

}  // namespace
}  // namespace mcmesh::history
