// ConnPool against a scripted server: pipelined replies keep their order, a dead or silent
// server fails what it holds (and is blamed for it), and a pool that goes away answers every
// request it was given, including ones its failure callbacks send it.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/upstream/conn_pool.h"
#include "tests/unit/proxy/scripted_server.h"

namespace mcmesh::upstream {
namespace {

class ConnPoolTest : public ::testing::Test {
 protected:
  ConnPoolTest() : host_(*parseHostAddress("127.0.0.1:" + std::to_string(server_.port()))) {}
  ~ConnPoolTest() override {
    pool_.reset();
    dispatcher_.clearDeferred();
  }

  void makePool(absl::Duration request_timeout = absl::Seconds(5)) {
    PoolOptions options;
    options.request_timeout = request_timeout;
    // A request sent while connecting waits at least for the connect deadline: keep them equal.
    options.connect_timeout = request_timeout;
    pool_ = std::make_unique<ConnPool>(dispatcher_, host_, options, stats_, events_);
  }
  ResponseCallback record() {
    return [this](Response&& r) { replies_.push_back(std::move(r)); };
  }

  ScriptedServer server_;
  Dispatcher dispatcher_;
  HostConfig host_;
  HostStats stats_;
  CountingEvents events_;
  std::vector<Response> replies_;  // before pool_: ~ConnPool may still fail requests into it.
  std::unique_ptr<ConnPool> pool_;
};

TEST_F(ConnPoolTest, PipelinedRepliesComeBackInRequestOrder) {
  makePool();
  for (const char* k : {"a", "b", "c"}) pool_->send(get(k), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_.poll() == "get a\r\nget b\r\nget c\r\n"; }));
  // All three replies in one segment, the middle one a miss.
  server_.reply("VALUE a 1 2\r\naa\r\nEND\r\nEND\r\nVALUE c 3 1\r\nc\r\nEND\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 3; }));
  ASSERT_EQ(replies_[0].items.size(), 1u);
  EXPECT_EQ(replies_[0].items[0].key, "a");
  EXPECT_EQ(replies_[0].items[0].value, "aa");
  EXPECT_EQ(replies_[0].items[0].flags, 1u);
  EXPECT_TRUE(replies_[1].items.empty());
  EXPECT_EQ(replies_[1].type, ResponseType::kValues);
  ASSERT_EQ(replies_[2].items.size(), 1u);
  EXPECT_EQ(replies_[2].items[0].value, "c");
  EXPECT_EQ(stats_.requests.value(), 3u);
  EXPECT_EQ(stats_.errors.value(), 0u);
  EXPECT_EQ(events_.successes, 3);
}

TEST_F(ConnPoolTest, AServerThatClosesFailsEveryPendingRequestAndIsBlamed) {
  makePool();
  pool_->send(get("a"), record());
  pool_->send(get("b"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_.poll() == "get a\r\nget b\r\n"; }));
  server_.closeConnection();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 2; }));
  for (const Response& r : replies_) EXPECT_EQ(r.type, ResponseType::kUpstreamFailure) << r.text;
  EXPECT_EQ(stats_.errors.value(), 1u);  // one connection failed: one error, one health event.
  EXPECT_EQ(events_.failures, 1);
  EXPECT_EQ(stats_.active_connections.value(), 0u);
}

TEST_F(ConnPoolTest, ASilentServerTimesTheRequestOut) {
  makePool(absl::Milliseconds(50));
  pool_->send(get("a"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies_.size() == 1; }));
  EXPECT_EQ(server_.poll(), "get a\r\n");
  EXPECT_EQ(replies_[0].type, ResponseType::kUpstreamFailure);
  EXPECT_EQ(stats_.timeouts.value(), 1u);
  EXPECT_EQ(events_.failures, 1);
}

// A removed host's pool is destroyed with requests in flight. Each is failed, and a failure
// callback that retries through the same pool (as a read path may) is answered too: before the
// fix the retry opened a new connection that was destroyed with the pool, and its client waited
// forever.
TEST_F(ConnPoolTest, ADestroyedPoolAnswersEveryRequestIncludingRetriesFromItsCallbacks) {
  makePool();
  int retried = 0;
  ConnPool* pool = pool_.get();  // the callback runs inside ~ConnPool, when pool_ is already null.
  pool_->send(get("a"), [&](Response&& r) {
    replies_.push_back(std::move(r));
    ++retried;
    pool->send(get("a-again"), record());
  });
  pool_->send(get("b"), record());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_.poll() == "get a\r\nget b\r\n"; }));
  pool_.reset();
  ASSERT_EQ(retried, 1);
  ASSERT_EQ(replies_.size(), 3u);
  for (const Response& r : replies_) {
    EXPECT_EQ(r.type, ResponseType::kUpstreamFailure);
    EXPECT_NE(r.text.find("removed"), std::string::npos) << r.text;
  }
}

}  // namespace
}  // namespace mcmesh::upstream
