// Live topology with real processes: mcmesh_cp, two mcmesh proxies and memcached servers.
// Adds and drains nodes through mcmeshctl while clients read, restarts the control plane, and
// pushes a snapshot a proxy cannot apply.
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proxy/routing/ketama_ring.h"
#include "gtest/gtest.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

class TopologyChangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 4; ++i) {
      auto s = MemcachedServer::start();
      ASSERT_TRUE(s.ok()) << s.status();
      servers_.push_back(std::move(*s));
    }
    auto cp = ControlPlaneProcess::start(testTempPath("topology.pb"));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    cp_port_ = cp_->port();
    ASSERT_EQ(ctl({"create-cluster", "default", servers_[0]->address(), servers_[1]->address(),
                   servers_[2]->address()}),
              0);
  }

  int ctl(std::vector<std::string> args) { return cp_->ctl(args); }

  std::unique_ptr<McmeshProcess> startProxy(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {absl::StrCat("--control_plane=127.0.0.1:", cp_port_),
                                     "--cluster=default", "--concurrency=1",
                                     // This test is about warm migration, not timeouts: keep
                                     // them from firing on a heavily loaded machine.
                                     "--timeout_ms=1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = McmeshProcess::start(args);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  static std::string stat(TextClient& c, const std::string& args, const std::string& name) {
    auto stats = c.roundTrip(absl::StrCat("stats ", args, "\r\n"), "END\r\n");
    if (!stats.ok()) return "";
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      std::string prefix = absl::StrCat("STAT ", name, " ");
      if (absl::StartsWith(line, prefix)) return std::string(line.substr(prefix.size()));
    }
    return "";
  }

  static uint64_t version(TextClient& c) {
    uint64_t v = 0;
    (void)absl::SimpleAtoi(stat(c, "proxy", "topology_version"), &v);
    return v;
  }

  // Waits until every client's proxy reports `want`; returns how long it took.
  absl::Duration awaitVersion(const std::vector<TextClient*>& clients, uint64_t want) {
    absl::Time start = absl::Now(), deadline = start + absl::Seconds(5);
    for (TextClient* c : clients) {
      while (version(*c) < want && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
      EXPECT_GE(version(*c), want);
    }
    return absl::Now() - start;
  }

  // How many requests a proxy has sent to `address` (its `stats servers` line).
  static uint64_t requestsTo(TextClient& c, const std::string& address) {
    auto stats = c.roundTrip("stats servers\r\n", "END\r\n");
    if (!stats.ok()) return 0;
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      if (line.find(address + " ") == absl::string_view::npos) continue;
      size_t at = line.find("requests=");
      uint64_t n = 0;
      if (at != absl::string_view::npos) {
        (void)absl::SimpleAtoi(line.substr(at + 9, line.find(' ', at) - at - 9), &n);
      }
      return n;
    }
    return 0;
  }

  std::vector<MemcachedServerPtr> servers_;
  int cp_port_ = 0;
  std::unique_ptr<ControlPlaneProcess> cp_;
};

std::string key(int i) { return absl::StrCat("user:", i); }

// The readers' patience. Sanitizer builds (--config=asan/tsan define MCMESH_SANITIZED) run the
// proxies 2-15x slower on a machine that also runs four memcacheds and the control plane: CI's
// ASan run once saw a get take over 2 s during remove-node. Lost replies still fail the test.
#ifdef MCMESH_SANITIZED
constexpr absl::Duration kReaderTimeout = absl::Seconds(10);
#else
constexpr absl::Duration kReaderTimeout = absl::Seconds(2);
#endif

TEST_F(TopologyChangeTest, AddAndDrainKeepTheHitRatioWithoutDroppingConnections) {
  auto a = startProxy();
  auto b = startProxy();
  ASSERT_TRUE(a && b);
  auto ca = std::move(*TextClient::connect(a->port()));
  auto cb = std::move(*TextClient::connect(b->port()));
  awaitVersion({ca.get(), cb.get()}, 1);
  constexpr int kKeys = 10000;
  for (int i = 0; i < kKeys; ++i) {
    // Setup, not the subject: on a saturated machine a write may time out; retry it.
    std::string reply;
    for (int attempt = 0; attempt < 3 && reply != "STORED"; ++attempt) {
      reply = ca->set(key(i), "v").value_or("");
    }
    ASSERT_EQ(reply, "STORED") << key(i);
  }

  // Readers on both proxies over connections opened before any change; they must survive.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> hits{0}, misses{0}, errors{0};
  std::atomic<uint64_t> passes[2] = {0, 0};  // whole passes over the keys, per reader.
  std::mutex error_mutex;
  std::string first_error;
  auto reader = [&](int port, int id) {
    auto c = TextClient::connect(port, kReaderTimeout);
    if (!c.ok()) {
      errors++;
      return;
    }
    for (int i = 0; !stop.load(); i = (i + 1) % kKeys) {
      auto v = (*c)->get(key(i));
      if (!v.ok()) {
        errors++;
        std::lock_guard<std::mutex> lock(error_mutex);
        first_error = absl::StrCat(key(i), " on port ", port, ": ", v.status().ToString());
        return;  // the connection is unusable: counted, and the test fails below
      }
      (v->has_value() ? hits : misses)++;
      if (i == kKeys - 1) passes[id]++;
    }
  };
  // Waits until each reader has finished `n` more passes (the first may have begun before a
  // change: n = 2 is one whole pass after it), so every key was read through both proxies.
  // Counting both readers' passes together let one fast reader end a phase while the other had
  // read a few keys: keys nobody read during the drain were never copied and missed at removal.
  auto awaitPasses = [&](uint64_t n) {
    const uint64_t a0 = passes[0].load(), b0 = passes[1].load();
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while ((passes[0].load() < a0 + n || passes[1].load() < b0 + n) && errors.load() == 0 &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  };
  std::thread ra(reader, a->port(), 0), rb(reader, b->port(), 1);
  awaitPasses(1);
  uint64_t hits_before = hits, misses_before = misses;

  // Add a 4th node: both proxies apply it and send it traffic within a second.
  const std::string fourth = servers_[3]->address();
  absl::Time t0 = absl::Now();
  ASSERT_EQ(ctl({"add-node", "default", fourth}), 0);
  absl::Duration applied = awaitVersion({ca.get(), cb.get()}, 2);
  while ((requestsTo(*ca, fourth) == 0 || requestsTo(*cb, fourth) == 0) &&
         absl::Now() - t0 < absl::Seconds(1)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::Duration traffic = absl::Now() - t0;
  EXPECT_GT(requestsTo(*ca, fourth), 0u);
  EXPECT_GT(requestsTo(*cb, fourth), 0u);
  EXPECT_LT(traffic, absl::Seconds(1));
  awaitPasses(2);
  uint64_t misses_after_add = misses - misses_before;

  // Drain the first node: it leaves the ring but still serves warm-up reads.
  ASSERT_EQ(ctl({"drain-node", "default", servers_[0]->address()}), 0);
  awaitVersion({ca.get(), cb.get()}, 3);
  awaitPasses(2);
  uint64_t misses_after_drain = misses - misses_before - misses_after_add;
  ASSERT_EQ(ctl({"remove-node", "default", servers_[0]->address()}), 0);
  awaitVersion({ca.get(), cb.get()}, 4);
  awaitPasses(1);
  stop = true;
  ra.join();
  rb.join();

  uint64_t h = hits - hits_before, m = misses - misses_before;
  double ratio = static_cast<double>(h) / static_cast<double>(h + m);
  // What plain consistent hashing would have lost: keys whose owner changed.
  std::vector<ketama::RingServer> before, after;
  for (int i = 0; i < 3; ++i) before.push_back({servers_[i]->host(), servers_[i]->port(), 1, ""});
  for (int i = 1; i < 4; ++i) after.push_back({servers_[i]->host(), servers_[i]->port(), 1, ""});
  auto ring_before = ketama::KetamaRing::build(before);
  auto ring_after = ketama::KetamaRing::build(after);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const auto& x = before[ring_before->serverIndexFor(key(i))];
    const auto& y = after[ring_after->serverIndexFor(key(i))];
    if (x.port != y.port) ++moved;
  }
  std::cout << "hit ratio during add+drain+remove: " << ratio << " (" << h << " hits, " << m
            << " misses); plain ketama would move " << 100.0 * moved / kKeys
            << "% of keys; config applied on both proxies in " << applied
            << ", new node took traffic after " << traffic << "; warm copies: proxy A "
            << stat(*ca, "proxy", "warm_copies") << ", proxy B " << stat(*cb, "proxy", "warm_copies")
            << "; misses by phase: add " << misses_after_add << ", drain " << misses_after_drain
            << ", remove " << (m - misses_after_add - misses_after_drain) << "\n";
  EXPECT_EQ(errors.load(), 0u) << "a client connection was dropped or failed: " << first_error;
  EXPECT_GE(ratio, 0.99);
  EXPECT_GT(moved, kKeys / 5);
}

TEST_F(TopologyChangeTest, ProxiesKeepServingWithoutTheControlPlaneAndConverge) {
  auto a = startProxy();
  auto b = startProxy();
  ASSERT_TRUE(a && b);
  auto ca = std::move(*TextClient::connect(a->port()));
  auto cb = std::move(*TextClient::connect(b->port()));
  awaitVersion({ca.get(), cb.get()}, 1);
  ASSERT_EQ(ca->set("k", "v").value_or(""), "STORED");
  // mcmesh_control_plane_state / `stats proxy`: 2 = connected, 1 = connecting.
  auto awaitState = [&](TextClient& c, const std::string& want) {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (stat(c, "proxy", "control_plane_state") != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return stat(c, "proxy", "control_plane_state");
  };
  EXPECT_EQ(awaitState(*ca, "2"), "2");
  cp_->kill();
  EXPECT_EQ(awaitState(*cb, "1"), "1") << "the proxy should notice the control plane is gone";
  // Still serving the last good topology.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(cb->get("k").value_or(std::nullopt).value_or("<miss>"), "v");
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Restart on the same store: proxies resubscribe and converge on the persisted version,
  // then follow the next change.
  ASSERT_TRUE(cp_->restart().ok());
  ASSERT_EQ(ctl({"add-node", "default", servers_[3]->address()}), 0);
  absl::Duration took = awaitVersion({ca.get(), cb.get()}, 2);
  std::cout << "after control-plane restart both proxies applied version 2 in " << took << "\n";
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(awaitState(*cb, "2"), "2");
  EXPECT_EQ(ca->get("k").value_or(std::nullopt).value_or("<miss>"), "v");
}

TEST_F(TopologyChangeTest, InvalidChangesAreRefusedAndUnappliableSnapshotsNacked) {
  auto a = startProxy();
  ASSERT_TRUE(a);
  auto ca = std::move(*TextClient::connect(a->port()));
  awaitVersion({ca.get()}, 1);
  EXPECT_EQ(ctl({"add-node", "default", "not-an-address"}), 1);
  EXPECT_EQ(ctl({"add-node", "nope", servers_[3]->address()}), 1);
  EXPECT_EQ(ctl({"remove-node", "default", "127.0.0.1:1"}), 1);
  EXPECT_EQ(version(*ca), 1u) << "a refused change must not produce a new version";

  // A cluster whose filter chain names a filter this proxy doesn't have: the control plane
  // accepts it (filters are proxy-side), the proxy NACKs and keeps its bootstrap topology.
  ASSERT_EQ(ctl({"create-cluster", "custom", servers_[3]->address(), "--filter=no_such_filter",
                 "--filter=ketama_router"}),
            0);
  auto c = McmeshProcess::start({"-s", servers_[2]->address(),
                                 absl::StrCat("--control_plane=127.0.0.1:", cp_port_),
                                 "--cluster=custom", "--concurrency=1"});
  ASSERT_TRUE(c.ok()) << c.status();
  auto cc = std::move(*TextClient::connect((*c)->port()));
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(cc->set("still", "served").value_or(""), "STORED");
  EXPECT_EQ(version(*cc), 0u) << "the bootstrap topology (version 0) must stay";
  // The NACK and its reason are visible at the control plane.
  std::string out = absl::StrCat(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp",
                                 "/proxies.json");
  auto sh = ChildProcess::start(
      {"/bin/sh", "-c",
       absl::StrCat(runfilePath("control_plane/mcmeshctl"), " --control_plane=127.0.0.1:",
                    cp_port_, " --json proxies > ", out)});
  ASSERT_TRUE(sh.ok());
  while ((*sh)->running()) absl::SleepFor(absl::Milliseconds(5));
  std::ifstream in(out);
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(json.find("unknown filter 'no_such_filter'"), std::string::npos) << json;
}

}  // namespace
}  // namespace mcmesh::testing
