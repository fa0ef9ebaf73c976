// Pure parts of the replication module: the miss policy's windows and budget, the dirty journal's
// encoding, TTL conversion for copies, and what the backup copy of a write is.
#include "gtest/gtest.h"
#include "proxy/replication/dirty_journal.h"
#include "proxy/replication/lease_copy.h"
#include "proxy/replication/miss_policy.h"
#include "proxy/replication/write_path.h"

namespace mcmesh::replication {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(MissPolicyTest, AWindowSendsEveryMissToTheBackupUntilItCloses) {
  MissPolicy policy({absl::Seconds(10), /*budget_per_second=*/0});
  EXPECT_FALSE(policy.shouldReadBackup("p1", "b", kT0));
  policy.openWindow("p1", kT0);
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(policy.shouldReadBackup("p1", "b", kT0));
  EXPECT_FALSE(policy.shouldReadBackup("p2", "b", kT0)) << "windows are per primary";
  EXPECT_FALSE(policy.shouldReadBackup("p1", "b", kT0 + absl::Seconds(10)));
}

TEST(MissPolicyTest, OutsideAWindowTheBudgetBoundsBackupReadsPerBackup) {
  MissPolicy policy({absl::Seconds(10), /*budget_per_second=*/100});
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += policy.shouldReadBackup("p1", "b", kT0);
  EXPECT_EQ(allowed, 100);
  EXPECT_TRUE(policy.shouldReadBackup("p1", "other-backup", kT0)) << "budgets are per backup";
  // Half a second later, half a second's worth of tokens.
  allowed = 0;
  for (int i = 0; i < 1000; ++i) {
    allowed += policy.shouldReadBackup("p1", "b", kT0 + absl::Milliseconds(500));
  }
  EXPECT_EQ(allowed, 50);
}

TEST(DirtyJournalTest, EntriesRoundTripAnyKeyBytesAndRepeatsAreListedOnce) {
  const std::string odd("a:b\r\n 9:x\0y", 11);
  std::string journal = encodeJournalEntry("k1") + encodeJournalEntry(odd) +
                        encodeJournalEntry("k1") + encodeJournalEntry("k2");
  std::vector<std::string> keys;
  ASSERT_TRUE(decodeJournal(journal, &keys));
  EXPECT_EQ(keys, (std::vector<std::string>{"k1", odd, "k2"}));
  ASSERT_TRUE(decodeJournal("", &keys));
  EXPECT_TRUE(keys.empty());
}

TEST(DirtyJournalTest, ACorruptJournalIsRefusedNotHalfRead) {
  std::vector<std::string> keys;
  EXPECT_FALSE(decodeJournal("3:k1", &keys));     // shorter than it says.
  EXPECT_FALSE(decodeJournal("x:k", &keys));      // not a length.
  EXPECT_FALSE(decodeJournal("0:", &keys));       // empty key.
  EXPECT_FALSE(decodeJournal("2:k12:", &keys));   // second entry cut.
  EXPECT_EQ(journalKeyFor(upstream::HostConfig{"10.0.0.1:11211"}), "mcmesh:dirty:10.0.0.1:11211");
}

TEST(LeaseCopyTest, RemainingTtlBecomesAnExptimeMemcachedReadsTheSameWay) {
  EXPECT_EQ(exptimeForRemainingTtl(-1, kT0), 0);  // never expires.
  EXPECT_EQ(exptimeForRemainingTtl(30, kT0), 30);
  EXPECT_EQ(exptimeForRemainingTtl(60 * 60 * 24 * 30, kT0), 60 * 60 * 24 * 30);
  // Over 30 days memcached reads a Unix time.
  EXPECT_EQ(exptimeForRemainingTtl(60 * 60 * 24 * 31, kT0), 1'800'000'000 + 60 * 60 * 24 * 31);
}

TEST(LeaseCopyTest, PlaceholdersAreRecognisedByTheirMetaFlags) {
  Item item;
  EXPECT_FALSE(isPlaceholder(item));
  item.meta_extra = "s0 W";
  EXPECT_TRUE(isPlaceholder(item));
  EXPECT_TRUE(isLeasePlaceholder(item));
  item.meta_extra = "Z s0";
  EXPECT_TRUE(isLeasePlaceholder(item));
  item.meta_extra = "X";
  EXPECT_TRUE(isPlaceholder(item));
  EXPECT_FALSE(isLeasePlaceholder(item)) << "X (stale) is a client's md I, not a lease";
  item.meta_extra = "s1 hW";  // a token that merely contains W is not the flag.
  EXPECT_FALSE(isPlaceholder(item));
}

TEST(WritePathTest, TheBackupGetsWhatThePrimaryApplied) {
  EXPECT_TRUE(primaryApplied(Command::kSet, ResponseType::kStored));
  EXPECT_FALSE(primaryApplied(Command::kAdd, ResponseType::kNotStored));
  EXPECT_FALSE(primaryApplied(Command::kCas, ResponseType::kExists));
  EXPECT_TRUE(primaryApplied(Command::kDelete, ResponseType::kNotFound))
      << "a delete still clears the backup's copy";
  EXPECT_FALSE(primaryApplied(Command::kIncr, ResponseType::kNotFound));
  EXPECT_TRUE(primaryApplied(Command::kIncr, ResponseType::kNumber));

  for (Command c : {Command::kAdd, Command::kReplace, Command::kCas}) {
    Request r;
    r.command = c;
    r.cas_unique = 42;
    r.noreply = true;
    r.meta.quiet = true;
    Request copy = mirrorRequestFor(r);
    EXPECT_EQ(copy.command, Command::kSet) << commandName(c);
    EXPECT_EQ(copy.cas_unique, 0u);
    EXPECT_FALSE(copy.noreply);
    EXPECT_FALSE(copy.meta.quiet);
  }
  Request append;
  append.command = Command::kAppend;
  EXPECT_EQ(mirrorRequestFor(append).command, Command::kAppend);
}

}  // namespace
}  // namespace mcmesh::replication
