// Real mcmesh_cp, mcmeshctl, mcmesh and memcached processes (issue 14 item 7): a store that is
// empty, cut at a message boundary or has a changed byte is refused at start-up with a message
// naming the file, never served as an empty or smaller topology; and a proxy that runs version
// 108 NACKs version 1 from a recreated control plane (and keeps serving 108) until the control
// plane resets its epoch.
//
// The binaries can be swapped for another build through MCMESH_CP_BINARY, MCMESHCTL_BINARY and
// MCMESH_BINARY (absolute paths, e.g. with --test_env), which is how the same test was run
// against the code from before the fix.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/mcmesh/v1/admin.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

using ::testing::HasSubstr;

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  return absl::StrCat(getcwd(cwd, sizeof(cwd)), "/", path);
}

// The binary to run: $env if set (another build), else this workspace's from runfiles.
std::string binary(const char* env, const std::string& runfile) {
  const char* override_path = std::getenv(env);
  return override_path != nullptr && *override_path != '\0' ? override_path
                                                            : absolute(runfilePath(runfile));
}
std::string cpBinary() { return binary("MCMESH_CP_BINARY", "control_plane/mcmesh_cp"); }
std::string ctlBinary() { return binary("MCMESHCTL_BINARY", "control_plane/mcmeshctl"); }
std::string proxyBinary() { return binary("MCMESH_BINARY", "app/mcmesh"); }

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void writeAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
};

// Runs a short command (mcmeshctl) to completion, killed after 20 s; stdout captured, stderr
// appended to it.
RunResult run(const std::vector<std::string>& argv) {
  RunResult result;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  pollfd fd = {pipe_fds[0], POLLIN, 0};
  bool open = true;
  while (open && absl::Now() < deadline) {
    if (poll(&fd, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      result.out.append(buffer, static_cast<size_t>(n));
    } else {
      open = false;
    }
  }
  close(pipe_fds[0]);
  if (open) {
    ADD_FAILURE() << argv[0] << " did not finish within 20 s";
    kill(pid, SIGKILL);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// One start of mcmesh_cp: either it listens (process set, port known) or it exited (exit_code).
struct CpStart {
  ChildProcessPtr process;
  int port = 0;
  std::optional<int> exit_code;
  std::string stderr_text;

  RunResult ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {ctlBinary(), absl::StrCat("--control_plane=127.0.0.1:", port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
};

CpStart startControlPlane(const std::string& store, const std::string& bootstrap, int port = 0) {
  const std::string port_file = testTempPath("cp.port");
  const std::string err_file = testTempPath("cp.err");
  std::vector<std::string> argv = {cpBinary(), absl::StrCat("--listen=127.0.0.1:", port),
                                   "--store_path=" + store, "--port_file=" + port_file};
  if (!bootstrap.empty()) argv.push_back("--bootstrap=" + bootstrap);
  CpStart start;
  auto child = ChildProcess::start(argv, {}, err_file);
  if (!child.ok()) {
    ADD_FAILURE() << child.status();
    return start;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline) {
    std::ifstream in(port_file);
    std::string line;
    if (std::getline(in, line) && absl::SimpleAtoi(line, &start.port) && start.port > 0) {
      start.process = std::move(*child);
      return start;
    }
    if (!(*child)->running()) {
      const int status = (*child)->waitStatus().value_or(-1);
      start.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      start.stderr_text = readAll(err_file);
      return start;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ADD_FAILURE() << "mcmesh_cp neither listened nor exited within 15 s";
  return start;
}

template <class Message>
Message fromJson(const std::string& json) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status << " in: " << json;
  return message;
}

mcmesh::v1::Topology servedTopology(const CpStart& cp) {
  RunResult r = cp.ctl({"--json", "topology"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return fromJson<mcmesh::v1::GetTopologyResponse>(r.out).topology();
}

// Expects mcmesh_cp to have refused to start with a message containing each of `phrases`; if it
// started instead, says what it serves.
void expectRefused(CpStart& cp, const std::vector<std::string>& phrases) {
  if (cp.process != nullptr) {
    ADD_FAILURE() << "mcmesh_cp started and serves: " << servedTopology(cp).ShortDebugString();
    cp.process->stop();
    return;
  }
  ASSERT_TRUE(cp.exit_code.has_value());
  EXPECT_NE(*cp.exit_code, 0);
  std::cout << "mcmesh_cp exit " << *cp.exit_code << ", stderr:\n" << cp.stderr_text;
  for (const std::string& phrase : phrases) EXPECT_THAT(cp.stderr_text, HasSubstr(phrase));
}

constexpr char kTwoClusters[] = R"pb(
  version: 40
  clusters {
    name: "web"
    primary { nodes { address: "127.0.0.1:11211" weight: 1 state: NODE_STATE_ACTIVE } }
  }
  clusters {
    name: "api"
    primary { nodes { address: "127.0.0.1:11212" weight: 1 state: NODE_STATE_ACTIVE } }
  }
)pb";

std::string bootstrapFile(const std::string& text) {
  const std::string path = testTempPath("bootstrap.textproto");
  writeAll(path, text);
  return path;
}

// Writes a store the way mcmesh_cp does: start it on an empty path with a bootstrap, stop it.
mcmesh::v1::Topology makeStore(const std::string& store) {
  CpStart cp = startControlPlane(store, bootstrapFile(kTwoClusters));
  if (cp.process == nullptr) {
    ADD_FAILURE() << "mcmesh_cp did not start: " << cp.stderr_text;
    return {};
  }
  mcmesh::v1::Topology served = servedTopology(cp);
  cp.process->stop();
  return served;
}

TEST(StoreIntegrityTest, ZeroByteStoreIsRefusedWithOrWithoutBootstrap) {
  const std::string bootstrap = bootstrapFile(kTwoClusters);
  for (const bool with_bootstrap : {true, false}) {
    SCOPED_TRACE(with_bootstrap ? "with --bootstrap" : "without --bootstrap");
    const std::string store = testTempPath("topology.pb");
    writeAll(store, "");
    CpStart cp = startControlPlane(store, with_bootstrap ? bootstrap : "");
    expectRefused(cp, {"store " + store + " is empty (0 bytes)", "move it away"});
    // The refusal leaves the evidence alone: nothing was written over the file.
    EXPECT_EQ(readAll(store).size(), 0u);
    if (with_bootstrap) {
      // The documented recovery: move the file away, and the bootstrap applies.
      ASSERT_EQ(::rename(store.c_str(), (store + ".bad").c_str()), 0);
      CpStart fresh = startControlPlane(store, bootstrap);
      ASSERT_NE(fresh.process, nullptr) << fresh.stderr_text;
      EXPECT_EQ(servedTopology(fresh).version(), 40u);
      fresh.process->stop();
    }
  }
}

TEST(StoreIntegrityTest, StoreCutAtAMessageBoundaryIsRefused) {
  for (const std::string name : {"topology.pb", "topology.textproto"}) {
    SCOPED_TRACE(name);
    const std::string store = testTempPath(name);
    const mcmesh::v1::Topology full = makeStore(store);
    ASSERT_EQ(full.clusters_size(), 2);
    mcmesh::v1::Topology one = full;
    one.mutable_clusters()->RemoveLast();
    // The topology is the end of the file in either format, and the last cluster is the end of
    // the topology: dropping its bytes cuts the file exactly at the end of the first cluster.
    std::string with_both;
    std::string with_one;
    if (name == "topology.pb") {
      ASSERT_TRUE(full.SerializeToString(&with_both));
      ASSERT_TRUE(one.SerializeToString(&with_one));
    } else {
      ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(full, &with_both));
      ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(one, &with_one));
    }
    const std::string data = readAll(store);
    const size_t dropped = with_both.size() - with_one.size();
    ASSERT_GT(data.size(), dropped);
    ASSERT_EQ(data.substr(data.size() - with_both.size()), with_both);
    writeAll(store, data.substr(0, data.size() - dropped));
    std::cout << name << ": " << data.size() << " bytes cut to " << data.size() - dropped << "\n";
    CpStart cp = startControlPlane(store, bootstrapFile(kTwoClusters));
    expectRefused(cp, {"store " + store + " is truncated"});
  }
}

TEST(StoreIntegrityTest, StoreWithAFlippedByteIsRefused) {
  const std::string store = testTempPath("topology.pb");
  makeStore(store);
  std::string data = readAll(store);
  // "127.0.0.1:11212" -> "127.0.0.1:11213": still a valid topology, pointing at another server.
  const size_t at = data.find("127.0.0.1:11212");
  ASSERT_NE(at, std::string::npos);
  data[at + 14] ^= 0x01;
  writeAll(store, data);
  CpStart cp = startControlPlane(store, "");
  expectRefused(cp, {"store " + store + " is corrupt: its CRC-32C is"});
}

// Users upgrade in place: a store in the format from before the checksum (a bare serialized
// Topology) is served, rewritten with a header at once, and still loads on the next start.
TEST(StoreIntegrityTest, OldFormatStoreIsLoadedAndRewritten) {
  const std::string store = testTempPath("topology.pb");
  mcmesh::v1::Topology old;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kTwoClusters, &old));
  std::string bytes;
  ASSERT_TRUE(old.SerializeToString(&bytes));
  writeAll(store, bytes);
  for (int start = 0; start < 2; ++start) {
    CpStart cp = startControlPlane(store, "");
    ASSERT_NE(cp.process, nullptr) << cp.stderr_text;
    const mcmesh::v1::Topology served = servedTopology(cp);
    EXPECT_EQ(served.version(), 40u);
    EXPECT_EQ(served.clusters_size(), 2);
    cp.process->stop();
    EXPECT_EQ(readAll(store).substr(0, 8), "MCMESHTS") << "after start " << start;
  }
}

// ListProxies' entry for `id` (empty if it is not listed).
mcmesh::v1::ProxyStatus proxyStatus(const CpStart& cp, const std::string& id) {
  RunResult r = cp.ctl({"--json", "proxies"});
  if (r.exit_code != 0) return {};
  const auto listed = fromJson<mcmesh::v1::ListProxiesResponse>(r.out);
  for (const auto& proxy : listed.proxies()) {
    if (proxy.id() == id) return proxy;
  }
  return {};
}

// Polls ListProxies until `done` holds for the proxy's entry (20 s: the proxy reconnects with a
// backoff of up to 5 s). @return the last entry seen.
template <class Predicate>
mcmesh::v1::ProxyStatus waitForProxy(const CpStart& cp, const std::string& id,
                                     const Predicate& done) {
  mcmesh::v1::ProxyStatus status;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    status = proxyStatus(cp, id);
    if (done(status)) return status;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ADD_FAILURE() << "timed out; proxy entry: " << status.ShortDebugString();
  return status;
}

bool holds(const MemcachedServer& server, const std::string& key) {
  auto client = TextClient::connect(server.port());
  if (!client.ok()) return false;
  auto value = (*client)->get(key);
  return value.ok() && value->has_value();
}

std::string setThrough(int proxy_port, const std::string& key) {
  auto client = TextClient::connect(proxy_port);
  if (!client.ok()) return std::string(client.status().message());
  auto reply = (*client)->set(key, "v");
  return reply.ok() ? *reply : std::string(reply.status().message());
}

std::string clusterOn(const MemcachedServer& server, uint64_t version) {
  return absl::StrCat(version == 0 ? "" : absl::StrCat("version: ", version, "\n"),
                      "clusters { name: \"web\" primary { nodes { address: \"", server.address(),
                      "\" weight: 1 state: NODE_STATE_ACTIVE } } }\n");
}

TEST(ProxyVersionTest, OlderVersionFromARecreatedControlPlaneIsNackedUntilAnEpochReset) {
  auto a = MemcachedServer::start();
  auto b = MemcachedServer::start();
  ASSERT_TRUE(a.ok() && b.ok());
  const int cp_port = pickFreePort();

  // The control plane as it was: version 108, cluster "web" on memcached A.
  CpStart cp = startControlPlane(testTempPath("old-store.pb"),
                                 bootstrapFile(clusterOn(**a, 108)), cp_port);
  ASSERT_NE(cp.process, nullptr) << cp.stderr_text;
  auto proxy = McmeshProcess::start(
      {absl::StrCat("--control_plane=127.0.0.1:", cp_port), "--cluster=web", "--proxy_id=p1"},
      proxyBinary());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  waitForProxy(cp, "p1", [](const auto& s) { return s.applied_version() == 108; });
  ASSERT_EQ(setThrough((*proxy)->port(), "before"), "STORED");
  EXPECT_TRUE(holds(**a, "before"));

  // The cluster is recreated: a new store, bootstrapped at version 1 on memcached B.
  cp.process->stop();
  cp = startControlPlane(testTempPath("new-store.pb"), bootstrapFile(clusterOn(**b, 0)), cp_port);
  ASSERT_NE(cp.process, nullptr) << cp.stderr_text;
  const absl::Time offered = absl::Now();
  mcmesh::v1::ProxyStatus status = waitForProxy(cp, "p1", [](const auto& s) {
    return s.last_nack_version() == 1 || s.applied_version() == 1;
  });
  std::cout << "proxy entry " << absl::FormatDuration(absl::Now() - offered)
            << " after the new control plane started: " << status.ShortDebugString() << "\n";
  EXPECT_EQ(status.last_nack_version(), 1u);
  EXPECT_EQ(status.applied_version(), 108u);
  EXPECT_THAT(status.last_nack_reason(),
              HasSubstr("snapshot version 1 (epoch 0) is older than the version 108 (epoch 0) "
                        "this proxy runs"));
  EXPECT_THAT(status.last_nack_reason(), HasSubstr("mcmeshctl reset-epoch 1"));
  RunResult listed = cp.ctl({"proxies"});
  std::cout << listed.out;

  // The proxy keeps serving version 108: writes still go to A.
  EXPECT_EQ(setThrough((*proxy)->port(), "during"), "STORED");
  EXPECT_TRUE(holds(**a, "during"));
  EXPECT_FALSE(holds(**b, "during"));

  // A deliberate reset: the proxy takes the new topology.
  RunResult reset = cp.ctl({"reset-epoch"});
  std::cout << "$ mcmeshctl reset-epoch\n" << reset.out;
  EXPECT_EQ(reset.exit_code, 0);
  EXPECT_THAT(reset.out, HasSubstr("reset-epoch: ok, topology version 2 (epoch 1)"));
  status = waitForProxy(cp, "p1", [](const auto& s) { return s.applied_version() == 2; });
  EXPECT_EQ(status.applied_version(), 2u);
  EXPECT_EQ(setThrough((*proxy)->port(), "after"), "STORED");
  EXPECT_TRUE(holds(**b, "after"));
  EXPECT_FALSE(holds(**a, "after"));
  cp.process->stop();
}

}  // namespace
}  // namespace mcmesh::testing
