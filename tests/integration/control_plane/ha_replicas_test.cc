// Several mcmesh_cp replicas on one etcd prefix: every change reaches every replica's proxies,
// concurrent changes through different replicas are never lost, ListProxies sees everyone,
// and a restarted replica catches up (also across an etcd compaction).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/control_plane/ha_cluster.h"

namespace mcmesh::testing {
namespace {

constexpr int kA = 0, kB = 1, kC = 2;

class HaReplicasTest : public HaClusterTest {};

TEST_F(HaReplicasTest, AddNodeThroughOneReplicaReachesProxiesOfTheOthersWithinOneSecond) {
  // p0 is subscribed to B and p1 to C (ListProxies says so, from etcd, on any replica).
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  std::map<std::string, std::string> served_by;
  while (absl::Now() < deadline) {
    auto proxies = ha_->proxies(kA);
    ASSERT_TRUE(proxies.ok()) << proxies.status();
    served_by.clear();
    for (const auto& p : *proxies) {
      if (p.connected()) served_by[p.id()] = p.control_plane();
    }
    if (served_by.size() == 2) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(served_by["p0"], "B");
  EXPECT_EQ(served_by["p1"], "C");

  // First a real memcached server joins "web", then a few nodes join "scratch": each is one
  // add-node through A, timed from the call until both proxies run the new version.
  for (int round = 0; round < 5; ++round) {
    const std::string cluster = round == 0 ? "web" : "scratch";
    const std::string address =
        round == 0 ? ha_->memcached(2).address() : absl::StrCat("10.0.0.", round, ":11211");
    const absl::Time start = absl::Now();
    auto version = ha_->addNode(kA, cluster, address);
    ASSERT_TRUE(version.ok()) << version.status();
    auto p0 = ha_->awaitProxyVersion(0, *version, absl::Seconds(5));
    auto p1 = ha_->awaitProxyVersion(1, *version, absl::Seconds(5));
    ASSERT_TRUE(p0.ok() && p1.ok()) << p0.status() << " " << p1.status();
    const absl::Duration both = absl::Now() - start;
    std::printf(
        "add-node %s %s via A -> version %llu: p0 (via B) runs it %s after the call "
        "began, p1 (via C) %s; both within %s\n",
        cluster.c_str(), address.c_str(), static_cast<unsigned long long>(*version),
        absl::FormatDuration(*p0).c_str(), absl::FormatDuration(*p1).c_str(),
        absl::FormatDuration(both).c_str());
    EXPECT_LT(both, absl::Seconds(1));
  }
}

TEST_F(HaReplicasTest, ConcurrentChangesThroughAllReplicasAreNeverLost) {
  constexpr int kChanges = 200;
  constexpr int kThreads = 12;
  std::mutex mutex;
  std::vector<std::pair<uint64_t, std::string>> acked;  // version, address
  std::vector<std::string> failed;
  std::atomic<int> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      uint64_t last_version = 0;
      for (int i = next++; i < kChanges; i = next++) {
        const std::string address = absl::StrCat("10.1.", i / 250, ".", i % 250 + 1, ":11211");
        auto version = ha_->addNode(i % 3, "scratch", address);
        std::lock_guard<std::mutex> lock(mutex);
        if (version.ok()) {
          acked.emplace_back(*version, address);
          // One caller's changes commit in the order it made them.
          EXPECT_GT(*version, last_version) << "thread " << t;
          last_version = *version;
        } else {
          failed.push_back(absl::StrCat(address, ": ", version.status().ToString()));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const absl::Duration took = absl::Now() - start;
  std::printf(
      "%d concurrent add-node calls over 3 replicas (%d threads): %zu acknowledged, %zu "
      "refused, in %s\n",
      kChanges, kThreads, acked.size(), failed.size(), absl::FormatDuration(took).c_str());
  for (const std::string& f : failed) std::printf("  refused: %s\n", f.c_str());
  EXPECT_TRUE(failed.empty());

  // Every acknowledged version is distinct: versions strictly increase across replicas.
  std::set<uint64_t> versions;
  for (const auto& a : acked) versions.insert(a.first);
  EXPECT_EQ(versions.size(), acked.size());

  // The last acknowledgement may have come from another replica: A serves its watched copy, which
  // may be a few milliseconds behind. Read it once it has caught up with every acknowledged write.
  const uint64_t last_acked = versions.empty() ? 1 : *versions.rbegin();
  ha_->awaitReplicaVersion(kA, last_acked, absl::Seconds(5));
  auto final_topology = ha_->topology(kA);
  ASSERT_TRUE(final_topology.ok());
  const uint64_t final_version = final_topology->version();
  EXPECT_EQ(final_version, 1 + acked.size()) << "the bootstrap is version 1";
  const std::set<std::string> present = nodeAddresses(*final_topology, "scratch");
  for (const auto& a : acked) EXPECT_TRUE(present.count(a.second)) << a.second << " was lost";

  // Every replica and every proxy converges to the final version.
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(ha_->awaitReplicaVersion(r, final_version, absl::Seconds(5)), final_version)
        << "replica " << ha_->replicaName(r);
  }
  for (int p = 0; p < ha_->proxyCount(); ++p) {
    auto took_proxy = ha_->awaitProxyVersion(p, final_version, absl::Seconds(5));
    EXPECT_TRUE(took_proxy.ok()) << took_proxy.status();
    EXPECT_EQ(ha_->proxyVersion(p), final_version);
  }
  std::printf("final version %llu on all 3 replicas and both proxies\n",
              static_cast<unsigned long long>(final_version));
}

TEST_F(HaReplicasTest, ListProxiesOnAnyReplicaShowsEveryProxyAndForgetsADeadReplicasOnes) {
  // A third proxy that knows only replica B: when B dies it has nowhere to go.
  auto lonely =
      McmeshProcess::start({"--cluster=web", "--proxy_id=p-only-b",
                            "--control_plane=" + ha_->replicaAddress(kB), "--concurrency=1"});
  ASSERT_TRUE(lonely.ok()) << lonely.status();
  auto listed = [&](int replica) {
    std::map<std::string, mcmesh::v1::ProxyStatus> out;
    auto proxies = ha_->proxies(replica);
    if (proxies.ok()) {
      for (const auto& p : *proxies) out[p.id()] = p;
    }
    return out;
  };
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline && listed(kC).size() < 3) absl::SleepFor(absl::Milliseconds(50));
  for (int r = 0; r < 3; ++r) {
    auto all = listed(r);
    EXPECT_EQ(all.size(), 3u) << "replica " << ha_->replicaName(r);
    EXPECT_EQ(all["p-only-b"].control_plane(), "B");
    EXPECT_TRUE(all["p-only-b"].connected());
  }

  // B dies: p0 moves on and is listed under its new replica; p-only-b's entry lives on B's
  // lease (TTL 2 s) and disappears with it.
  const absl::Time killed = absl::Now();
  ha_->killReplica(kB);
  absl::Duration gone_after = absl::InfiniteDuration();
  absl::Duration p0_moved_after = absl::InfiniteDuration();
  deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto all = listed(kA);
    if (all.count("p0") && all["p0"].control_plane() != "B" && all["p0"].connected() &&
        p0_moved_after == absl::InfiniteDuration()) {
      p0_moved_after = absl::Now() - killed;
    }
    if (!all.empty() && all.count("p-only-b") == 0) {
      gone_after = absl::Now() - killed;
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::printf(
      "replica B killed: p0 listed under another replica after %s; p-only-b (only knew "
      "B) gone from ListProxies after %s (lease TTL 2s)\n",
      absl::FormatDuration(p0_moved_after).c_str(), absl::FormatDuration(gone_after).c_str());
  EXPECT_LT(p0_moved_after, absl::Seconds(2));
  EXPECT_LT(gone_after, absl::Seconds(6));
  auto all = listed(kC);
  EXPECT_EQ(all.count("p0"), 1u);
  EXPECT_EQ(all.count("p1"), 1u);
}

TEST_F(HaReplicasTest, RestartedReplicaCatchesUpAndAStalledOneRereadsAfterCompaction) {
  // C is killed; changes go on through A; C comes back with the latest topology.
  ha_->killReplica(kC);
  uint64_t version = 0;
  for (int i = 0; i < 5; ++i) {
    auto v = ha_->addNode(kA, "scratch", absl::StrCat("10.2.0.", i + 1, ":11211"));
    ASSERT_TRUE(v.ok()) << v.status();
    version = *v;
  }
  ASSERT_TRUE(ha_->restartReplica(kC).ok());
  auto c = ha_->topology(kC);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->version(), version);
  // p1 lists C first and went to A meanwhile; it keeps the newest version.
  EXPECT_TRUE(ha_->awaitProxyVersion(1, version, absl::Seconds(3)).ok());

  // Now stall C (SIGSTOP), kill the etcd member its watch uses, and let etcd move on and
  // compact its history: when C resumes, its watch cannot restart from where it was and C must
  // re-read the topology instead of missing versions.
  absl::SleepFor(absl::Milliseconds(300));  // C's new watch is established (it logs the member).
  const std::string log = readTextFile(ha_->replicaLog(kC));
  const size_t watching = log.rfind(": watching ");
  ASSERT_NE(watching, std::string::npos) << log;
  const size_t from = log.rfind("etcd watch on ", watching) + 14;
  const std::string watched = log.substr(from, watching - from);
  int member = -1;
  for (int m = 0; m < 3; ++m) {
    if (ha_->etcd().clientAddress(m) == watched) member = m;
  }
  ASSERT_GE(member, 0) << "C watches \"" << watched << "\"";
  ha_->replicaProcess(kC).kill(SIGSTOP);
  ha_->etcd().kill(member);
  // The member may have been the leader: calls caught by the election time out and are retried
  // (one that did commit after all then finds its node already there).
  ASSERT_TRUE(ha_->etcd().leader().ok());
  for (int i = 0; i < 5; ++i) {
    const std::string address = absl::StrCat("10.3.0.", i + 1, ":11211");
    absl::StatusOr<uint64_t> v = absl::UnavailableError("not tried");
    const absl::Time retry_until = absl::Now() + absl::Seconds(10);
    while (absl::IsUnavailable(v.status()) && absl::Now() < retry_until) {
      v = ha_->addNode(kA, "scratch", address);
    }
    ASSERT_TRUE(v.ok() || absl::IsAlreadyExists(v.status())) << v.status();
  }
  auto latest = ha_->topology(kA);
  ASSERT_TRUE(latest.ok()) << latest.status();
  version = latest->version();
  const std::string etcdctl = absl::StrCat("ETCDCTL_API=3 /usr/bin/etcdctl --endpoints=",
                                           ha_->etcd().clientAddress((member + 1) % 3));
  const std::string compact = absl::StrCat(
      etcdctl, " compact $(", etcdctl,
      " get /mcmesh-test/topology -w fields | sed -n 's/^\"Revision\" : //p') >/dev/null");
  ASSERT_EQ(std::system(compact.c_str()), 0) << compact;
  ha_->replicaProcess(kC).kill(SIGCONT);
  EXPECT_EQ(ha_->awaitReplicaVersion(kC, version, absl::Seconds(5)), version);
  EXPECT_TRUE(absl::StrContains(readTextFile(ha_->replicaLog(kC)), "was compacted"))
      << readTextFile(ha_->replicaLog(kC));
  ASSERT_TRUE(ha_->etcd().restart(member).ok());
}

}  // namespace
}  // namespace mcmesh::testing
