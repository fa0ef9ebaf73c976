// Test fakes for ConnPool: a scripted memcached stand-in and a PoolEvents that counts, driven
// from the test thread between non-blocking turns of the dispatcher's loop.
#pragma once

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proxy/dispatcher.h"
#include "proxy/upstream/conn_pool.h"
#include "tests/unit/proxy/run_until.h"

namespace mcmesh::upstream {

using testing::runUntil;

class ScriptedServer {
 public:
  ScriptedServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 8);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ScriptedServer() {
    if (fd_ >= 0) close(fd_);
    close(listen_fd_);
  }
  int port() const { return port_; }
  /** Accepts and reads what is available; @return everything read so far. */
  const std::string& poll() {
    if (fd_ < 0) fd_ = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
    if (fd_ >= 0) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd_, buf, sizeof(buf))) > 0) read_.append(buf, n);
      if (n == 0) peer_closed_ = true;
    }
    return read_;
  }
  void reply(const std::string& bytes) { ASSERT_EQ(write(fd_, bytes.data(), bytes.size()), (ssize_t)bytes.size()); }
  /** Closes the accepted connection, as a server that dies would. */
  void closeConnection() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool peerClosed() {
    poll();
    return peer_closed_;
  }

 private:
  int listen_fd_ = -1;
  int fd_ = -1;
  int port_ = 0;
  std::string read_;
  bool peer_closed_ = false;
};

struct CountingEvents : PoolEvents {
  void onUpstreamSuccess(RequestClass) override { ++successes; }
  void onUpstreamFailure(RequestClass) override { ++failures; }
  void onUpstreamDesync() override {}
  int successes = 0;
  int failures = 0;
};

/** A text `get <key>` request, as the pools are given them. */
inline Request get(const std::string& key) {
  Request r;
  r.command = Command::kGet;
  r.keys = {key};
  return r;
}

}  // namespace mcmesh::upstream
