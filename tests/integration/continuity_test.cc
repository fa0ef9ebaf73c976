// Cache continuity with real memcached processes (issue 13, items 5 and 6): a rehydration reaches
// its configured rate on 200,000 keys while a client's p99 is measured with and without it, and
// the hit ratio seen by clients across a primary killed and restarted empty.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
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

// Sanitizer builds (--config=asan/tsan define MCMESH_SANITIZED) run 2-15x slower: they report
// the figures but do not hold them to the bars.
#ifdef MCMESH_SANITIZED
constexpr bool kHoldToBars = false;
constexpr int kBackupKeys = 40000;
#else
constexpr bool kHoldToBars = true;
constexpr int kBackupKeys = 400000;
#endif

class ContinuityTest : public ::testing::Test {
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
  }

  // The proxy's `STAT rehydrate:<primary> ...` fields, or empty.
  std::string rehydrationLine(TextClient& c) {
    auto stats = c.roundTrip("stats proxy\r\n", "END\r\n");
    if (!stats.ok()) return "";
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      if (absl::StrContains(line, absl::StrCat("rehydrate:", primary1_->address()))) {
        return std::string(line);
      }
    }
    return "";
  }

  static uint64_t field(absl::string_view line, absl::string_view name) {
    for (absl::string_view token : absl::StrSplit(line, ' ')) {
      if (absl::ConsumePrefix(&token, name) && absl::ConsumePrefix(&token, "=")) {
        uint64_t v = 0;
        if (absl::SimpleAtoi(token, &v)) return v;
      }
    }
    return 0;
  }

  MemcachedServerPtr primary1_, primary2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
};

// Latencies of single-key gets over `keys`, one request at a time, until `stop`.
struct LatencyProbe {
  std::vector<double> micros;
  void run(int port, const std::vector<std::string>& keys, std::atomic<bool>& stop,
           std::atomic<bool>& failed) {
    auto c = TextClient::connect(port);
    if (!c.ok()) {
      failed = true;
      return;
    }
    for (size_t i = 0; !stop; ++i) {
      absl::Time start = absl::Now();
      auto got = (*c)->get(keys[i % keys.size()]);
      if (!got.ok()) {
        failed = true;
        return;
      }
      micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    }
  }
  double p99() {
    if (micros.empty()) return 0;
    std::sort(micros.begin(), micros.end());
    return micros[micros.size() * 99 / 100];
  }
};

TEST_F(ContinuityTest, RehydrationOf200kKeysRunsAtItsRate) {
  ASSERT_NO_FATAL_FAILURE(startAll());
  // 400,000 keys straight into the backup, pipelined: about half belong to primary 1.
  constexpr int kKeys = kBackupKeys;
  {
    auto b = TextClient::connect(backup_->port());
    ASSERT_TRUE(b.ok()) << b.status();
    constexpr int kBatch = 2000;
    for (int base = 0; base < kKeys; base += kBatch) {
      std::string batch;
      for (int i = base; i < base + kBatch; ++i) {
        absl::StrAppend(&batch, "set rk:", i, " 0 0 7 noreply\r\nv", 100000 + i % 900000, "\r\n");
      }
      ASSERT_TRUE((*b)->send(batch).ok());
    }
    auto last = (*b)->roundTrip("mn\r\n", "MN\r\n");
    ASSERT_TRUE(last.ok()) << last.status();
  }
  // The client's keys, written through the proxy (so both primaries serve them).
  std::vector<std::string> hot;
  {
    auto c = TextClient::connect(proxy_->port());
    ASSERT_TRUE(c.ok());
    for (int i = 0; i < 500; ++i) {
      hot.push_back(absl::StrCat("hot:", i));
      ASSERT_EQ(*(*c)->roundTrip(absl::StrCat("set ", hot.back(), " 0 0 1\r\nx\r\n"), "\r\n"),
                "STORED\r\n");
    }
  }

  std::atomic<bool> stop{false}, failed{false};
  LatencyProbe before;
  std::thread t1([&] { before.run(proxy_->port(), hot, stop, failed); });
  absl::SleepFor(absl::Seconds(2));
  stop = true;
  t1.join();
  ASSERT_FALSE(failed);

  // Restart primary 1 empty: the prober sees a new pid and rehydrates it from the backup.
  ASSERT_TRUE(primary1_->restart().ok());
  stop = false;
  LatencyProbe during;
  std::thread t2([&] { during.run(proxy_->port(), hot, stop, failed); });
  auto stats = TextClient::connect(proxy_->port());
  ASSERT_TRUE(stats.ok());
  absl::Time copying_since = absl::InfinitePast(), done_at = absl::InfinitePast();
  std::string line;
  for (absl::Time deadline = absl::Now() + absl::Seconds(60); absl::Now() < deadline;) {
    line = rehydrationLine(**stats);
    if (copying_since == absl::InfinitePast() && absl::StrContains(line, " copying ")) {
      copying_since = absl::Now();
    }
    if (absl::StrContains(line, " done ") && field(line, "total") > 0) {
      done_at = absl::Now();
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  stop = true;
  t2.join();
  ASSERT_FALSE(failed) << "a client get failed during the rehydration";
  ASSERT_NE(done_at, absl::InfinitePast()) << "rehydration did not finish: " << line;
  ASSERT_NE(copying_since, absl::InfinitePast()) << line;
  const uint64_t total = field(line, "total");
  const double seconds = absl::ToDoubleSeconds(done_at - copying_since);
  const double rate = total / seconds;
  std::cout << "rehydration: " << total << " keys in " << seconds << " s = " << rate
            << " keys/s (configured 50000); " << line << "\n"
            << "client p99 of single-key gets: " << before.p99() << " us without rehydration ("
            << before.micros.size() << " gets), " << during.p99() << " us during it ("
            << during.micros.size() << " gets)\n";
  EXPECT_GT(total, kKeys * 3u / 8);
  EXPECT_EQ(field(line, "failed"), 0u);
  if (kHoldToBars) {
    EXPECT_GE(rate, 50000 * 0.8) << "below the configured rate by more than 20%";
    EXPECT_LE(rate, 50000 * 1.2) << "above the configured rate by more than 20%";
  }
  // Every key the backup holds for primary 1 is now on it: sample through the proxy's view.
  auto p1 = TextClient::connect(primary1_->port());
  ASSERT_TRUE(p1.ok());
  auto items = (*p1)->roundTrip("stats\r\n", "END\r\n");
  ASSERT_TRUE(items.ok());
  EXPECT_TRUE(absl::StrContains(*items, absl::StrCat("STAT curr_items ", total)) ||
              field(line, "copied") + field(line, "skipped") == total)
      << line;
}

TEST_F(ContinuityTest, HitRatioAcrossAPrimaryKilledAndRestartedEmpty) {
  ASSERT_NO_FATAL_FAILURE(startAll());
  constexpr int kKeys = 2000;
  std::vector<std::string> keys;
  {
    auto c = TextClient::connect(proxy_->port());
    ASSERT_TRUE(c.ok());
    for (int i = 0; i < kKeys; ++i) {
      keys.push_back(absl::StrCat("hr:", i));
      ASSERT_EQ(*(*c)->roundTrip(absl::StrCat("set ", keys.back(), " 0 0 2\r\nok\r\n"), "\r\n"),
                "STORED\r\n");
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> hits{0}, misses{0}, errors{0};
  auto reader = [&](int id) {
    auto c = TextClient::connect(proxy_->port());
    if (!c.ok()) {
      ++errors;
      return;
    }
    for (size_t i = id * 7919; !stop; i += 13) {
      auto got = (*c)->get(keys[i % keys.size()]);
      if (!got.ok()) {
        ++errors;
        return;
      }
      (got->has_value() ? hits : misses)++;
    }
  };
  std::thread a(reader, 1), b(reader, 2);
  absl::SleepFor(absl::Milliseconds(500));
  primary1_->kill();
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(primary1_->restart().ok());
  absl::SleepFor(absl::Seconds(3));
  stop = true;
  a.join();
  b.join();
  const double ratio = static_cast<double>(hits) / std::max<uint64_t>(1, hits + misses);
  std::cout << "hit ratio across a primary kill and empty restart: " << ratio << " (" << hits
            << " hits, " << misses << " misses, " << errors << " errors)\n";
  EXPECT_EQ(errors, 0u);
  if (kHoldToBars) EXPECT_GE(ratio, 0.999);
}

}  // namespace
}  // namespace mcmesh::testing
