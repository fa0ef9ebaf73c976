// ConnPool and the resolver's addresses: no address fails at once (pending: not the server's
// fault; unresolvable: like a refused connect), and a moved address drains old connections.
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proxy/upstream/conn_pool.h"
#include "tests/unit/proxy/scripted_server.h"

namespace mcmesh::upstream {
namespace {

HostAddress resolvedTo(int port) {
  HostAddress a = *HostAddress::fromLiteral("127.0.0.1", port);
  a.state = HostAddress::State::kResolved;  // as the resolver publishes a name's answer.
  return a;
}

class ConnPoolAddressTest : public ::testing::Test {
 protected:
  ConnPoolAddressTest() {
    host_ = *parseHostAddress("cache.example:11211");
    PoolOptions options;
    options.request_timeout = absl::Seconds(5);
    options.connect_timeout = absl::Seconds(5);
    pool_ = std::make_unique<ConnPool>(dispatcher_, host_, options, stats_, events_);
  }
  ~ConnPoolAddressTest() override {
    pool_.reset();
    dispatcher_.clearDeferred();
  }

  Dispatcher dispatcher_;
  HostConfig host_;
  HostStats stats_;
  CountingEvents events_;
  // Before pool_: requests still pending when a test ends are failed into it by ~ConnPool.
  std::vector<Response> replies;
  std::unique_ptr<ConnPool> pool_;
};

TEST_F(ConnPoolAddressTest, ANameWithoutItsFirstAnswerFailsAtOnceWithoutBlame) {
  Cancellable* handle = pool_->send(get("k"), [&](Response&& r) { replies.push_back(r); });
  EXPECT_EQ(handle, nullptr);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, ResponseType::kUpstreamFailure);
  EXPECT_NE(replies[0].text.find("waiting for the first DNS answer"), std::string::npos)
      << replies[0].text;
  EXPECT_EQ(stats_.unresolved.value(), 1u);
  EXPECT_EQ(stats_.errors.value(), 0u);
  EXPECT_EQ(events_.failures, 0);
}

TEST_F(ConnPoolAddressTest, ANameThatDoesNotResolveCountsLikeARefusedConnect) {
  HostAddress failed;
  failed.state = HostAddress::State::kFailed;
  failed.error = "cache.example does not resolve (NXDOMAIN)";
  pool_->setAddress(failed);
  pool_->send(get("k"), [&](Response&& r) { replies.push_back(r); });
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_NE(replies[0].text.find("does not resolve"), std::string::npos) << replies[0].text;
  EXPECT_EQ(stats_.errors.value(), 1u);
  EXPECT_EQ(events_.failures, 1);
}

TEST_F(ConnPoolAddressTest, AMovedAddressTakesNewRequestsAndDrainsTheOldConnection) {
  ScriptedServer old_server, new_server;
  pool_->setAddress(resolvedTo(old_server.port()));
  pool_->send(get("a"), [&](Response&& r) { replies.push_back(r); });
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return old_server.poll() == "get a\r\n"; }));

  // The name moves while "get a" waits for its reply on the old connection.
  pool_->setAddress(resolvedTo(new_server.port()));
  pool_->send(get("b"), [&](Response&& r) { replies.push_back(r); });
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return new_server.poll() == "get b\r\n"; }));
  EXPECT_EQ(old_server.poll(), "get a\r\n");  // nothing new went to the old address.

  // The old connection's last reply arrives: it is delivered, then that connection closes.
  old_server.reply("VALUE a 0 1\r\nx\r\nEND\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies.size() == 1; }));
  EXPECT_EQ(replies[0].type, ResponseType::kValues);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return old_server.peerClosed(); }));
  new_server.reply("END\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies.size() == 2; }));
  EXPECT_EQ(stats_.errors.value(), 0u);
  EXPECT_EQ(events_.failures, 0);
  EXPECT_EQ(stats_.active_connections.value(), 1u);
  EXPECT_EQ(stats_.connects.value(), 2u);
}

TEST_F(ConnPoolAddressTest, TheSameAddressAgainKeepsTheConnection) {
  ScriptedServer server;
  pool_->setAddress(resolvedTo(server.port()));
  pool_->send(get("a"), [&](Response&& r) { replies.push_back(r); });
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server.poll() == "get a\r\n"; }));
  HostAddress stale = resolvedTo(server.port());
  stale.stale = true;
  pool_->setAddress(stale);  // a re-resolution with the same answer (or none: stale).
  server.reply("END\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return replies.size() == 1; }));
  pool_->send(get("b"), [&](Response&& r) { replies.push_back(r); });
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server.poll() == "get a\r\nget b\r\n"; }));
  EXPECT_FALSE(server.peerClosed());
  EXPECT_EQ(stats_.connects.value(), 1u);
}

TEST_F(ConnPoolAddressTest, IpLiteralsIgnoreTheResolver) {
  ScriptedServer server;
  HostConfig literal = *parseHostAddress("127.0.0.1:" + std::to_string(server.port()));
  ConnPool pool(dispatcher_, literal, PoolOptions{}, stats_, events_);
  HostAddress failed;
  failed.state = HostAddress::State::kFailed;
  pool.setAddress(failed);
  EXPECT_EQ(pool.address().state, HostAddress::State::kLiteral);
  pool.send(get("a"), [](Response&&) {});
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server.poll() == "get a\r\n"; }));
}

}  // namespace
}  // namespace mcmesh::upstream
