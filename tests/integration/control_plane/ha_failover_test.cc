// Failures around the replicated control plane, with real processes: a proxy's replica dies, the
// etcd leader dies, etcd loses quorum. Clients of the proxies must never notice.
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/control_plane/ha_cluster.h"

namespace mcmesh::testing {
namespace {

constexpr int kA = 0, kB = 1;

// Sets and reads back keys through one proxy until stopped; counts every failed or wrong reply.
class ClientLoad {
 public:
  ClientLoad(int port, std::string name) : port_(port), name_(std::move(name)) {
    thread_ = std::thread([this] { run(); });
  }
  ~ClientLoad() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int requests() const { return requests_; }
  int errors() const { return errors_; }
  std::string firstError() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_error_;
  }

 private:
  void fail(const std::string& what) {
    ++errors_;
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_error_.empty()) first_error_ = what;
  }
  void run() {
    auto client = TextClient::connect(port_);
    if (!client.ok()) {
      fail(client.status().ToString());
      return;
    }
    for (int i = 0; !stopping_; ++i) {
      const std::string key = absl::StrCat(name_, ":", i % 500);
      const std::string value = absl::StrCat("v", i);
      auto stored = (*client)->set(key, value);
      auto got = (*client)->get(key);
      requests_ += 2;
      if (!stored.ok() || *stored != "STORED") {
        fail(absl::StrCat("set ", key, ": ", stored.ok() ? *stored : stored.status().ToString()));
      } else if (!got.ok() || !got->has_value() || **got != value) {
        fail(absl::StrCat("get ", key, ": ",
                          got.ok() ? got->value_or("(miss)") : got.status().ToString()));
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  const int port_;
  const std::string name_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> errors_{0};
  std::mutex mutex_;
  std::string first_error_;
  std::thread thread_;
};

class HaFailoverTest : public HaClusterTest {};

TEST_F(HaFailoverTest, KillingTheReplicaAProxyUsesMovesItWithinTwoSecondsWithoutClientErrors) {
  ClientLoad load(ha_->proxy(0).port(), "kill-replica");
  absl::SleepFor(absl::Milliseconds(300));

  // p0 is subscribed to B. Kill B, then change the topology through A at once: p0 runs the new
  // version only once it has moved to a live replica.
  const absl::Time killed = absl::Now();
  ha_->killReplica(kB);
  auto version = ha_->addNode(kA, "scratch", "10.9.0.1:11211");
  ASSERT_TRUE(version.ok()) << version.status();
  auto took = ha_->awaitProxyVersion(0, *version, absl::Seconds(5));
  ASSERT_TRUE(took.ok()) << took.status();
  const absl::Duration moved = absl::Now() - killed;

  std::string now_on;
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (absl::Now() < deadline && (now_on.empty() || now_on == "B")) {
    auto proxies = ha_->proxies(kA);
    for (const auto& p : proxies.ok() ? *proxies : std::vector<mcmesh::v1::ProxyStatus>()) {
      if (p.id() == "p0" && p.connected()) now_on = p.control_plane();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(300));
  load.stop();
  std::printf(
      "replica B killed: p0 runs version %llu from replica %s %s after the kill; client "
      "through p0: %d requests, %d errors\n",
      static_cast<unsigned long long>(*version), now_on.c_str(),
      absl::FormatDuration(moved).c_str(), load.requests(), load.errors());
  EXPECT_LT(moved, absl::Seconds(2));
  EXPECT_NE(now_on, "B");
  EXPECT_FALSE(now_on.empty());
  EXPECT_GT(load.requests(), 0);
  EXPECT_EQ(load.errors(), 0) << load.firstError();
}

TEST_F(HaFailoverTest, KillingTheEtcdLeaderLosesNoAcknowledgedChange) {
  ClientLoad load(ha_->proxy(1).port(), "kill-leader");
  auto leader = ha_->etcd().leader();
  ASSERT_TRUE(leader.ok()) << leader.status();

  // One writer per replica, each adding nodes one after another, before and after the kill.
  std::mutex mutex;
  std::vector<std::string> acked;
  std::vector<std::string> refused;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> first_success_after_kill_us{-1};
  std::atomic<int64_t> kill_at_us{0};
  auto now_us = [] { return absl::ToUnixMicros(absl::Now()); };
  std::vector<std::thread> writers;
  for (int r = 0; r < 3; ++r) {
    writers.emplace_back([&, r] {
      for (int i = 0; !stopping; ++i) {
        const std::string address =
            absl::StrCat("10.5.", r, ".", i % 250 + 1, ":", 11211 + i / 250);
        const int64_t started = now_us();
        auto version = ha_->addNode(r, "scratch", address);
        std::lock_guard<std::mutex> lock(mutex);
        if (version.ok()) {
          acked.push_back(address);
          const int64_t killed = kill_at_us.load();
          if (killed != 0 && started > killed && first_success_after_kill_us.load() < 0) {
            first_success_after_kill_us = now_us() - killed;
          }
        } else {
          refused.push_back(absl::StrCat(address, ": ", version.status().ToString()));
        }
      }
    });
  }
  absl::SleepFor(absl::Seconds(1));
  size_t acked_before = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    acked_before = acked.size();
  }
  kill_at_us = now_us();
  ha_->etcd().kill(*leader);
  auto new_leader = ha_->etcd().leader();
  const int64_t elected_us = now_us() - kill_at_us;
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  absl::SleepFor(absl::Seconds(2));
  stopping = true;
  for (auto& w : writers) w.join();
  load.stop();

  std::printf(
      "etcd leader m%d killed: new leader m%d seen after %.0f ms; first change started "
      "after the kill acknowledged after %.0f ms; %zu changes acknowledged before the "
      "kill, %zu in all, %zu refused during the election\n",
      *leader, *new_leader, elected_us / 1000.0, first_success_after_kill_us.load() / 1000.0,
      acked_before, acked.size(), refused.size());
  for (const std::string& r : refused) std::printf("  refused: %s\n", r.c_str());
  EXPECT_GE(first_success_after_kill_us.load(), 0) << "no change succeeded after the kill";
  // Election (~1 s here) plus, for calls caught in flight, the 2 s etcd deadline.
  EXPECT_LT(first_success_after_kill_us.load(), 5000000);

  // Restart the old leader; every acknowledged change is in the topology on every replica.
  ASSERT_TRUE(ha_->etcd().restart(*leader).ok());
  auto topology = ha_->topology(kA);
  ASSERT_TRUE(topology.ok()) << topology.status();
  const std::set<std::string> present = nodeAddresses(*topology, "scratch");
  for (const std::string& a : acked) EXPECT_TRUE(present.count(a)) << a << " was lost";
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(ha_->awaitReplicaVersion(r, topology->version(), absl::Seconds(5)),
              topology->version())
        << "replica " << ha_->replicaName(r);
  }
  for (int p = 0; p < 2; ++p) {
    EXPECT_TRUE(ha_->awaitProxyVersion(p, topology->version(), absl::Seconds(5)).ok());
  }
  EXPECT_EQ(load.errors(), 0) << load.firstError();
}

TEST_F(HaFailoverTest, LosingEtcdQuorumRefusesChangesWhileProxiesServe) {
  ClientLoad load0(ha_->proxy(0).port(), "quorum-0");
  ClientLoad load1(ha_->proxy(1).port(), "quorum-1");
  auto before = ha_->topology(kA);
  ASSERT_TRUE(before.ok());

  // Stop two of the three members: the survivor steps down within an election timeout.
  ha_->etcd().stop(0);
  ha_->etcd().stop(1);
  const absl::Time stopped = absl::Now();

  // Every replica refuses changes with UNAVAILABLE and says why; mcmeshctl exits 3.
  std::vector<std::string> refused;
  absl::Status first_refusal;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const std::string address = absl::StrCat("10.7.0.", attempt + 1, ":11211");
    auto version = ha_->addNode(attempt % 3, "scratch", address);
    EXPECT_FALSE(version.ok()) << address << " was applied without quorum";
    if (!version.ok()) {
      EXPECT_EQ(version.status().code(), absl::StatusCode::kUnavailable) << version.status();
      // Either refused outright, or (a write the survivor took while it still believed it led)
      // unconfirmed: "may still be applied". Only the first kind must never show up later.
      const bool definite = absl::StrContains(version.status().message(), "nothing was changed");
      EXPECT_TRUE(definite || absl::StrContains(version.status().message(), "may still be applied"))
          << version.status();
      if (definite) {
        refused.push_back(address);
        if (first_refusal.ok()) first_refusal = version.status();
      }
    }
  }
  EXPECT_FALSE(refused.empty()) << "every change timed out instead of being refused";
  auto ctl = ha_->ctl({"add-node", "scratch", "10.7.1.1:11211"});
  std::printf("quorum lost: first refusal: %s\nmcmeshctl exit %d: %s",
              first_refusal.ToString().c_str(), ctl.exit_code, ctl.err.c_str());
  EXPECT_EQ(ctl.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(ctl.err, "cannot change the topology now")) << ctl.err;
  EXPECT_TRUE(absl::StrContains(ctl.err, "etcd")) << ctl.err;
  // Reads still work from every replica's memory.
  auto during = ha_->topology(kB);
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_EQ(during->version(), before->version());

  // Quorum returns: changes go through again.
  ASSERT_TRUE(ha_->etcd().restart(0).ok());
  ASSERT_TRUE(ha_->etcd().restart(1).ok());
  const absl::Time restarted = absl::Now();
  absl::StatusOr<uint64_t> version = absl::UnavailableError("not tried");
  while (!version.ok() && absl::Now() - restarted < absl::Seconds(15)) {
    version = ha_->addNode(kA, "scratch", "10.7.9.9:11211");
    if (!version.ok()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(version.ok()) << version.status();
  const absl::Duration resumed = absl::Now() - restarted;
  // Proxies may have been sent away (replicas that cannot follow etcd for 3 s stop serving) and
  // be backing off: they come back within their backoff (at most 5 s).
  for (int p = 0; p < 2; ++p) {
    EXPECT_TRUE(ha_->awaitProxyVersion(p, *version, absl::Seconds(10)).ok());
  }
  load0.stop();
  load1.stop();
  auto after = ha_->topology(2);
  ASSERT_TRUE(after.ok());
  const std::set<std::string> present = nodeAddresses(*after, "scratch");
  for (const std::string& a : refused) EXPECT_FALSE(present.count(a)) << a << " was half-applied";
  std::printf(
      "quorum back: changes accepted again %s after the members restarted (%s after "
      "the outage began); clients: %d + %d requests, %d + %d errors\n",
      absl::FormatDuration(resumed).c_str(), absl::FormatDuration(absl::Now() - stopped).c_str(),
      load0.requests(), load1.requests(), load0.errors(), load1.errors());
  EXPECT_EQ(load0.errors(), 0) << load0.firstError();
  EXPECT_EQ(load1.errors(), 0) << load1.firstError();
}

TEST(HaPartitionTest, AReplicaCutOffFromEtcdSendsItsProxiesToTheOthers) {
  // B talks to etcd member 1 only; A and C to all three.
  auto started = HaCluster::start(2, {-1, 1, -1});
  ASSERT_TRUE(started.ok()) << started.status();
  HaCluster& ha = **started;
  ClientLoad load(ha.proxy(0).port(), "cut-off");

  // Member 1 dies: B can no longer follow the store (and refuses changes); A and C carry on.
  const absl::Time cut = absl::Now();
  ha.etcd().kill(1);
  ASSERT_TRUE(ha.etcd().leader().ok());
  auto version = ha.addNode(kA, "scratch", "10.8.0.1:11211");
  for (int i = 0; i < 20 && !version.ok(); ++i) {  // A's etcd may be electing a new leader
    absl::SleepFor(absl::Milliseconds(100));
    version = ha.addNode(kA, "scratch", "10.8.0.1:11211");
  }
  ASSERT_TRUE(version.ok()) << version.status();
  auto refused = ha.addNode(kB, "scratch", "10.8.0.2:11211");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();

  // p0 was on B, which never sees the change: once B has been cut off for 3 s it closes p0's
  // stream, and p0 moves to C and gets it.
  auto took = ha.awaitProxyVersion(0, *version, absl::Seconds(10));
  ASSERT_TRUE(took.ok()) << took.status();
  const absl::Duration moved = absl::Now() - cut;
  load.stop();
  std::printf(
      "etcd member 1 killed, cutting replica B off: p0 (was on B) runs the change made "
      "through A %s after the cut (B lets go of its proxies after 3 s); client: %d "
      "requests, %d errors\n",
      absl::FormatDuration(moved).c_str(), load.requests(), load.errors());
  EXPECT_LT(moved, absl::Seconds(6));
  EXPECT_EQ(load.errors(), 0) << load.firstError();

  // Member 1 back: B follows the store again, catches up, and serves proxies again.
  ASSERT_TRUE(ha.etcd().restart(1).ok());
  EXPECT_EQ(ha.awaitReplicaVersion(kB, *version, absl::Seconds(10)), *version);
}

}  // namespace
}  // namespace mcmesh::testing
