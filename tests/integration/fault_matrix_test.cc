// Fault matrix: a mixed load runs through mcmesh (subscribed to a control plane, 2 primaries, 1
// backup; the proxy under `ulimit -n 256`) while faults are applied in turn, including hostile
// clients (slow readers, slowloris, descriptor exhaustion), signals and a desynchronised upstream.
// After each: the proxy is up, well-behaved clients were unaffected, and every write acknowledged
// STORED is readable (unless memcached evicted it, told apart by its eviction counters). Runs the
// whole matrix three times, one round per test; sanitizer builds run one round in three parts
// (see the end of the file).
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

// A well-behaved client's patience. Sanitizer builds (MCMESH_SANITIZED) run the proxy 2-15x
// slower, and with slow readers on the same worker a request can then take longer than 2 s
// without anything being lost.
#ifdef MCMESH_SANITIZED
constexpr absl::Duration kClientTimeout = absl::Seconds(15);
#else
constexpr absl::Duration kClientTimeout = absl::Seconds(2);
#endif

// A raw socket for misbehaving clients (garbage, half-close, abrupt close).
int rawConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void rawSend(int fd, const std::string& bytes) {
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

// A TCP relay in front of one memcached: forwards both ways and, on request, sends the proxy
// bytes the server never sent (a stale reply): a desynchronised upstream.
class Relay {
 public:
  explicit Relay(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 64);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~Relay() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  // The next `n` server-to-proxy chunks are preceded by a stale reply.
  void inject(int n) { inject_ += n; }

 private:
  void acceptLoop() {
    while (!stop_) {
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      int server = rawConnect(target_port_);
      std::lock_guard<std::mutex> lock(mutex_);
      fds_.push_back(client);
      if (server < 0) {
        ::shutdown(client, SHUT_RDWR);
        continue;
      }
      timeval none{0, 0};
      setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
      fds_.push_back(server);
      pumps_.emplace_back([this, client, server] { pump(client, server, false); });
      pumps_.emplace_back([this, client, server] { pump(server, client, true); });
    }
  }
  void pump(int from, int to, bool from_server) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(from, buf, sizeof(buf), 0);
      if (n <= 0) break;
      if (from_server && inject_.load() > 0) {
        inject_--;
        rawSend(to, "VALUE stale:key 0 4\r\nEVIL\r\nEND\r\n");
      }
      rawSend(to, std::string(buf, n));
    }
    ::shutdown(to, SHUT_RDWR);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> inject_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> pumps_;
};

// Well-behaved clients: each writes fresh keys and reads back ones it wrote earlier.
class Load {
 public:
  Load(int port, int clients) : port_(port) {
    for (int c = 0; c < clients; ++c) threads_.emplace_back([this, c] { run(c); });
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<std::pair<std::string, std::string>> acked() {
    std::lock_guard<std::mutex> lock(mutex_);
    return acked_;
  }
  std::atomic<uint64_t> sent{0}, failed{0}, wrong{0}, dropped{0};
  std::string firstDrop() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_drop_;
  }

 private:
  void noteDrop(std::string what) {
    dropped++;
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_drop_.empty()) first_drop_ = std::move(what);
  }
  void run(int c) {
    auto client = TextClient::connect(port_, kClientTimeout);
    if (!client.ok()) {
      dropped++;
      return;
    }
    std::mt19937 rng(c);
    std::vector<std::pair<std::string, std::string>> mine;
    for (uint64_t seq = 0; !stop_; ++seq) {
      sent++;
      if (mine.empty() || rng() % 2 == 0) {
        std::string key = absl::StrCat("load:", c, ":", seq, ":", rng());
        std::string value = absl::StrCat("v", seq, "-", key);
        auto r = (*client)->set(key, value);
        if (!r.ok()) {
          noteDrop(absl::StrCat("set ", key, ": ", r.status().ToString()));
          return;  // connection-level failure: a well-behaved client must never see one
        }
        if (*r == "STORED") {
          mine.emplace_back(key, value);
          std::lock_guard<std::mutex> lock(mutex_);
          acked_.emplace_back(key, value);
        } else {
          failed++;
        }
      } else {
        const auto& [key, value] = mine[rng() % mine.size()];
        auto r = (*client)->get(key);
        if (!r.ok()) {
          noteDrop(absl::StrCat("get ", key, ": ", r.status().ToString()));
          return;
        }
        if (r->has_value() && **r != value) wrong++;
      }
    }
  }

  int port_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> acked_;
  std::string first_drop_;
};

class FaultMatrixTest : public ::testing::TestWithParam<int> {
 protected:
  void setUpWorld() {
    primaries_.clear();
    for (int i = 0; i < 2; ++i) {
      auto s = MemcachedServer::start();
      ASSERT_TRUE(s.ok()) << s.status();
      primaries_.push_back(std::move(*s));
    }
    auto b = MemcachedServer::start();
    ASSERT_TRUE(b.ok()) << b.status();
    backup_ = std::move(*b);
    relay_.reset();
    relay_ = std::make_unique<Relay>(primaries_[1]->port());
    auto cp = ControlPlaneProcess::start(testTempPath(absl::StrCat("fault-", round_, ".pb")));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    cp_port_ = cp_->port();
    // The second primary is reached through a relay that can desynchronise its stream.
    ASSERT_EQ(cp_->ctl({"create-cluster", "default", primaries_[0]->address(),
                        relay_->address(), absl::StrCat("--backup=", backup_->address())}),
              0);
    startProxy();
  }

  // Under `ulimit -n 256` (the fd-exhaustion row), with a short slow-request limit (slowloris)
  // and drain deadline (SIGTERM).
  void startProxy() {
    auto p = McmeshProcess::start(
        {absl::StrCat("--control_plane=127.0.0.1:", cp_port_), "--cluster=default",
         "--concurrency=2", "--log_level=warn", "--request_read_timeout_s=1",
         "--drain_timeout_s=2"},
        McmeshRunOptions{"", 256});
    ASSERT_TRUE(p.ok()) << p.status();
    proxy_ = std::move(*p);
    // Wait for the first snapshot.
    auto c = TextClient::connect(proxy_->port());
    ASSERT_TRUE(c.ok());
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline && (*c)->set("ready", "1").value_or("") != "STORED") {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  static uint64_t serverStat(const MemcachedServer& s, const std::string& name) {
    auto c = TextClient::connect(s.port());
    if (!c.ok()) return 0;
    auto stats = (*c)->roundTrip("stats\r\n", "END\r\n");
    for (absl::string_view line : absl::StrSplit(stats.value_or(""), "\r\n")) {
      std::string prefix = absl::StrCat("STAT ", name, " ");
      uint64_t v = 0;
      if (absl::StartsWith(line, prefix) && absl::SimpleAtoi(line.substr(prefix.size()), &v)) {
        return v;
      }
    }
    return 0;
  }

  uint64_t evictions() {
    uint64_t sum = serverStat(*backup_, "evictions");
    for (auto& p : primaries_) sum += serverStat(*p, "evictions");
    return sum;
  }

  // Runs one fault under load and checks the invariants. `fault` runs while the load runs.
  void runFault(const std::string& name, const std::function<void()>& fault) {
    uint64_t evictions_before = evictions();
    Load load(proxy_->port(), 4);
    absl::SleepFor(absl::Milliseconds(300));
    fault();
    absl::SleepFor(absl::Milliseconds(300));
    load.stop();
    ASSERT_TRUE(proxy_->process().running()) << name << ": the proxy died";
    // Every acknowledged write is readable (or was evicted, which the servers' counters show).
    auto verifier = TextClient::connect(proxy_->port());
    ASSERT_TRUE(verifier.ok()) << name << ": proxy not accepting";
    uint64_t lost = 0, wrong = 0;
    auto acked = load.acked();
    for (const auto& [key, value] : acked) {
      auto got = (*verifier)->get(key);
      ASSERT_TRUE(got.ok()) << name << ": " << got.status();
      if (!got->has_value()) {
        ++lost;
      } else if (**got != value) {
        ++wrong;
      }
    }
    bool evicted = evictions() > evictions_before;
    std::cout << "fault[" << round_ << "] " << name << ": requests=" << load.sent
              << " failed=" << load.failed << " dropped_connections=" << load.dropped
              << " acknowledged_writes=" << acked.size() << " lost=" << lost
              << (evicted && lost > 0 ? " (evicted by memcached)" : "") << " wrong=" << wrong
              << "\n";
    EXPECT_EQ(load.dropped, 0u) << name << ": a well-behaved client lost its connection: "
                                << load.firstDrop();
    EXPECT_EQ(load.wrong, 0u) << name << ": a read returned another value";
    EXPECT_EQ(wrong, 0u) << name;
    if (!evicted) {
      EXPECT_EQ(lost, 0u) << name << ": acknowledged writes lost";
    }
    EXPECT_LE(load.failed, 4u) << name << ": too many client-visible errors";
  }

  // Waits until the proxy's rehydration of `server` is done (or it holds no pending copies).
  void awaitRehydration(const MemcachedServer& server) {
    auto c = TextClient::connect(proxy_->port());
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      auto stats = (*c)->roundTrip("stats proxy\r\n", "END\r\n");
      if (stats.ok() && stats->find(absl::StrCat("rehydrate:", server.address(), " done")) !=
                            std::string::npos) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // `part` 0 runs every row; 1, 2 and 3 each run a third of them on their own world, so that
  // sanitizer builds (one round) spread it over the shards.
  void runMatrix(int part) {
    const auto in = [part](int p) { return part == 0 || part == p; };
    rlimit limit{};  // the fd-exhaustion row opens more connections than the default allows.
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    setUpWorld();
    if (HasFatalFailure()) return;
    if (in(1)) runFirstPart();
    if (in(2)) runSecondPart();
    if (in(3)) runThirdPart();
  }

  // Faults on the servers and the control plane, and broken client input.
  void runFirstPart() {
    runFault("kill primary", [&] {
      primaries_[0]->kill();
      absl::SleepFor(absl::Milliseconds(500));
      ASSERT_TRUE(primaries_[0]->restart().ok());
    });
    awaitRehydration(*primaries_[0]);
    runFault("stop primary (SIGSTOP 1s)", [&] {
      ::kill(primaries_[1]->pid(), SIGSTOP);
      absl::SleepFor(absl::Seconds(1));
      ::kill(primaries_[1]->pid(), SIGCONT);
    });
    runFault("kill control plane", [&] {
      cp_->kill();
      absl::SleepFor(absl::Milliseconds(500));
      ASSERT_TRUE(cp_->restart().ok());
    });
    runFault("garbage on 10% of connections", [&] {
      std::mt19937 rng(7);
      for (int i = 0; i < 5; ++i) {
        int fd = rawConnect(proxy_->port());
        std::string junk(4096, '\0');
        for (auto& ch : junk) ch = static_cast<char>(rng());
        rawSend(fd, junk);
        rawSend(fd, "set x 0 0 -1\r\nget\r\n\x80\x01\x00\x05garbage\r\n");
        ::close(fd);
      }
    });
    runFault("half-close mid-value", [&] {
      for (int i = 0; i < 5; ++i) {
        int fd = rawConnect(proxy_->port());
        rawSend(fd, absl::StrCat("set halfclosed", i, " 0 0 100\r\n", std::string(50, 'h')));
        ::shutdown(fd, SHUT_WR);
        char buf[64];
        (void)!::recv(fd, buf, sizeof(buf), 0);
        ::close(fd);
      }
    });
    // Half-closed values must not have been stored partially.
    auto c = TextClient::connect(proxy_->port());
    ASSERT_TRUE(c.ok());
    for (int i = 0; i < 5; ++i) {
      auto v = (*c)->get(absl::StrCat("halfclosed", i));
      ASSERT_TRUE(v.ok());
      EXPECT_FALSE(v->has_value()) << "a half-sent value was stored";
    }
  }

  // Clients that go away with requests in flight; a backend's memory filled (the longest row).
  void runSecondPart() {
    runFault("close with requests in flight", [&] {
      for (int i = 0; i < 5; ++i) {
        int fd = rawConnect(proxy_->port());
        std::string batch;
        for (int k = 0; k < 200; ++k) absl::StrAppend(&batch, "get inflight", k, "\r\n");
        rawSend(fd, batch);
        ::close(fd);
      }
    });
    runFault("fill a backend's memory", [&] {
      auto filler = TextClient::connect(proxy_->port());
      ASSERT_TRUE(filler.ok());
      std::string big(500 * 1024, 'f');
      for (int i = 0; i < 300; ++i) (void)(*filler)->set(absl::StrCat("filler", i), big);
    });
  }

  // Signals, slow and never-finishing clients, descriptor exhaustion, a desynchronised upstream,
  // SIGTERM under load, the backup killed.
  void runThirdPart() {
    runFault("SIGHUP, SIGUSR1, SIGUSR2, SIGALRM", [&] {
      for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGHUP}) {
        proxy_->process().kill(sig);
        absl::SleepFor(absl::Milliseconds(50));
      }
      ASSERT_TRUE(proxy_->process().running()) << "a signal killed the proxy";
    });
    runFault("slow readers (pipelined big gets, never read)", [&] {
      auto setter = TextClient::connect(proxy_->port());
      ASSERT_TRUE(setter.ok());
      ASSERT_EQ((*setter)->set("slowreader:big", std::string(128 * 1024, 'b')).value_or(""),
                "STORED");
      std::vector<int> fds;
      for (int i = 0; i < 5; ++i) {
        int fd = rawConnect(proxy_->port());
        std::string batch;
        for (int g = 0; g < 50; ++g) batch += "get slowreader:big\r\n";
        rawSend(fd, batch);
        fds.push_back(fd);
      }
      absl::SleepFor(absl::Seconds(1));
      for (int fd : fds) ::close(fd);
    });
    runFault("slowloris (50 trickling connections)", [&] {
      std::vector<int> fds;
      for (int i = 0; i < 50; ++i) fds.push_back(rawConnect(proxy_->port()));
      for (int t = 0; t < 25; ++t) {
        for (int fd : fds) rawSend(fd, t == 0 ? "get " : "k");
        absl::SleepFor(absl::Milliseconds(100));
      }
      size_t open = 0;
      char c;
      for (int fd : fds) open += ::recv(fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
      for (int fd : fds) ::close(fd);
      std::cout << "fault[" << round_ << "] slowloris: " << (50 - open)
                << "/50 trickling connections closed within 2.5 s\n";
      EXPECT_EQ(open, 0u) << "slowloris connections still open";
    });
    runFault("fd exhaustion (600 connections, ulimit -n 256)", [&] {
      std::vector<int> fds;
      for (int i = 0; i < 600; ++i) {
        int fd = rawConnect(proxy_->port());
        if (fd >= 0) fds.push_back(fd);
      }
      absl::SleepFor(absl::Milliseconds(700));
      for (int fd : fds) ::close(fd);
    });
    runFault("upstream desync (stale replies injected)", [&] {
      relay_->inject(3);
      absl::SleepFor(absl::Milliseconds(500));
    });
    runSigtermRow();
    if (HasFatalFailure()) return;
    runFault("kill backup", [&] {
      backup_->kill();
      absl::SleepFor(absl::Milliseconds(500));
      ASSERT_TRUE(backup_->restart().ok());
    });
  }

  // SIGTERM under load: the proxy drains and exits 0; a new one takes over and every write the
  // old one acknowledged is readable through it. Connections the drain closed are expected.
  void runSigtermRow() {
    Load load(proxy_->port(), 4);
    absl::SleepFor(absl::Milliseconds(300));
    absl::Time signalled = absl::Now();
    proxy_->process().kill(SIGTERM);
    std::optional<int> code = proxy_->process().waitForExit(absl::Seconds(10));
    absl::Duration took = absl::Now() - signalled;
    load.stop();
    startProxy();
    if (HasFatalFailure()) return;
    auto verifier = TextClient::connect(proxy_->port());
    ASSERT_TRUE(verifier.ok());
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline && (*verifier)->set("ready", "1").value_or("") != "STORED") {
      absl::SleepFor(absl::Milliseconds(20));
    }
    uint64_t lost = 0, wrong = 0;
    auto acked = load.acked();
    for (const auto& [key, value] : acked) {
      auto got = (*verifier)->get(key);
      ASSERT_TRUE(got.ok()) << got.status();
      if (!got->has_value()) {
        ++lost;
      } else if (**got != value) {
        ++wrong;
      }
    }
    std::cout << "fault[" << round_ << "] SIGTERM under load: exit_code=" << (code ? *code : -1)
              << " drain_ms=" << absl::ToInt64Milliseconds(took) << " requests=" << load.sent
              << " failed=" << load.failed << " connections_closed_by_drain=" << load.dropped
              << " acknowledged_writes=" << acked.size() << " lost=" << lost
              << " wrong=" << wrong << "\n";
    ASSERT_TRUE(code.has_value()) << "SIGTERM: the proxy did not exit";
    EXPECT_EQ(*code, 0);
    EXPECT_EQ(lost, 0u) << "SIGTERM: acknowledged writes lost";
    EXPECT_EQ(wrong, 0u);
    EXPECT_EQ(load.wrong, 0u);
  }

  int round_ = 0;
  std::unique_ptr<Relay> relay_;
  std::vector<MemcachedServerPtr> primaries_;
  MemcachedServerPtr backup_;
  int cp_port_ = 0;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::unique_ptr<McmeshProcess> proxy_;
};

// One test per round (or part of one), so Bazel's shards (shard_count in BUILD) run them side by
// side. The parameter is round * 10 + part.
TEST_P(FaultMatrixTest, LosesNoAcknowledgedWrite) {
  round_ = GetParam() / 10;
  runMatrix(GetParam() % 10);
}

// Three whole rounds; sanitizer builds run one, in three parts: the same faults, 2-15x slower, and
// the rounds repeat the same code paths (what they add is more timing variety, which the default
// build covers).
#ifdef MCMESH_SANITIZED
INSTANTIATE_TEST_SUITE_P(Rounds, FaultMatrixTest, ::testing::Values(11, 12, 13));
#else
INSTANTIATE_TEST_SUITE_P(Rounds, FaultMatrixTest, ::testing::Values(10, 20, 30));
#endif

}  // namespace
}  // namespace mcmesh::testing
