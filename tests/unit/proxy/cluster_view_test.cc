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
  // A snapshot whose primaries are `servers`, in that order (and `backup`, if given).
  void apply(const std::vector<const ScriptedServer*>& servers,
             const ScriptedServer* backup = nullptr) {
    ClusterConfig config;
    for (const ScriptedServer* s : servers) config.primaries.push_back(*parseHostAddress(address(*s)));
    if (backup != nullptr) config.backups.push_back(*parseHostAddress(address(*backup)));
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
  bool ejected(const ScriptedServer& s) {
    bool out = false;
    view_->forEachHost([&](const std::string& a, const HostState& state) {
      if (a == address(s)) out = state.health.ejected();
    });
    return out;
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

// A primary with a backup is stopped (SIGSTOP, a long pause) with a request in flight; the
// prober ejects it and its writes go to the backup and the journal. When it continues, the old
// request's reply must not readmit it: only the recovery that drains the journal may, or reads
// would be served the values the backup has replaced. (CI's history check caught the old code
// reading such values for 200 ms.)
TEST_F(ClusterViewTest, AReplyFromBeforeTheEjectionDoesNotReadmitAPrimaryWithABackup) {
  ScriptedServer backup;
  apply({&a_, &b_}, &backup);
  view_->send(hostFor(a_), get("k"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.poll() == "get k\r\n"; }));
  view_->setProbeResult(address(a_), false);
  ASSERT_TRUE(ejected(a_));
  a_.reply("END\r\n");  // the server continues and answers what it had.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 1; }));
  EXPECT_EQ(replies_[0].type, ResponseType::kValues);
  EXPECT_TRUE(ejected(a_)) << "readmitted by a reply, with its journal undrained";
  EXPECT_EQ(events_, std::vector<std::string>{"ejected " + address(a_)});
}

// Without a backup there is no journal: the first success readmits (half-open), as before.
TEST_F(ClusterViewTest, AReplyReadmitsAPrimaryWithoutBackup) {
  apply({&a_, &b_});
  view_->send(hostFor(a_), get("k"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a_.poll() == "get k\r\n"; }));
  view_->setProbeResult(address(a_), false);
  ASSERT_TRUE(ejected(a_));
  a_.reply("END\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 1; }));
  EXPECT_FALSE(ejected(a_));
}

}  // namespace
}  // namespace mcmesh::upstream
