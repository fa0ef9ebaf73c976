// Failure behaviour with real memcached processes: a primary killed mid-load, a primary stopped
// (SIGSTOP) and resumed, both primaries restarted empty (rehydration), and TTLs kept on repair.
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Milliseconds(250);  // mcmesh's default request timeout

class FailureTest : public ::testing::Test {
 protected:
  void startAll(std::vector<std::string> extra = {}) {
    for (auto* server : {&primary1_, &primary2_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    std::vector<std::string> args = {"-s", primary1_->address(), "-s", primary2_->address(),
                                     "-b", backup_->address(), "--concurrency=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto proxy = McmeshProcess::start(args);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
    auto client = TextClient::connect(proxy_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  static std::string key(int i) { return absl::StrCat("key:", i); }

  // Which primary a key landed on, asked directly.
  MemcachedServer* ownerOf(const std::string& k) {
    for (auto* s : {primary1_.get(), primary2_.get()}) {
      auto c = TextClient::connect(s->port());
      if (c.ok() && (*c)->get(k).ok() && (*(*c)->get(k)).has_value()) return s;
    }
    return nullptr;
  }

  // The raw `mg <key> f t v` reply from a server: "VA <n> f<flags> t<ttl>" or "EN".
  std::string metaGet(const MemcachedServer& s, const std::string& k) {
    auto c = TextClient::connect(s.port());
    if (!c.ok()) return "connect failed";
    auto line = (*c)->roundTrip(absl::StrCat("mg ", k, " f t v\r\n"), "\r\n");
    return line.ok() ? *line : "error";
  }

  std::string statsLine(const std::string& name) {
    auto stats = client_->roundTrip("stats proxy\r\n", "END\r\n");
    if (!stats.ok()) return "";
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      std::string prefix = absl::StrCat("STAT ", name, " ");
      if (absl::StartsWith(line, prefix)) return std::string(line.substr(prefix.size()));
    }
    return "";
  }

  MemcachedServerPtr primary1_, primary2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
  std::unique_ptr<TextClient> client_;
};

TEST_F(FailureTest, KillingAPrimaryMidLoadNeverHoldsAClientPastTheTimeout) {
  startAll();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(*client_->set(key(i), "v"), "STORED");
  absl::Duration worst;
  int errors = 0, requests = 0, misses = 0;
  absl::Time kill_at = absl::Now() + absl::Milliseconds(500);
  absl::Time end = absl::Now() + absl::Seconds(2);
  bool killed = false;
  for (int i = 0; absl::Now() < end; ++i) {
    if (!killed && absl::Now() >= kill_at) {
      primary1_->kill();
      killed = true;
    }
    absl::Time start = absl::Now();
    bool ok;
    if (i % 4 == 0) {
      auto r = client_->set(key(i % 200), "v");
      ok = r.ok() && *r == "STORED";
    } else {
      auto r = client_->get(key(i % 200));
      ok = r.ok();
      if (ok && !r->has_value()) ++misses;
    }
    worst = std::max(worst, absl::Now() - start);
    ++requests;
    if (!ok) ++errors;
  }
  std::cout << "kill mid-load: requests=" << requests << " errors=" << errors
            << " misses=" << misses << " worst_latency=" << worst << "\n";
  EXPECT_TRUE(killed);
  EXPECT_LT(worst, kTimeout + absl::Milliseconds(50));
  EXPECT_LE(errors, 2) << "client-visible errors must stay within the ejection threshold";
  EXPECT_EQ(misses, 0) << "every key is on the backup too";
}

TEST_F(FailureTest, StoppedPrimaryFailsOverWithinTheTimeoutAndIsUsedAgainAfterResume) {
  startAll();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(*client_->set(key(i), "old"), "STORED");
  MemcachedServer* victim = ownerOf(key(0));
  ASSERT_NE(victim, nullptr);
  ::kill(victim->pid(), SIGSTOP);
  absl::Duration worst;
  int errors = 0;
  absl::Time end = absl::Now() + absl::Seconds(2);
  for (int i = 0; absl::Now() < end; ++i) {
    absl::Time start = absl::Now();
    // Overwrite key 0 while its primary is stopped: this write must not be lost or shadowed.
    auto r = (i % 2 == 0) ? client_->set(key(0), "new") : client_->set(key(i % 50), "new");
    worst = std::max(worst, absl::Now() - start);
    if (!r.ok() || *r != "STORED") ++errors;
  }
  ::kill(victim->pid(), SIGCONT);
  std::cout << "SIGSTOP 2s: errors=" << errors << " worst_latency=" << worst << "\n";
  EXPECT_LT(worst, kTimeout + absl::Milliseconds(50));
  EXPECT_EQ(errors, 0) << "writes go to the backup while the primary is stopped";

  // After resume the primary is retried (backoff <= 2 s) and used again; its stale copy of
  // key 0 was deleted on recovery, so we read the value written during the outage.
  absl::Time deadline = absl::Now() + absl::Seconds(6);
  std::string servers;
  bool used_again = false;
  while (absl::Now() < deadline && !used_again) {
    auto v = client_->get(key(0));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->value_or("<miss>"), "new");
    auto c = TextClient::connect(victim->port());
    auto direct = (*c)->get(key(0));
    used_again = direct.ok() && direct->has_value() && **direct == "new";
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(used_again) << "the resumed primary should hold key 0 again (repaired)";
  auto fresh = client_->set("after-resume", "x");
  EXPECT_EQ(fresh.value_or(""), "STORED");
}

// The first request on a new upstream connection may wait for the connect deadline; a later one
// must still time out after the (shorter) request timeout, not when the first one would have.
TEST_F(FailureTest, RequestTimeoutHoldsAfterALongerConnectDeadline) {
  startAll({"--connect_timeout_ms=3000", "--timeout_ms=100"});
  // Opens the connection (deadline 3 s). With a 100 ms timeout a probe may eject a primary on a
  // loaded machine (sanitizers); the write then lands on the backup only, so try again.
  MemcachedServer* victim = nullptr;
  for (int attempt = 0; attempt < 10 && victim == nullptr; ++attempt) {
    ASSERT_EQ(*client_->set(key(0), "old"), "STORED");
    victim = ownerOf(key(0));
    if (victim == nullptr) absl::SleepFor(absl::Milliseconds(300));
  }
  ASSERT_NE(victim, nullptr);
  ::kill(victim->pid(), SIGSTOP);
  absl::Time start = absl::Now();
  auto r = client_->set(key(0), "new");
  absl::Duration took = absl::Now() - start;
  ::kill(victim->pid(), SIGCONT);
  std::cout << "set to a stopped primary after a 3 s connect deadline: " << took << "\n";
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "STORED") << "the write goes to the backup after the timeout";
  EXPECT_LT(took, absl::Milliseconds(1500)) << "timed out on the connect deadline, not 100 ms";
}

TEST_F(FailureTest, RestartedEmptyPrimariesAreRehydratedWithFlagsAndTtls) {
  startAll();
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    auto r = client_->roundTrip(absl::StrCat("set ", key(i), " ", i, " ", i % 2 ? 600 : 0,
                                             " 5\r\nvalue\r\n"),
                                "\r\n");
    ASSERT_EQ(r.value_or(""), "STORED\r\n");
  }
  // Async mirroring: wait until the backup holds everything.
  absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (absl::Now() < deadline && metaGet(*backup_, key(kKeys - 1)).rfind("VA", 0) != 0) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(1500));  // let the prober learn both pids
  ASSERT_TRUE(primary1_->restart().ok());
  ASSERT_TRUE(primary2_->restart().ok());
  // Right after the restart every key is still served (miss-failover to the backup).
  for (int i = 0; i < kKeys; i += 37) {
    auto v = client_->get(key(i));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->value_or("<miss>"), "value") << key(i);
  }
  // Rehydration copies the rest back in the background.
  deadline = absl::Now() + absl::Seconds(15);
  int on_primaries = 0;
  while (absl::Now() < deadline) {
    on_primaries = 0;
    for (int i = 0; i < kKeys; ++i) {
      if (metaGet(*primary1_, key(i)).rfind("VA", 0) == 0 ||
          metaGet(*primary2_, key(i)).rfind("VA", 0) == 0) {
        ++on_primaries;
      }
    }
    if (on_primaries == kKeys) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::cout << "rehydrated " << on_primaries << "/" << kKeys << " keys; "
            << statsLine(absl::StrCat("rehydrate:", primary1_->address())) << "\n";
  EXPECT_EQ(on_primaries, kKeys);
  // Flags and TTLs survive the copy.
  for (int i = 0; i < kKeys; ++i) {
    std::string reply = metaGet(*primary1_, key(i));
    if (reply.rfind("VA", 0) != 0) reply = metaGet(*primary2_, key(i));
    EXPECT_NE(reply.find(absl::StrCat(" f", i, " ")), std::string::npos) << reply;
    if (i % 2 == 0) {
      EXPECT_NE(reply.find(" t-1"), std::string::npos) << reply;
    } else {
      EXPECT_EQ(reply.find(" t-1"), std::string::npos) << "expiry lost: " << reply;
    }
  }
}

TEST_F(FailureTest, RepairKeepsTheRemainingTtlNeverRemovesExpiry) {
  startAll({"--rehydrate=false"});  // only the read path repairs here
  ASSERT_EQ(client_->roundTrip("set ttlkey 3 30 2\r\nhi\r\n", "\r\n").value_or(""), "STORED\r\n");
  MemcachedServer* owner = ownerOf("ttlkey");
  ASSERT_NE(owner, nullptr);
  absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (absl::Now() < deadline && metaGet(*backup_, "ttlkey").rfind("VA", 0) != 0) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Seconds(2));
  ASSERT_TRUE(owner->restart().ok());
  // A probe may have caught the owner down during the restart: while it is
  // ejected its reads are served by the backup and there is nothing to repair
  // into, so keep reading until the owner is back in the ring and gets the copy.
  std::string reply;
  deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    EXPECT_EQ(client_->roundTrip("get ttlkey\r\n", "END\r\n").value_or(""),
              "VALUE ttlkey 3 2\r\nhi\r\nEND\r\n");
    absl::SleepFor(absl::Milliseconds(20));
    reply = metaGet(*owner, "ttlkey");
    if (reply.rfind("VA", 0) == 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(reply.rfind("VA", 0), 0u) << "not repaired: " << reply;
  size_t t = reply.find(" t");
  ASSERT_NE(t, std::string::npos) << reply;
  int64_t ttl = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::string_view(reply).substr(t + 2, reply.find_first_of(" \r", t + 2) - t - 2), &ttl)) << reply;
  std::cout << "repaired TTL: " << ttl << "s (set with 30s, ~2s earlier)\n";
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 30);
}

TEST(RehashPolicyTest, WithoutABackupAnEjectedPrimarysKeysMoveToTheOthers) {
  std::vector<MemcachedServerPtr> servers;
  for (int i = 0; i < 3; ++i) {
    auto s = MemcachedServer::start();
    ASSERT_TRUE(s.ok()) << s.status();
    servers.push_back(std::move(*s));
  }
  auto proxy = McmeshProcess::start({"-s", servers[0]->address(), "-s", servers[1]->address(),
                                     "-s", servers[2]->address(), "--eject_policy=rehash",
                                     "--concurrency=1"});
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto client = std::move(*TextClient::connect((*proxy)->port()));
  servers[0]->kill();
  // Until the dead server is ejected (2 failures) its keys fail; then they rehash onto the
  // remaining two and every write and read-your-write succeeds.
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    std::string key = absl::StrCat("rehash:", i);
    auto r = client->set(key, "v");
    ASSERT_TRUE(r.ok()) << r.status();
    if (*r != "STORED") {
      ++failures;
      continue;
    }
    EXPECT_EQ(client->get(key).value_or(std::nullopt).value_or("<miss>"), "v") << key;
  }
  std::cout << "rehash policy: " << failures << " failed writes before ejection\n";
  EXPECT_LE(failures, 2);
  // The keys are on the survivors.
  int on_survivors = 0;
  for (int i = 0; i < 300; ++i) {
    for (int s = 1; s < 3; ++s) {
      auto c = TextClient::connect(servers[s]->port());
      if ((*c)->get(absl::StrCat("rehash:", i)).value_or(std::nullopt).has_value()) ++on_survivors;
    }
  }
  EXPECT_GE(on_survivors, 300 - failures);
}

}  // namespace
}  // namespace mcmesh::testing
