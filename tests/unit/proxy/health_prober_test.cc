// HealthProber against a scripted server: a verdict from a probe reply, and a reply that arrives
// after the prober is gone (Server::run() frees it, then turns the main loop once more) is
// dropped instead of running on freed memory (TSan caught that at exit after a drain).
#include "proxy/upstream/health_prober.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/scripted_server.h"

namespace mcmesh::upstream {
namespace {

class HealthProberTest : public ::testing::Test {
 protected:
  HealthProberTest() {
    PoolOptions pool;
    pool.request_timeout = absl::Seconds(5);
    pool.connect_timeout = absl::Seconds(5);
    HealthOptions health;
    health.readmit_primaries_by_recovery = false;  // as Server's probe view.
    view_ = std::make_unique<ClusterView>(dispatcher_, pool, health);
    ClusterConfig config;
    config.primaries.push_back(*parseHostAddress(absl::StrCat("127.0.0.1:", server_.port())));
    auto snapshot = ClusterSnapshot::create(std::move(config), nullptr, dispatcher_.now());
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    view_->setSnapshot(*snapshot);
    ProberOptions options;
    options.interval = absl::Hours(1);  // one probe per test: the one start() sends.
    options.journal_poll_interval = absl::Hours(1);
    prober_ = std::make_unique<HealthProber>(
        *view_, options, [this](const std::string& address, bool up) {
          verdicts_.push_back(absl::StrCat(address, up ? " up" : " down"));
        });
  }
  ~HealthProberTest() override {
    prober_.reset();
    view_->shutdown();
    view_.reset();
    dispatcher_.clearDeferred();
  }

  ScriptedServer server_;
  Dispatcher dispatcher_;
  std::unique_ptr<ClusterView> view_;
  std::vector<std::string> verdicts_;
  std::unique_ptr<HealthProber> prober_;
};

// The control for the next test: the same reply, with the prober alive, gives a verdict.
TEST_F(HealthProberTest, AnErrorReplyMakesTheServerDown) {
  prober_->start();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_.poll() == "stats\r\n"; }));
  server_.reply("SERVER_ERROR busy\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return !verdicts_.empty(); }));
  EXPECT_EQ(verdicts_,
            std::vector<std::string>{absl::StrCat("127.0.0.1:", server_.port(), " down")});
}

TEST_F(HealthProberTest, AReplyAfterTheProberIsGoneIsDropped) {
  prober_->start();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_.poll() == "stats\r\n"; }));
  prober_.reset();
  server_.reply("SERVER_ERROR busy\r\n");
  // The reply is read and its callback runs on this turn of the loop (under ASan/TSan the old
  // code reported a use after free here).
  for (int i = 0; i < 50; ++i) {
    event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(verdicts_.empty());
}

}  // namespace
}  // namespace mcmesh::upstream
