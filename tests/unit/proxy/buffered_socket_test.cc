// BufferedSocket over socketpairs and loopback TCP: end-of-batch writes, reads, read limit,
// push-back from a full kernel buffer, EOF and connect outcomes.
#include "proxy/buffered_socket.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/socket_recorder.h"

namespace mcmesh {
namespace {

using testing::Recorder;
using testing::runUntil;

std::string recvAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) return out;
    out.append(buf, n);
  }
}

class BufferedSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    peer_ = fds[1];
    socket_ = std::make_unique<BufferedSocket>(dispatcher_, fds[0], recorder_);
    recorder_.socket = socket_.get();
  }
  void TearDown() override {
    socket_.reset();
    if (peer_ >= 0) ::close(peer_);
  }

  Dispatcher dispatcher_;
  Recorder recorder_;
  BufferedSocketPtr socket_;
  int peer_ = -1;
};

TEST_F(BufferedSocketTest, WritesQueuedInOneBatchLeaveTogetherAfterTheBatch) {
  for (const char* part : {"VALUE a 0 1\r\n", "x\r\n", "END\r\n"}) {
    evbuffer_add(socket_->output(), part, std::strlen(part));
    socket_->scheduleWrite();
  }
  // Nothing is written inline: the batch is still running.
  EXPECT_EQ(recvAll(peer_), "");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return recorder_.drained_calls > 0; }));
  EXPECT_EQ(recvAll(peer_), "VALUE a 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(recorder_.drained_calls, 1);
}

TEST_F(BufferedSocketTest, WriteNowSendsImmediately) {
  evbuffer_add(socket_->output(), "STORED\r\n", 8);
  socket_->scheduleWrite();
  socket_->writeNow();
  EXPECT_EQ(recvAll(peer_), "STORED\r\n");
  // The scheduled flush was cancelled: running the loop writes nothing twice.
  event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
  EXPECT_EQ(recvAll(peer_), "");
  EXPECT_EQ(recorder_.drained_calls, 1);
}

TEST_F(BufferedSocketTest, ReadsWhatThePeerSends) {
  ASSERT_EQ(::send(peer_, "get a\r\n", 7, 0), 7);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return recorder_.read == "get a\r\n"; }));
  EXPECT_FALSE(recorder_.closed);
}

TEST_F(BufferedSocketTest, PausedReadingResumesWithBufferedBytesIntact) {
  socket_->enableReading(false);
  ASSERT_EQ(::send(peer_, "abc", 3, 0), 3);
  for (int i = 0; i < 20; ++i) {
    event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(recorder_.readable_calls, 0);
  socket_->enableReading(true);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return recorder_.read == "abc"; }));
}

TEST_F(BufferedSocketTest, ReadingStopsAtTheLimitAndResumesWhenAsked) {
  socket_->setReadLimit(1000);
  recorder_.consume_input = false;
  std::string big(3000, 'v');
  ASSERT_EQ(::send(peer_, big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    return evbuffer_get_length(socket_->input()) == 1000;
  }));
  // Full: no more reads (and no busy loop of read events) while nobody drains the input.
  int calls = recorder_.readable_calls;
  for (int i = 0; i < 20; ++i) event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
  EXPECT_LE(recorder_.readable_calls, calls + 1);
  EXPECT_EQ(evbuffer_get_length(socket_->input()), 1000u);
  evbuffer_drain(socket_->input(), 1000);
  recorder_.consume_input = true;
  socket_->enableReading(true);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return recorder_.read.size() == 2000; }));
}

TEST_F(BufferedSocketTest, APeerThatDoesNotReadGetsTheRestWhenItDoes) {
  int small = 4096;
  ASSERT_EQ(setsockopt(peer_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  std::string big(4 * 1024 * 1024, 'z');
  evbuffer_add(socket_->output(), big.data(), big.size());
  socket_->writeNow();
  // The kernel took only part: the rest waits for EPOLLOUT, nothing is lost or reordered.
  EXPECT_GT(evbuffer_get_length(socket_->output()), 0u);
  EXPECT_EQ(recorder_.drained_calls, 0);
  std::string received;
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    received += recvAll(peer_);
    return received.size() == big.size();
  }));
  EXPECT_EQ(received, big);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return recorder_.drained_calls == 1; }));
}

TEST_F(BufferedSocketTest, PeerCloseIsReportedOnceAsEof) {
  ::close(peer_);
  peer_ = -1;
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return recorder_.closed; }));
  EXPECT_EQ(recorder_.close_error, 0);
  // No callbacks after onClosed, even if asked to write.
  evbuffer_add(socket_->output(), "x", 1);
  socket_->scheduleWrite();
  socket_->writeNow();
  event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
  EXPECT_EQ(recorder_.drained_calls, 0);
}

// A listening loopback socket on a port the kernel picks.
int listenLoopback(sockaddr_in* address) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (::listen(fd, 4) != 0) return -1;
  *address = addr;
  return fd;
}

TEST(BufferedSocketConnectTest, OutputQueuedWhileConnectingIsSentOnceConnected) {
  Dispatcher dispatcher;
  sockaddr_in address;
  int listener = listenLoopback(&address);
  ASSERT_GE(listener, 0);
  Recorder recorder;
  auto socket = BufferedSocket::connect(dispatcher, reinterpret_cast<sockaddr*>(&address),
                                        sizeof(address), recorder);
  ASSERT_TRUE(socket.ok()) << socket.status();
  recorder.socket = socket->get();
  evbuffer_add((*socket)->output(), "version\r\n", 9);
  (*socket)->scheduleWrite();
  EXPECT_FALSE(recorder.connected);  // reported from the loop, never inline.
  ASSERT_TRUE(runUntil(dispatcher, [&] { return recorder.connected; }));
  int server = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  std::string got;
  ASSERT_TRUE(runUntil(dispatcher, [&] {
    got += recvAll(server);
    return got == "version\r\n";
  }));
  ASSERT_EQ(::send(server, "VERSION 1\r\n", 11, 0), 11);
  ASSERT_TRUE(runUntil(dispatcher, [&] { return recorder.read == "VERSION 1\r\n"; }));
  ::close(server);
  ::close(listener);
}

TEST(BufferedSocketConnectTest, RefusedConnectIsReportedWithItsError) {
  Dispatcher dispatcher;
  sockaddr_in address;
  int listener = listenLoopback(&address);
  ASSERT_GE(listener, 0);
  ::close(listener);  // nobody listens on that port now.
  Recorder recorder;
  auto socket = BufferedSocket::connect(dispatcher, reinterpret_cast<sockaddr*>(&address),
                                        sizeof(address), recorder);
  ASSERT_TRUE(socket.ok()) << socket.status();
  recorder.socket = socket->get();
  ASSERT_TRUE(runUntil(dispatcher, [&] { return recorder.closed; }));
  EXPECT_EQ(recorder.close_error, ECONNREFUSED);
  EXPECT_FALSE(recorder.connected);
}

}  // namespace
}  // namespace mcmesh
