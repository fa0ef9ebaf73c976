// Servers named through a DNS server the test controls: a slow or dead resolver never delays
// clients, and a name that moves takes its traffic along without failing a request.
//
// MCMESH_DNS_TEST_LEGACY_BINARY=/path/to/an/older/mcmesh runs the latency test against a build
// that resolves with the system resolver (no --dns_* flags): run the test binary then in a
// namespace whose /etc/resolv.conf says "nameserver 127.0.0.1" (the fake server takes port 53),
// e.g. unshare -rmn (see docs/operating.md "DNS").
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proxy/routing/ketama_ring.h"
#include "gtest/gtest.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/fake_dns_server.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

class DnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* legacy = std::getenv("MCMESH_DNS_TEST_LEGACY_BINARY");
    legacy_binary_ = legacy != nullptr ? legacy : "";
    auto dns = FakeDnsServer::start(legacy_binary_.empty() ? 0 : 53);
    ASSERT_TRUE(dns.ok()) << dns.status();
    dns_ = std::move(*dns);
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string dir = tmp != nullptr ? tmp : "/tmp";
    resolv_conf_ = absl::StrCat(dir, "/resolv.conf.", getpid());
    hosts_file_ = absl::StrCat(dir, "/hosts.", getpid());
    // One attempt, 5 s: the slow name (3 s) is answered, the silent one times out.
    std::ofstream(resolv_conf_) << "nameserver 127.0.0.1:" << dns_->port()
                                << "\noptions timeout:5 attempts:1\n";
    std::ofstream(hosts_file_) << "# empty: every name goes to the test's DNS server\n";
  }

  std::unique_ptr<McmeshProcess> startProxy(std::vector<std::string> args, int refresh_ms) {
    if (legacy_binary_.empty()) {
      args.push_back(absl::StrCat("--dns_resolv_conf=", resolv_conf_));
      args.push_back(absl::StrCat("--dns_hosts_file=", hosts_file_));
      args.push_back(absl::StrCat("--dns_refresh_ms=", refresh_ms));
    }
    // pickFreePort races with other tests: a taken admin port makes mcmesh exit; try again.
    for (int attempt = 0; attempt < 3; ++attempt) {
      admin_port_ = pickFreePort();
      std::vector<std::string> with_admin = args;
      with_admin.push_back(absl::StrCat("--admin_port=", admin_port_));
      auto proxy = legacy_binary_.empty() ? McmeshProcess::start(with_admin)
                                          : McmeshProcess::start(with_admin, legacy_binary_);
      if (proxy.ok() && waitForPort(admin_port_, absl::Seconds(5)) &&
          (*proxy)->process().running()) {
        return std::move(*proxy);
      }
    }
    return nullptr;
  }

  // The `stats servers` line of `address`, e.g. "moving:1234 weight=1 ... resolved=...".
  static std::string serverLine(TextClient& c, const std::string& address) {
    auto stats = c.roundTrip("stats servers\r\n", "END\r\n");
    if (!stats.ok()) return "";
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      if (absl::StrContains(line, absl::StrCat(" ", address, " "))) return std::string(line);
    }
    return "";
  }

  static std::string memcachedStat(const std::string& host, int port, const std::string& name) {
    auto c = TextClient::connectTo(host, port);
    if (!c.ok()) return "";
    auto stats = (*c)->roundTrip("stats\r\n", "END\r\n");
    if (!stats.ok()) return "";
    for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
      std::string prefix = absl::StrCat("STAT ", name, " ");
      if (absl::StartsWith(line, prefix)) return std::string(line.substr(prefix.size()));
    }
    return "";
  }

  std::string legacy_binary_;
  std::unique_ptr<FakeDnsServer> dns_;
  std::string resolv_conf_;
  std::string hosts_file_;
  int admin_port_ = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// What clients of servers without an address do meanwhile: one asks for their keys every 2 ms
// (each try is a connect attempt for an unresolved name), another polls /healthz.
class Pressure {
 public:
  Pressure(int port, int admin_port, std::vector<std::string> keys)
      : keys_(std::move(keys)),
        disruptor_([this, port] { disrupt(port); }),
        poller_([this, admin_port] { pollHealth(admin_port); }) {}
  ~Pressure() { stop(); }
  void stop() {
    stop_ = true;
    if (disruptor_.joinable()) disruptor_.join();
    if (poller_.joinable()) poller_.join();
  }
  uint64_t requests() const { return requests_.load(); }
  double worstHealthzMs() const { return worst_healthz_ms_.load(); }

 private:
  void disrupt(int port) {
    auto c = TextClient::connect(port, absl::Seconds(30));
    if (!c.ok()) return;
    for (size_t i = 0; !stop_.load() && i < 100000; ++i) {
      (void)(*c)->roundTrip(absl::StrCat("get ", keys_[i % keys_.size()], "\r\n"), "\r\n");
      requests_++;
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  void pollHealth(int admin_port) {
    for (int i = 0; !stop_.load() && i < 200; ++i) {
      absl::Time t = absl::Now();
      (void)httpRequest(admin_port, "GET", "/healthz", "", absl::Seconds(10));
      double ms = absl::ToDoubleMilliseconds(absl::Now() - t);
      if (ms > worst_healthz_ms_.load()) worst_healthz_ms_ = ms;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  std::vector<std::string> keys_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0};
  std::atomic<double> worst_healthz_ms_{0};
  std::thread disruptor_;
  std::thread poller_;
};

struct PacedRun {
  std::vector<double> latency_ms;
  int failed = 0;
  double p50() const { return percentile(latency_ms, 0.50); }
  double p99() const { return percentile(latency_ms, 0.99); }
  double max() const { return *std::max_element(latency_ms.begin(), latency_ms.end()); }
};

// The victim: gets of `keys` (all stored, on a healthy server) every 5 ms. Latency counts from
// when a request was due, so a stall also counts for the requests it kept from being sent (no
// coordinated omission).
PacedRun pacedGets(int port, const std::vector<std::string>& keys, int count) {
  PacedRun run;
  auto victim = TextClient::connect(port, absl::Seconds(30));
  if (!victim.ok()) {
    run.failed = count;
    run.latency_ms.push_back(0);
    return run;
  }
  const absl::Duration kPace = absl::Milliseconds(5);
  absl::Time start = absl::Now();
  for (int i = 0; i < count; ++i) {
    absl::Time due = start + i * kPace;
    absl::Time now = absl::Now();
    if (now < due) absl::SleepFor(due - now);
    auto reply = (*victim)->get(keys[i % keys.size()]);
    run.latency_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - due));
    if (!reply.ok() || !reply->has_value()) ++run.failed;
  }
  return run;
}

// Splits keys between ring member 0 (the healthy server) and the others.
void keysByOwner(const std::vector<ketama::RingServer>& members, std::vector<std::string>* healthy,
                 std::vector<std::string>* others) {
  auto ring = ketama::KetamaRing::build(members);
  ASSERT_TRUE(ring.ok()) << ring.status();
  for (int i = 0; healthy->size() < 50 || others->size() < 50; ++i) {
    std::string k = absl::StrCat("key:", i);
    (ring->serverIndexFor(k) == 0 ? healthy : others)->push_back(k);
  }
}

// What this guards against is a worker stalled for the resolver's 3000 ms: one such stall makes
// ~40% of the paced requests late by up to 3 s (the legacy build measured p99 > 30 s). The bound
// leaves room for a loaded shared machine, where one 100 ms descheduling already delays 20
// requests (measured here: p99 2-4 ms idle; 57-102 ms at load average 7-9 on 2 cores).
constexpr double kP99BoundMs = 250.0;

TEST_F(DnsTest, ASlowAndADeadResolverAddNoLatencyForClientsOfTheSameWorker) {
  auto healthy = MemcachedServer::start();
  auto named = MemcachedServer::start();
  ASSERT_TRUE(healthy.ok() && named.ok());
  dns_->setDelay(absl::Seconds(3));
  dns_->setA("slow.mcmesh.test", {"127.0.0.1"});
  dns_->setSilent("never.mcmesh.test");
  std::string slow = absl::StrCat("slow.mcmesh.test:", (*named)->port());
  std::string never = absl::StrCat("never.mcmesh.test:", (*named)->port());
  // One worker: the victim and the clients of the unresolved servers share its loop.
  auto proxy = startProxy({"-s", (*healthy)->address(), "-s", slow, "-s", never,
                           "--concurrency=1"},
                          /*refresh_ms=*/1000);
  ASSERT_NE(proxy, nullptr);
  std::vector<std::string> healthy_keys, named_keys;
  keysByOwner({{"127.0.0.1", (*healthy)->port(), 1, ""},
               {"slow.mcmesh.test", (*named)->port(), 1, ""},
               {"never.mcmesh.test", (*named)->port(), 1, ""}},
              &healthy_keys, &named_keys);
  {
    auto setup = TextClient::connect(proxy->port());
    ASSERT_TRUE(setup.ok());
    for (const auto& k : healthy_keys) ASSERT_EQ((*setup)->set(k, "v").value_or(""), "STORED");
  }

  Pressure pressure(proxy->port(), admin_port_, named_keys);
  // 7 s: covers the 3 s lookups twice.
  PacedRun run = pacedGets(proxy->port(), healthy_keys, 1400);
  pressure.stop();
  std::printf("victim gets of a healthy server (%s): p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
              "%llu requests for unresolved names meanwhile; worst /healthz %.1f ms\n",
              legacy_binary_.empty() ? "this build" : "legacy build", run.p50(), run.p99(),
              run.max(), static_cast<unsigned long long>(pressure.requests()),
              pressure.worstHealthzMs());
  EXPECT_EQ(run.failed, 0);
  EXPECT_LT(run.p99(), kP99BoundMs);
  EXPECT_LT(pressure.worstHealthzMs(), 500.0);
  EXPECT_GT(pressure.requests(), 100u);

  if (!legacy_binary_.empty()) return;
  // The slow name was answered after 3 s and serves; the silent one has no address.
  auto c = TextClient::connect(proxy->port());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(absl::StrContains(serverLine(**c, slow),
                                absl::StrCat("resolved=127.0.0.1:", (*named)->port(),
                                             " dns=resolved")))
      << serverLine(**c, slow);
  EXPECT_TRUE(absl::StrContains(serverLine(**c, never), "resolved=- dns=failed"))
      << serverLine(**c, never);
  EXPECT_GT(dns_->queries("slow.mcmesh.test"), 0u);
}

// The case: `mcmeshctl add-node default nosuch...:42998` with a DNS server that takes
// 3 s to answer (and never answers for that name) while clients use the healthy server.
TEST_F(DnsTest, AddingANodeWhoseNameNeverResolvesAddsNoLatencyToHealthyServers) {
  auto healthy = MemcachedServer::start();
  ASSERT_TRUE(healthy.ok());
  auto cp = ControlPlaneProcess::start(testTempPath("dns_topology.pb"));
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_EQ((*cp)->ctl({"create-cluster", "default", (*healthy)->address()}), 0);
  dns_->setDelay(absl::Seconds(3));
  dns_->setSilent("nosuch.mcmesh.test");
  auto proxy = startProxy({absl::StrCat("--control_plane=127.0.0.1:", (*cp)->port()),
                           "--cluster=default", "--concurrency=1"},
                          /*refresh_ms=*/1000);
  ASSERT_NE(proxy, nullptr);
  std::vector<std::string> healthy_keys, added_keys;
  keysByOwner({{"127.0.0.1", (*healthy)->port(), 1, ""}, {"nosuch.mcmesh.test", 42998, 1, ""}},
              &healthy_keys, &added_keys);
  auto c = TextClient::connect(proxy->port());
  ASSERT_TRUE(c.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (serverLine(**c, (*healthy)->address()).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (const auto& k : healthy_keys) ASSERT_EQ((*c)->set(k, "v").value_or(""), "STORED");

  ASSERT_EQ((*cp)->ctl({"add-node", "default", "nosuch.mcmesh.test:42998"}), 0);
  std::string added = "nosuch.mcmesh.test:42998";
  deadline = absl::Now() + absl::Seconds(10);
  while (serverLine(**c, added).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_FALSE(serverLine(**c, added).empty()) << "the proxy never applied add-node";
  Pressure pressure(proxy->port(), admin_port_, added_keys);
  PacedRun run = pacedGets(proxy->port(), healthy_keys, 1400);
  pressure.stop();
  std::printf("after add-node of a name that never resolves (%s): victim p50 %.2f ms, "
              "p99 %.2f ms, max %.2f ms; %llu requests for the new node; worst /healthz %.1f ms\n",
              legacy_binary_.empty() ? "this build" : "legacy build", run.p50(), run.p99(),
              run.max(), static_cast<unsigned long long>(pressure.requests()),
              pressure.worstHealthzMs());
  EXPECT_EQ(run.failed, 0);
  EXPECT_LT(run.p99(), kP99BoundMs);
  EXPECT_LT(pressure.worstHealthzMs(), 500.0);
  if (!legacy_binary_.empty()) return;
  std::string line = serverLine(**c, added);
  EXPECT_TRUE(absl::StrContains(line, "resolved=- dns=failed")) << line;
  EXPECT_TRUE(absl::StrContains(line, "ejected_workers=1")) << line;
}

TEST_F(DnsTest, AMovedNameTakesItsTrafficWithinOnePeriodWithoutAFailedRequest) {
  if (!legacy_binary_.empty()) GTEST_SKIP() << "the legacy build has no --dns_refresh_ms";
  auto first = MemcachedServer::start(0, "127.0.0.1");
  ASSERT_TRUE(first.ok()) << first.status();
  // The same port on another loopback address: only DNS tells the two apart.
  auto second = MemcachedServer::start((*first)->port(), "127.0.0.2");
  ASSERT_TRUE(second.ok()) << second.status();
  int port = (*first)->port();
  dns_->setA("moving.mcmesh.test", {"127.0.0.1"});
  std::string name = absl::StrCat("moving.mcmesh.test:", port);
  constexpr int kRefreshMs = 500;
  auto proxy = startProxy({"-s", name, "--concurrency=1"}, kRefreshMs);
  ASSERT_NE(proxy, nullptr);
  auto c = TextClient::connect(proxy->port());
  ASSERT_TRUE(c.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains(serverLine(**c, name), "dns=resolved") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(absl::StrContains(serverLine(**c, name),
                                absl::StrCat("resolved=127.0.0.1:", port, " dns=resolved")))
      << serverLine(**c, name);

  // Writes and reads in a loop; the name moves to the second server half-way.
  auto direct_second = TextClient::connectTo("127.0.0.2", port);
  ASSERT_TRUE(direct_second.ok());
  int failures = 0, requests = 0;
  std::string first_failure;
  absl::Time moved_at = absl::InfinitePast(), arrived_at = absl::InfinitePast();
  absl::Time start = absl::Now();
  for (int i = 0; i < 20000 && absl::Now() - start < absl::Seconds(6); ++i) {
    if (moved_at == absl::InfinitePast() && absl::Now() - start > absl::Seconds(1)) {
      dns_->setA("moving.mcmesh.test", {"127.0.0.2"});
      moved_at = absl::Now();
    }
    std::string key = absl::StrCat("k", i);
    auto stored = (*c)->set(key, "v");
    auto got = (*c)->get(key);
    requests += 2;
    if (!stored.ok() || *stored != "STORED") {
      ++failures;
      if (first_failure.empty()) first_failure = stored.ok() ? *stored : stored.status().ToString();
    }
    if (!got.ok()) {
      ++failures;
      if (first_failure.empty()) first_failure = got.status().ToString();
    }
    if (moved_at != absl::InfinitePast() && arrived_at == absl::InfinitePast()) {
      auto there = (*direct_second)->get(key);
      if (there.ok() && there->has_value()) arrived_at = absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_NE(arrived_at, absl::InfinitePast()) << "writes never reached the new address";
  double moved_ms = absl::ToDoubleMilliseconds(arrived_at - moved_at);
  std::printf("name moved: writes reached the new address %.0f ms after the DNS change "
              "(refresh period %d ms); %d of %d requests failed\n",
              moved_ms, kRefreshMs, failures, requests);
  EXPECT_EQ(failures, 0) << first_failure;
  // One period, plus the lookup and a loaded machine's scheduling.
  EXPECT_LE(moved_ms, kRefreshMs + 500.0);
  // Nothing goes to the old address any more.
  std::string sets_before = memcachedStat("127.0.0.1", port, "cmd_set");
  for (int i = 0; i < 50; ++i) ASSERT_EQ((*c)->set(absl::StrCat("after", i), "v").value_or(""),
                                         "STORED");
  EXPECT_EQ(memcachedStat("127.0.0.1", port, "cmd_set"), sets_before);
  // The old connection was drained and closed: one connection left, to the new address.
  std::string expected = absl::StrCat("127.0.0.2:", port);
  std::string line = serverLine(**c, name);
  EXPECT_TRUE(absl::StrContains(line, absl::StrCat("resolved=", expected, " dns=resolved")))
      << line;
  EXPECT_TRUE(absl::StrContains(line, "connections=1 ")) << line;
  EXPECT_TRUE(absl::StrContains(line, "errors=0 ")) << line;

  // /topology and /metrics show the same address.
  auto topology = httpRequest(admin_port_, "GET", "/topology");
  ASSERT_TRUE(topology.ok());
  EXPECT_TRUE(absl::StrContains(topology->body, absl::StrCat("\"resolved\":\"", expected,
                                                             "\",\"dns\":{\"state\":\"resolved\"")))
      << topology->body;
  auto metrics = httpRequest(admin_port_, "GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(absl::StrContains(
      metrics->body, absl::StrCat("mcmesh_upstream_address_info{pool=\"primary\",server=\"", name,
                                  "\",address=\"", expected, "\"} 1")))
      << metrics->body;
}

}  // namespace
}  // namespace mcmesh::testing
