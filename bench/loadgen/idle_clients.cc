// idle_clients: opens N client connections, pings each once ("version"), then holds them idle
// so a script can read the proxy's RSS; prints JSON progress lines. Bounded by --hold_s.
// With --large_value_bytes each connection first reads one item of that size instead of the
// ping (in a get of --get_keys keys, the others missing), so the script can check that
// connections do not keep a big value's or a big multi-get's buffers while idle.
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/string_view.h"
#include "bench/loadgen/load_thread.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "target IPv4 address");
ABSL_FLAG(int, port, 11211, "target port");
ABSL_FLAG(int, connections, 10000, "connections to open and hold");
ABSL_FLAG(int, window, 256, "connects/pings in flight at once (keeps the accept queue short)");
ABSL_FLAG(double, hold_s, 30, "seconds to hold the connections after they are ready");
ABSL_FLAG(double, timeout_s, 60, "give up on opening/pinging after this long");
ABSL_FLAG(int, large_value_bytes, 0,
          "if > 0: store one item of this size first, and each connection gets it instead of "
          "sending version");
ABSL_FLAG(int, get_keys, 1,
          "with --large_value_bytes: keys per get (the large item plus missing ones, 100 bytes "
          "each)");

namespace mcmesh::bench {
namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

enum class Phase : uint8_t { kConnecting, kPinging, kReady, kFailed };

constexpr char kLargeKey[] = "mcmesh:idle_clients:large";

// Blocking set of the large item through one extra connection; false on any failure.
bool storeLargeValue(const sockaddr_in& addr, int bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  std::string out = std::string("set ") + kLargeKey + " 0 0 " + std::to_string(bytes) + "\r\n";
  out.append(static_cast<size_t>(bytes), 'v');
  out.append("\r\n");
  for (size_t sent = 0; ok && sent < out.size();) {
    ssize_t w = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    ok = w > 0;
    if (ok) sent += static_cast<size_t>(w);
  }
  std::string reply;
  while (ok && reply.find("\r\n") == std::string::npos) {
    char buf[256];
    ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    ok = r > 0;
    if (ok) reply.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return ok && reply == "STORED\r\n";
}

struct Client {
  int fd = -1;
  Phase phase = Phase::kConnecting;
  std::string reply;
};

// Refuses flag values the run cannot honour, with one JSON error line (exit 2).
bool flagsValid() {
  const char* error = nullptr;
  if (absl::GetFlag(FLAGS_connections) < 1) {
    error = "--connections must be at least 1";
  } else if (absl::GetFlag(FLAGS_port) < 1 || absl::GetFlag(FLAGS_port) > 65535) {
    error = "--port must be 1..65535";
  } else if (absl::GetFlag(FLAGS_large_value_bytes) < 0) {
    error = "--large_value_bytes must not be negative";
  } else if (absl::GetFlag(FLAGS_get_keys) < 1) {
    error = "--get_keys must be at least 1";
  } else if (absl::GetFlag(FLAGS_get_keys) > 1 && absl::GetFlag(FLAGS_large_value_bytes) == 0) {
    error = "--get_keys needs --large_value_bytes";
  } else {
    in_addr probe;
    if (inet_pton(AF_INET, absl::GetFlag(FLAGS_host).c_str(), &probe) != 1) {
      error = "--host must be an IPv4 address";
    }
  }
  if (error == nullptr) return true;
  std::printf("{\"event\":\"error\",\"what\":\"%s\"}\n", error);
  return false;
}

int run() {
  if (!flagsValid()) return 2;
  const int n = absl::GetFlag(FLAGS_connections);
  const int window = std::max(1, absl::GetFlag(FLAGS_window));
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(n) + 64) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(n) + 64);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
  inet_pton(AF_INET, absl::GetFlag(FLAGS_host).c_str(), &addr.sin_addr);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Client> clients(static_cast<size_t>(n));
  uint64_t start = monotonicNs();
  uint64_t deadline = start + static_cast<uint64_t>(absl::GetFlag(FLAGS_timeout_s) * 1e9);
  int next = 0, busy = 0, ready = 0, failed = 0;
  const int large = absl::GetFlag(FLAGS_large_value_bytes);
  if (large > 0 && !storeLargeValue(addr, large)) {
    std::printf("{\"event\":\"error\",\"what\":\"storing the large value failed\"}\n");
    return 1;
  }
  // The reply to the ping ends with END after a VALUE of `large` bytes, or is one VERSION line.
  std::string ping = "version\r\n";
  if (large > 0) {
    ping = std::string("get ") + kLargeKey;
    for (int k = 1; k < absl::GetFlag(FLAGS_get_keys); ++k) {
      std::string miss = "mcmesh:idle_clients:miss:" + std::to_string(k) + ":";
      miss.resize(100, 'm');
      ping += " " + miss;
    }
    ping += "\r\n";
  }
  const size_t min_reply = large > 0 ? static_cast<size_t>(large) + 5 : 2;
  auto fail = [&](Client& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.phase = Phase::kFailed;
    failed++;
    busy--;
  };
  epoll_event events[512];
  while ((ready + failed) < n && monotonicNs() < deadline) {
    while (busy < window && next < n) {
      Client& c = clients[static_cast<size_t>(next++)];
      busy++;
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0 || (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
                       errno != EINPROGRESS)) {
        fail(c);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.ptr = &c;
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    int got = epoll_wait(ep, events, 512, 50);
    for (int i = 0; i < got; ++i) {
      Client& c = *static_cast<Client*>(events[i].data.ptr);
      if (c.phase == Phase::kConnecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || ::send(c.fd, ping.data(), ping.size(), MSG_NOSIGNAL) !=
                            static_cast<ssize_t>(ping.size())) {
          fail(c);
          continue;
        }
        c.phase = Phase::kPinging;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &c;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      } else if (c.phase == Phase::kPinging) {
        char buf[16384];
        ssize_t r = ::recv(c.fd, buf, sizeof(buf), 0);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          fail(c);
          continue;
        }
        c.reply.append(buf, static_cast<size_t>(r));
        const absl::string_view end = large > 0 ? "END\r\n" : "\r\n";
        if (c.reply.size() < min_reply ||
            c.reply.compare(c.reply.size() - end.size(), end.size(), end.data()) != 0) {
          continue;
        }
        if (c.reply.compare(0, large > 0 ? 6 : 8, large > 0 ? "VALUE " : "VERSION ") != 0) {
          fail(c);
          continue;
        }
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);  // idle from now on.
        c.phase = Phase::kReady;
        std::string().swap(c.reply);
        ready++;
        busy--;
      }
    }
  }
  double open_s = static_cast<double>(monotonicNs() - start) / 1e9;
  std::printf("{\"event\":\"ready\",\"requested\":%d,\"ready\":%d,\"failed\":%d,"
              "\"unfinished\":%d,\"open_s\":%.2f}\n",
              n, ready, failed, n - ready - failed, open_s);
  std::fflush(stdout);
  // Hold idle; SIGTERM/SIGINT (the script is done reading RSS) ends the hold early.
  uint64_t hold_end = monotonicNs() + static_cast<uint64_t>(absl::GetFlag(FLAGS_hold_s) * 1e9);
  while (monotonicNs() < hold_end && !g_stop) usleep(20000);
  for (auto& c : clients) {
    if (c.fd >= 0) ::close(c.fd);
  }
  std::printf("{\"event\":\"closed\",\"ready\":%d}\n", ready);
  return ready == n ? 0 : 1;
}

}  // namespace
}  // namespace mcmesh::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGTERM, mcmesh::bench::onSignal);
  signal(SIGINT, mcmesh::bench::onSignal);
  signal(SIGPIPE, SIG_IGN);
  return mcmesh::bench::run();
}
