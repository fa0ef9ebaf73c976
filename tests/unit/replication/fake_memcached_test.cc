// The fake server answers as memcached 1.6.18 does (the facts measured in issue 13, item 2), so
// schedules explored against it mean something for real servers.
#include "tests/unit/replication/fake_memcached.h"

#include "gtest/gtest.h"

namespace mcmesh::testing {
namespace {

constexpr int64_t kNow = 1'700'000'000;

Request req(Command c, const std::string& key) {
  Request r;
  r.command = c;
  r.keys.push_back(key);
  return r;
}

Request lease(const std::string& key, int64_t ttl) {
  Request r = req(Command::kMetaGet, key);
  r.meta.vivify = true;
  r.exptime = ttl;
  return r;
}

Request store(Command c, const std::string& key, const std::string& value, uint64_t cas = 0) {
  Request r = req(c, key);
  r.value = value;
  r.cas_unique = cas;
  return r;
}

TEST(FakeMemcachedTest, LeaseOnMissLeavesPlaceholderAndWinsOnce) {
  FakeMemcached m;
  // `mg k v c N30` on a miss: VA 0 c<cas> W, an empty placeholder.
  Response first = m.handle(lease("k", 30), kNow);
  ASSERT_EQ(first.type, ResponseType::kValues);
  ASSERT_EQ(first.items.size(), 1u);
  EXPECT_EQ(first.items[0].meta_extra, "W");
  EXPECT_EQ(first.items[0].value, "");
  EXPECT_NE(first.items[0].cas, 0u);
  // Later mg (with or without N) see Z: someone else holds the lease.
  Response second = m.handle(lease("k", 30), kNow);
  EXPECT_EQ(second.items.at(0).meta_extra, "Z");
  EXPECT_EQ(second.items[0].cas, first.items[0].cas);
  EXPECT_EQ(m.handle(req(Command::kMetaGet, "k"), kNow).items.at(0).meta_extra, "Z");
  // A plain get answers the placeholder as a hit with an empty value and flags 0.
  Response get = m.handle(req(Command::kGet, "k"), kNow);
  ASSERT_EQ(get.items.size(), 1u);
  EXPECT_EQ(get.items[0].value, "");
  EXPECT_EQ(get.items[0].flags, 0u);
  // The placeholder expires with the lease TTL.
  EXPECT_TRUE(m.handle(req(Command::kGet, "k"), kNow + 30).items.empty());
}

TEST(FakeMemcachedTest, MetaGetWithoutVivifyMissesAndReportsTtl) {
  FakeMemcached m;
  EXPECT_TRUE(m.handle(req(Command::kMetaGet, "k"), kNow).items.empty());  // EN
  Request set = store(Command::kSet, "k", "v");
  set.flags = 7;
  set.exptime = 100;
  ASSERT_EQ(m.handle(set, kNow).type, ResponseType::kStored);
  Response r = m.handle(req(Command::kMetaGet, "k"), kNow + 40);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].value, "v");
  EXPECT_EQ(r.items[0].flags, 7u);
  EXPECT_EQ(r.items[0].ttl, 60);
  EXPECT_EQ(r.items[0].meta_extra, "");
  EXPECT_EQ(m.handle(lease("k", 5), kNow).items.at(0).meta_extra, "");  // a hit: no lease.
}

TEST(FakeMemcachedTest, CasAgainstLeaseCatchesSetAndDelete) {
  FakeMemcached m;
  // `ms k C<cas>` after a set: EX.
  uint64_t cas = m.handle(lease("k", 30), kNow).items.at(0).cas;
  ASSERT_EQ(m.handle(store(Command::kSet, "k", "client"), kNow).type, ResponseType::kStored);
  EXPECT_EQ(m.handle(store(Command::kCas, "k", "copy", cas), kNow).type, ResponseType::kExists);
  EXPECT_EQ(m.handle(req(Command::kGet, "k"), kNow).items.at(0).value, "client");
  // After a delete: NF.
  ASSERT_EQ(m.handle(req(Command::kDelete, "k"), kNow).type, ResponseType::kDeleted);
  cas = m.handle(lease("k", 30), kNow).items.at(0).cas;
  ASSERT_EQ(m.handle(req(Command::kDelete, "k"), kNow).type, ResponseType::kDeleted);
  EXPECT_EQ(m.handle(store(Command::kCas, "k", "copy", cas), kNow).type, ResponseType::kNotFound);
  // Untouched: the copy stores and the item is an ordinary one (no Z any more).
  cas = m.handle(lease("k", 30), kNow).items.at(0).cas;
  EXPECT_EQ(m.handle(store(Command::kCas, "k", "copy", cas), kNow).type, ResponseType::kStored);
  EXPECT_EQ(m.handle(req(Command::kMetaGet, "k"), kNow).items.at(0).meta_extra, "");
}

TEST(FakeMemcachedTest, DeleteWithCas) {
  FakeMemcached m;
  Request md = req(Command::kDelete, "k");
  md.cas_unique = 99;
  EXPECT_EQ(m.handle(md, kNow).type, ResponseType::kNotFound);
  uint64_t cas = m.handle(lease("k", 30), kNow).items.at(0).cas;
  md.cas_unique = cas + 1;
  EXPECT_EQ(m.handle(md, kNow).type, ResponseType::kExists);
  md.cas_unique = cas;
  EXPECT_EQ(m.handle(md, kNow).type, ResponseType::kDeleted);
}

TEST(FakeMemcachedTest, StorageCommands) {
  FakeMemcached m;
  EXPECT_EQ(m.handle(store(Command::kReplace, "k", "x"), kNow).type, ResponseType::kNotStored);
  EXPECT_EQ(m.handle(store(Command::kAppend, "k", "x"), kNow).type, ResponseType::kNotStored);
  EXPECT_EQ(m.handle(store(Command::kAdd, "k", "a"), kNow).type, ResponseType::kStored);
  EXPECT_EQ(m.handle(store(Command::kAdd, "k", "b"), kNow).type, ResponseType::kNotStored);
  EXPECT_EQ(m.handle(store(Command::kAppend, "k", "z"), kNow).type, ResponseType::kStored);
  EXPECT_EQ(m.handle(store(Command::kPrepend, "k", "<"), kNow).type, ResponseType::kStored);
  EXPECT_EQ(m.handle(req(Command::kGet, "k"), kNow).items.at(0).value, "<az");
  EXPECT_EQ(m.handle(store(Command::kCas, "j", "x", 5), kNow).type, ResponseType::kNotFound);
  Response gets = m.handle(req(Command::kGets, "k"), kNow);
  const uint64_t cas = gets.items.at(0).cas;
  EXPECT_EQ(m.handle(store(Command::kCas, "k", "y", cas + 1), kNow).type, ResponseType::kExists);
  EXPECT_EQ(m.handle(store(Command::kCas, "k", "y", cas), kNow).type, ResponseType::kStored);
  // A placeholder exists for add (NOT_STORED), as the item memcached really stored.
  m.handle(lease("p", 30), kNow);
  EXPECT_EQ(m.handle(store(Command::kAdd, "p", "a"), kNow).type, ResponseType::kNotStored);
}

TEST(FakeMemcachedTest, ArithmeticTouchVersionFlush) {
  FakeMemcached m;
  Request incr = req(Command::kIncr, "n");
  incr.delta = 5;
  EXPECT_EQ(m.handle(incr, kNow).type, ResponseType::kNotFound);
  m.put("n", "10");
  EXPECT_EQ(m.handle(incr, kNow).text, "15");
  Request decr = req(Command::kDecr, "n");
  decr.delta = 100;
  EXPECT_EQ(m.handle(decr, kNow).text, "0");
  m.put("s", "abc");
  EXPECT_EQ(m.handle(incr, kNow).type, ResponseType::kNumber);
  Request bad = req(Command::kIncr, "s");
  bad.delta = 1;
  EXPECT_EQ(m.handle(bad, kNow).type, ResponseType::kClientError);
  Request touch = req(Command::kTouch, "s");
  touch.exptime = 10;
  EXPECT_EQ(m.handle(touch, kNow).type, ResponseType::kTouched);
  EXPECT_EQ(m.find("s", kNow + 10), nullptr);
  Request get2 = req(Command::kGet, "n");
  get2.keys.push_back("n");  // duplicates are answered twice.
  EXPECT_EQ(m.handle(get2, kNow).items.size(), 2u);
  EXPECT_EQ(m.handle(req(Command::kVersion, ""), kNow).type, ResponseType::kVersion);
  EXPECT_EQ(m.handle(req(Command::kFlushAll, ""), kNow).type, ResponseType::kOk);
  EXPECT_EQ(m.find("n", kNow), nullptr);
}

}  // namespace
}  // namespace mcmesh::testing
