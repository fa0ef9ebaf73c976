// mcbench: closed-loop memcached text-protocol load generator; prints one JSON line of results.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "bench/loadgen/load_thread.h"
#include "bench/loadgen/reply_scanner.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "target IPv4 address (loopback only in this repo)");
ABSL_FLAG(int, port, 11211, "target port");
ABSL_FLAG(std::string, tls_ca, "",
          "connect with TLS, verifying the target against this CA file (preload stays plain: "
          "use --preload_only through a plain port first)");
ABSL_FLAG(int, connections, 16, "client connections (spread over --threads)");
ABSL_FLAG(int, pipeline, 1, "requests kept outstanding per connection");
ABSL_FLAG(double, get_ratio, 0.9, "share of requests that are gets; the rest are sets");
ABSL_FLAG(uint64_t, keyspace, 10000, "number of distinct keys");
ABSL_FLAG(uint64_t, value_size, 100, "bytes per value (sets and preload)");
ABSL_FLAG(int, multiget, 1, "keys per get");
ABSL_FLAG(double, duration_s, 5, "measured seconds");
ABSL_FLAG(double, warmup_s, 1, "seconds of load before measuring");
ABSL_FLAG(int, threads, 1, "load threads (one epoll loop each)");
ABSL_FLAG(bool, preload, true, "set every key once before the run, so gets hit");
ABSL_FLAG(bool, preload_only, false, "preload, print a JSON line and exit (no load)");
ABSL_FLAG(int, timeout_ms, 2000, "a connection with no reply progress for this long is reset");
ABSL_FLAG(std::string, key_prefix, "mcb:", "prefix of every key");
ABSL_FLAG(std::string, label, "", "free text copied into the JSON line");

namespace mcmesh::bench {
namespace {

struct PreloadResult {
  uint64_t stored = 0;
  uint64_t errors = 0;
  double seconds = 0;
};

// Blocking socket with send/receive timeouts, so a dead target fails fast instead of hanging.
int connectBlocking(const LoadConfig& c, int timeout_ms) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(c.port));
  if (inet_pton(AF_INET, c.host.c_str(), &addr.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Sets keys [0, keyspace) in pipelined batches. Bounded by the socket timeouts and a deadline.
PreloadResult preload(const LoadConfig& c, int timeout_ms) {
  PreloadResult r;
  uint64_t start = monotonicNs();
  uint64_t deadline = start + 120ull * 1000000000ull;
  int fd = connectBlocking(c, timeout_ms);
  if (fd < 0) {
    r.errors = c.keyspace;
    return r;
  }
  const std::string value(c.value_size, 'v');
  const uint64_t kBatch = 128;
  std::string out;
  std::vector<char> in(64 * 1024);
  for (uint64_t first = 0; first < c.keyspace && monotonicNs() < deadline; first += kBatch) {
    uint64_t last = std::min(c.keyspace, first + kBatch);
    out.clear();
    for (uint64_t i = first; i < last; ++i) {
      out.append("set ");
      appendKey(c.key_prefix, i, &out);
      out.append(" 0 0 " + std::to_string(c.value_size) + "\r\n");
      out.append(value);
      out.append("\r\n");
    }
    if (!sendAll(fd, out)) break;
    uint64_t want = last - first;
    size_t head = 0, tail = 0;
    ReplyScanner scanner;
    while (want > 0) {
      if (head == tail) head = tail = 0;
      ssize_t n = ::recv(fd, in.data() + tail, in.size() - tail, 0);
      if (n <= 0) break;
      tail += static_cast<size_t>(n);
      while (want > 0) {
        ScanStatus st = scanner.scan(in.data() + head, tail - head, ReplyKind::kStorage);
        if (st != ScanStatus::kDone) break;
        head += scanner.consumed();
        want--;
        if (scanner.ok()) {
          r.stored++;
        } else {
          r.errors++;
        }
      }
      if (tail == in.size() && head > 0) {
        std::copy(in.begin() + head, in.begin() + tail, in.begin());
        tail -= head;
        head = 0;
      }
    }
    if (want > 0) break;
  }
  ::close(fd);
  r.errors = c.keyspace - r.stored;
  r.seconds = static_cast<double>(monotonicNs() - start) / 1e9;
  return r;
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out.push_back(ch);
  }
  return out;
}

int run() {
  LoadConfig c;
  c.host = absl::GetFlag(FLAGS_host);
  c.port = absl::GetFlag(FLAGS_port);
  c.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  c.pipeline = std::max(1, absl::GetFlag(FLAGS_pipeline));
  c.get_ratio = absl::GetFlag(FLAGS_get_ratio);
  c.keyspace = std::max<uint64_t>(1, absl::GetFlag(FLAGS_keyspace));
  c.value_size = absl::GetFlag(FLAGS_value_size);
  c.multiget = std::max(1, absl::GetFlag(FLAGS_multiget));
  c.key_prefix = absl::GetFlag(FLAGS_key_prefix);
  int timeout_ms = std::max(1, absl::GetFlag(FLAGS_timeout_ms));
  c.timeout_ns = static_cast<uint64_t>(timeout_ms) * 1000000ull;
  c.connect_timeout_ns = std::min<uint64_t>(c.timeout_ns, 1000000000ull);
  int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  int connections = std::max(threads, absl::GetFlag(FLAGS_connections));
  double duration_s = std::max(0.1, absl::GetFlag(FLAGS_duration_s));
  double warmup_s = std::max(0.0, absl::GetFlag(FLAGS_warmup_s));

  PreloadResult pre;
  if (!c.tls_ca.empty() && (absl::GetFlag(FLAGS_preload) || absl::GetFlag(FLAGS_preload_only))) {
    std::fprintf(stderr, "mcbench: preload is plain text only: with --tls_ca pass "
                         "--preload=false (preload through a plain port first)\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_preload) || absl::GetFlag(FLAGS_preload_only)) {
    pre = preload(c, timeout_ms);
  }
  if (absl::GetFlag(FLAGS_preload_only)) {
    std::printf("{\"label\":\"%s\",\"target\":\"%s:%d\",\"preload_stored\":%" PRIu64
                ",\"preload_errors\":%" PRIu64 ",\"preload_s\":%.2f}\n",
                jsonEscape(absl::GetFlag(FLAGS_label)).c_str(), jsonEscape(c.host).c_str(),
                c.port, pre.stored, pre.errors, pre.seconds);
    return pre.errors == 0 ? 0 : 1;
  }

  uint64_t start = monotonicNs();
  c.warm_end_ns = start + static_cast<uint64_t>(warmup_s * 1e9);
  c.end_ns = c.warm_end_ns + static_cast<uint64_t>(duration_s * 1e9);
  std::vector<std::unique_ptr<LoadThread>> loads;
  for (int t = 0; t < threads; ++t) {
    int share = connections / threads + (t < connections % threads ? 1 : 0);
    loads.push_back(std::make_unique<LoadThread>(c, share, 0x9e3779b97f4a7c15ull * (t + 1)));
  }
  std::vector<std::thread> running;
  for (auto& l : loads) running.emplace_back([&l] { l->run(); });
  for (auto& t : running) t.join();
  LoadStats total;
  for (auto& l : loads) total.merge(l->stats());

  const LatencyHistogram& h = total.latency;
  uint64_t errors = total.reply_errors + total.connect_errors + total.timeouts + total.disconnects;
  std::printf(
      "{\"label\":\"%s\",\"target\":\"%s:%d\",\"connections\":%d,\"threads\":%d,"
      "\"pipeline\":%d,\"get_ratio\":%.3f,\"keyspace\":%" PRIu64 ",\"value_size\":%zu,"
      "\"multiget\":%d,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"ops\":%" PRIu64
      ",\"ops_per_s\":%.1f,\"keys_per_s\":%.1f,\"gets\":%" PRIu64 ",\"sets\":%" PRIu64
      ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"errors\":%" PRIu64
      ",\"reply_errors\":%" PRIu64 ",\"connect_errors\":%" PRIu64 ",\"timeouts\":%" PRIu64
      ",\"disconnects\":%" PRIu64 ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f,\"mean_us\":%.1f,\"mb_out_per_s\":%.2f,\"mb_in_per_s\":%.2f,"
      "\"preload_stored\":%" PRIu64 ",\"preload_errors\":%" PRIu64 ",\"preload_s\":%.2f}\n",
      jsonEscape(absl::GetFlag(FLAGS_label)).c_str(), jsonEscape(c.host).c_str(), c.port,
      connections, threads, c.pipeline, c.get_ratio, c.keyspace, c.value_size, c.multiget,
      duration_s, warmup_s, total.ops, total.ops / duration_s,
      static_cast<double>(total.keys + total.sets) / duration_s,
      total.gets, total.sets, total.hits, total.misses, errors, total.reply_errors,
      total.connect_errors, total.timeouts, total.disconnects, h.quantile(0.50) / 1e3,
      h.quantile(0.99) / 1e3, h.quantile(0.999) / 1e3, h.max() / 1e3, h.mean() / 1e3,
      total.bytes_out / duration_s / 1e6, total.bytes_in / duration_s / 1e6, pre.stored,
      pre.errors, pre.seconds);
  std::fflush(stdout);
  return total.ops > 0 ? 0 : 1;
}

}  // namespace
}  // namespace mcmesh::bench

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  absl::SetProgramUsageMessage(
      "mcbench --host 127.0.0.1 --port P [--connections N --pipeline D --get_ratio R "
      "--keyspace K --value_size B --multiget W --duration_s S --warmup_s S --threads T]");
  absl::ParseCommandLine(argc, argv);
  return mcmesh::bench::run();
}
