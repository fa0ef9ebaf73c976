// Proves KetamaRing places keys exactly where a real nutcracker (twemproxy) places them.
//
// Each test writes keys through nutcracker (distribution: ketama, hash: md5), then asks every
// memcached directly which keys it holds, and compares with KetamaRing::serverIndexFor.
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proxy/routing/ketama_ring.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"

namespace mcmesh::testing {
namespace {

constexpr char kNutcrackerPath[] = "/usr/sbin/nutcracker";

// A nutcracker process with one ketama/md5 pool; its config, pid and log live in a temp dir.
class Nutcracker {
 public:
  /**
   * @param server_lines nutcracker `servers:` entries, "host:port:weight [name]".
   * Listen and stats ports come from pickFreePort(), which can race with other tests, so a
   * nutcracker that exits or never listens is retried on fresh ports.
   */
  static absl::StatusOr<std::unique_ptr<Nutcracker>> start(
      const std::vector<std::string>& server_lines) {
    if (::access(kNutcrackerPath, X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(kNutcrackerPath, " missing: apt-get install -y nutcracker"));
    }
    const char* base = std::getenv("TEST_TMPDIR");
    std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/nutcracker.XXXXXX");
    if (::mkdtemp(dir.data()) == nullptr) {
      return absl::InternalError("mkdtemp failed");
    }
    absl::Status last = absl::UnknownError("not started");
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto nutcracker = std::unique_ptr<Nutcracker>(new Nutcracker(dir));
      last = nutcracker->launch(server_lines);
      if (last.ok()) {
        return nutcracker;
      }
    }
    return last;
  }

  int port() const { return port_; }

  // The log, for failure messages.
  std::string log() const {
    std::ifstream in(dir_ + "/nutcracker.log");
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

 private:
  explicit Nutcracker(std::string dir) : dir_(std::move(dir)) {}

  absl::Status launch(const std::vector<std::string>& server_lines) {
    port_ = pickFreePort();
    const int stats_port = pickFreePort();
    const std::string conf = dir_ + "/nutcracker.yml";
    {
      std::ofstream out(conf, std::ios::trunc);
      out << "mcmesh_ketama:\n"
          << "  listen: 127.0.0.1:" << port_ << "\n"
          << "  hash: md5\n"
          << "  distribution: ketama\n"
          << "  auto_eject_hosts: false\n"
          << "  timeout: 2000\n"
          << "  servers:\n";
      for (const std::string& line : server_lines) {
        out << "   - " << line << "\n";
      }
      if (!out) {
        return absl::InternalError(absl::StrCat("cannot write ", conf));
      }
    }
    absl::StatusOr<ChildProcessPtr> process = ChildProcess::start(
        {kNutcrackerPath, "-c", conf, "-p", dir_ + "/nutcracker.pid", "-o",
         dir_ + "/nutcracker.log", "-s", absl::StrCat(stats_port), "-a", "127.0.0.1"});
    if (!process.ok()) {
      return process.status();
    }
    process_ = *std::move(process);
    // A connect can reach another process that owns the port while ours failed to bind and is
    // exiting, so also require ours to stay up a moment.
    if (!waitForPort(port_, absl::Seconds(5)) ||
        (absl::SleepFor(absl::Milliseconds(50)), !process_->running())) {
      return absl::UnavailableError(absl::StrCat("nutcracker did not start: ", log()));
    }
    return absl::OkStatus();
  }

  const std::string dir_;
  int port_ = 0;
  ChildProcessPtr process_;
};

std::vector<std::string> makeKeys(int count) {
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) {
    keys.push_back(absl::StrCat("nutcracker-parity:", i));
  }
  return keys;
}

// The reply nutcracker gave to `set` for each key ("STORED" or an error line).
std::vector<std::string> setThroughNutcracker(const Nutcracker& nutcracker,
                                              const std::vector<std::string>& keys) {
  std::vector<std::string> replies;
  absl::StatusOr<TextClientPtr> client = TextClient::connect(nutcracker.port());
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) {
    return replies;
  }
  for (const std::string& key : keys) {
    absl::StatusOr<std::string> reply = (*client)->set(key, "v:" + key);
    replies.push_back(reply.ok() ? *reply : reply.status().ToString());
  }
  return replies;
}

constexpr int kNobody = -1;
constexpr int kSeveral = -2;

// Which of `servers` holds each key, asked directly: an index, kNobody or kSeveral.
std::vector<int> holders(const std::vector<MemcachedServerPtr>& servers,
                         const std::vector<std::string>& keys) {
  std::vector<int> out(keys.size(), kNobody);
  for (size_t s = 0; s < servers.size(); ++s) {
    absl::StatusOr<TextClientPtr> client =
        TextClient::connectTo(servers[s]->host(), servers[s]->port());
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) {
      continue;
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      absl::StatusOr<std::optional<std::string>> value = (*client)->get(keys[k]);
      EXPECT_TRUE(value.ok()) << value.status();
      if (value.ok() && value->has_value()) {
        EXPECT_EQ(**value, "v:" + keys[k]);
        out[k] = out[k] == kNobody ? static_cast<int>(s) : kSeveral;
      }
    }
  }
  return out;
}

/**
 * Checks every key: one the ring maps to a live server (ring index < live count) must have been
 * STORED there and only there; one it maps to an unreachable server must have failed and be
 * nowhere. Reports the first few mismatches.
 */
void expectSamePlacement(const ketama::KetamaRing& ring, size_t live_count,
                         const std::vector<std::string>& keys,
                         const std::vector<std::string>& replies, const std::vector<int>& held,
                         const Nutcracker& nutcracker) {
  ASSERT_EQ(replies.size(), keys.size());
  int mismatches = 0;
  int stored = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    const size_t expected = ring.serverIndexFor(keys[k]);
    const bool live = expected < live_count;
    stored += replies[k] == "STORED" ? 1 : 0;
    const bool ok = live ? (replies[k] == "STORED" && held[k] == static_cast<int>(expected))
                         : (replies[k] != "STORED" && held[k] == kNobody);
    if (!ok && ++mismatches <= 10) {
      ADD_FAILURE() << "key " << keys[k] << ": ring says server " << expected
                    << (live ? "" : " (unreachable)") << ", nutcracker replied '" << replies[k]
                    << "', held by " << held[k];
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << keys.size() << " keys; nutcracker log:\n"
                           << (mismatches > 0 ? nutcracker.log() : "");
  EXPECT_GT(stored, 0);
}

// Different weights on ephemeral (non-default) ports: points are named "127.0.0.1:<port>-<k>".
TEST(KetamaVsNutcrackerTest, WeightedServersOnEphemeralPorts) {
  const std::vector<uint32_t> weights = {1, 2, 4};
  std::vector<MemcachedServerPtr> servers;
  std::vector<ketama::RingServer> ring_servers;
  std::vector<std::string> lines;
  for (uint32_t weight : weights) {
    absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start();
    ASSERT_TRUE(server.ok()) << server.status();
    ring_servers.push_back({"127.0.0.1", (*server)->port(), weight, ""});
    lines.push_back(absl::StrCat((*server)->address(), ":", weight));
    servers.push_back(*std::move(server));
  }
  absl::StatusOr<std::unique_ptr<Nutcracker>> nutcracker = Nutcracker::start(lines);
  ASSERT_TRUE(nutcracker.ok()) << nutcracker.status();
  absl::StatusOr<ketama::KetamaRing> ring = ketama::KetamaRing::build(ring_servers);
  ASSERT_TRUE(ring.ok()) << ring.status();

  const std::vector<std::string> keys = makeKeys(2000);
  const std::vector<std::string> replies = setThroughNutcracker(**nutcracker, keys);
  expectSamePlacement(*ring, servers.size(), keys, replies, holders(servers, keys), **nutcracker);
}

// Port 11211 servers are named by host alone ("127.a.b.1-<k>"), and a "name" field replaces the
// whole server name. Every 127/8 address is loopback, so a per-run 127.a.b.x keeps 11211 free of
// clashes with other tests.
TEST(KetamaVsNutcrackerTest, DefaultPortAndNamedServers) {
  const unsigned salt =
      static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(absl::ToUnixMicros(absl::Now()));
  const std::string prefix = absl::StrCat("127.", 100 + salt % 150, ".", 1 + (salt >> 8) % 250);
  struct Spec {
    uint32_t weight;
    std::string name;
  };
  const std::vector<Spec> specs = {{1, ""}, {3, ""}, {2, "gamma"}};
  std::vector<MemcachedServerPtr> servers;
  std::vector<ketama::RingServer> ring_servers;
  std::vector<std::string> lines;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string host = absl::StrCat(prefix, ".", i + 1);
    absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start(11211, host);
    ASSERT_TRUE(server.ok()) << server.status();
    ring_servers.push_back({host, 11211, specs[i].weight, specs[i].name});
    lines.push_back(absl::StrCat(host, ":11211:", specs[i].weight, specs[i].name.empty() ? "" : " ",
                                 specs[i].name));
    servers.push_back(*std::move(server));
  }
  absl::StatusOr<std::unique_ptr<Nutcracker>> nutcracker = Nutcracker::start(lines);
  ASSERT_TRUE(nutcracker.ok()) << nutcracker.status();
  absl::StatusOr<ketama::KetamaRing> ring = ketama::KetamaRing::build(ring_servers);
  ASSERT_TRUE(ring.ok()) << ring.status();

  const std::vector<std::string> keys = makeKeys(2000);
  const std::vector<std::string> replies = setThroughNutcracker(**nutcracker, keys);
  expectSamePlacement(*ring, servers.size(), keys, replies, holders(servers, keys), **nutcracker);
}

// 25 equal servers get 156 points each, not 160, because nutcracker scales in single precision
// (0.04f * 160 / 4 * 25 = 39.999996f). Three are real; 22 refuse connections, so a key's fate
// (stored on a given real server, or failed) pins down its owner among all 25.
TEST(KetamaVsNutcrackerTest, TwentyFiveServersUseSinglePrecisionScaling) {
  std::vector<MemcachedServerPtr> servers;
  std::vector<ketama::RingServer> ring_servers;
  std::vector<std::string> lines;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start();
    ASSERT_TRUE(server.ok()) << server.status();
    ring_servers.push_back({"127.0.0.1", (*server)->port(), 1, ""});
    lines.push_back(absl::StrCat((*server)->address(), ":1"));
    servers.push_back(*std::move(server));
  }
  for (int i = 1; i <= 22; ++i) {
    // Nothing listens on 127.254.254.x: connects are refused at once.
    const std::string host = absl::StrCat("127.254.254.", i);
    ring_servers.push_back({host, 9, 1, ""});
    lines.push_back(absl::StrCat(host, ":9:1"));
  }
  absl::StatusOr<std::unique_ptr<Nutcracker>> nutcracker = Nutcracker::start(lines);
  ASSERT_TRUE(nutcracker.ok()) << nutcracker.status();
  absl::StatusOr<ketama::KetamaRing> ring = ketama::KetamaRing::build(ring_servers);
  ASSERT_TRUE(ring.ok()) << ring.status();

  const std::vector<std::string> keys = makeKeys(3000);
  const std::vector<std::string> replies = setThroughNutcracker(**nutcracker, keys);
  expectSamePlacement(*ring, servers.size(), keys, replies, holders(servers, keys), **nutcracker);
  EXPECT_EQ(ring->continuum().size(), 25u * 156u);
}

}  // namespace
}  // namespace mcmesh::testing
