// ClusterView against scripted servers: a host keeps its connection across snapshots that still
// list it, a removed host answers what it had in flight, and the prober's verdicts eject and
// readmit a host (with its events).
#include "proxy/upstream/cluster_view.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/scripted_server.h"

namespace mcmesh::upstream {
namespace {

class ClusterViewTest : public ::testing::Test {
 protected:
  ClusterViewTest() {
    PoolOptions pool;
    pool.request_timeout = absl::Seconds(5);
    pool.connect_timeout = absl::Seconds(5);
    view_ = std::make_unique<ClusterView>(dispatcher_, pool, HealthOptions{});
    view_->setHostEventHandler([this](const std::string& address, HostEvent event) {
      events_.push_back(absl::StrCat(event == HostEvent::kEjected ? "ejected " : "recovered ",
                                     address));
    });
  }
  ~ClusterViewTest() override {
    view_->shutdown();
    view_.reset();
    dispatcher_.clearDeferred();
  }

  static std::string address(const ScriptedServer& s) {
    return absl::StrCat("127.0.0.1:", s.port());
  }
  // A snapshot whose primaries are `servers`, in that order.
  void apply(const std::vector<const ScriptedServer*>& servers) {
    ClusterConfig config;
    for (const ScriptedServer* s : servers) config.primaries.push_back(*parseHostAddress(address(*s)));
    auto snapshot = ClusterSnapshot::create(std::move(config), snapshot_, dispatcher_.now());
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    snapshot_ = *snapshot;
    view_->setSnapshot(snapshot_);
  }
  const HostConfig& hostFor(const ScriptedServer& s) {
    for (const HostConfig* h : snapshot_->allHosts()) {
      if (h->address == address(s)) return *h;
    }
    ADD_FAILURE() << address(s) << " is not in the snapshot";
    return *snapshot_->allHosts().front();
  }
  ResponseCallback record() {
    return [this](Response&& r) { replies_.push_back(std::move(r)); };
  }
  uint64_t connects(const ScriptedServer& s) {
    uint64_t n = 0;
    view_->forEachHost([&](const std::string& a, const HostState& state) {
      if (a == address(s)) n = state.stats.connects.value();
    });
    return n;
  }

  ScriptedServer a_, b_;
  Dispatcher dispatcher_;
  ClusterSnapshotConstSharedPtr snapshot_;
  std::vector<Response> replies_;
  std::vector<std::string> events_;
  std::unique_ptr<ClusterView> view_;
};

TEST_F(ClusterViewTest, AHostStillListedKeepsItsConnectionAcrossSnapshots) {
  apply({&a_});
  view_->send(hostFor(a_), get("k"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.poll() == "get k\r\n"; }));
  apply({&a_, &b_});  // a weight or membership change elsewhere.
  a_.reply("END\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 1; }));
  EXPECT_EQ(replies_[0].type, ResponseType::kValues);
  view_->send(hostFor(a_), get("k2"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.poll() == "get k\r\nget k2\r\n"; }));
  EXPECT_EQ(connects(a_), 1u);
}

TEST_F(ClusterViewTest, ARemovedHostAnswersWhatItHadInFlightAndCloses) {
  apply({&a_, &b_});
  view_->send(hostFor(a_), get("k"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.poll() == "get k\r\n"; }));
  apply({&b_});
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 1; }));
  EXPECT_EQ(replies_[0].type, ResponseType::kUpstreamFailure);
  EXPECT_NE(replies_[0].text.find("removed"), std::string::npos) << replies_[0].text;
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.peerClosed(); }));
  EXPECT_EQ(connects(a_), 0u);  // forgotten: no longer listed among the hosts.
  EXPECT_TRUE(events_.empty()) << "a removal is not a failure of the server";
}

TEST_F(ClusterViewTest, ProbeVerdictsEjectAndReadmitAHostWithoutBackup) {
  apply({&a_, &b_});
  const HostConfig& a = hostFor(a_);
  view_->send(a, get("k"), record());  // the host's state exists once it was used.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.poll() == "get k\r\n"; }));
  EXPECT_TRUE(view_->available(a));
  view_->setProbeResult(address(a_), false);
  EXPECT_FALSE(view_->available(a));  // inside its 1 s backoff.
  EXPECT_TRUE(view_->available(hostFor(b_)));
  view_->setProbeResult(address(a_), true);  // no backup: nothing to drain, readmitted at once.
  EXPECT_TRUE(view_->available(a));
  EXPECT_EQ(events_, (std::vector<std::string>{"ejected " + address(a_),
                                               "recovered " + address(a_)}));
}

}  // namespace
}  // namespace mcmesh::upstream
