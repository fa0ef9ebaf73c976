// Runs the real mcmesh_cp and mcmeshctl binaries: exit codes, --json, auth, restarts, filters.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/mcmesh/v1/admin.pb.h"
#include "control_plane/discovery_client.h"
#include "control_plane/validator.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::HasSubstr;

// Binaries are data deps; a test runs from its runfiles tree, the workspace root.
constexpr char kControlPlane[] = "control_plane/mcmesh_cp";
constexpr char kCtl[] = "control_plane/mcmeshctl";

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string absolute(const std::string& relative) {
  char cwd[4096];
  return absl::StrCat(getcwd(cwd, sizeof(cwd)), "/", relative);
}

// Runs a command to completion (killed after 20 s) and captures its output.
RunResult run(const std::vector<std::string>& argv) {
  RunResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0 && absl::Now() < deadline) {
    if (poll(fds, 2, 100) <= 0) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP)) != 0) {
        char buffer[4096];
        const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
        if (n > 0) {
          sinks[i]->append(buffer, static_cast<size_t>(n));
        } else {
          close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        }
      }
    }
  }
  if (open_fds > 0) {
    ADD_FAILURE() << argv[0] << " did not finish within 20 s";
    kill(pid, SIGKILL);
  }
  for (const pollfd& fd : fds) {
    if (fd.fd >= 0) {
      close(fd.fd);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string tempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

void writeFile(const std::string& path, const std::string& contents) {
  std::ofstream(path) << contents;
}

constexpr char kBootstrap[] = R"pb(
  clusters {
    name: "web"
    primary { nodes { address: "127.0.0.1:11211" weight: 1 state: NODE_STATE_ACTIVE } }
  }
)pb";

class CliTest : public ::testing::Test {
protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    store_ = tempPath(test + "-store.textproto");
    token_file_ = tempPath(test + "-token");
    bootstrap_ = tempPath(test + "-bootstrap.textproto");
    port_file_ = tempPath(test + "-port");
    ::unlink(store_.c_str());
    writeFile(token_file_, "tok-123\n");
    writeFile(bootstrap_, kBootstrap);
  }

  void TearDown() override {
    if (cp_ != nullptr) {
      cp_->stop();
    }
  }

  // Starts mcmesh_cp on a kernel-chosen port (read back from --port_file).
  void startControlPlane(bool with_token = true, int port = 0) {
    ::unlink(port_file_.c_str());
    std::vector<std::string> argv = {
        absolute(kControlPlane), absl::StrCat("--listen=127.0.0.1:", port),
        "--store_path=" + store_, "--bootstrap=" + bootstrap_, "--port_file=" + port_file_};
    if (with_token) {
      argv.push_back("--token_file=" + token_file_);
    }
    auto child = mcmesh::testing::ChildProcess::start(argv);
    ASSERT_TRUE(child.ok()) << child.status();
    cp_ = std::move(*child);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      std::ifstream in(port_file_);
      std::string line;
      if (std::getline(in, line) && absl::SimpleAtoi(line, &port_) && port_ > 0) {
        return;
      }
      ASSERT_TRUE(cp_->running()) << "mcmesh_cp exited during start-up";
      absl::SleepFor(absl::Milliseconds(20));
    }
    FAIL() << "mcmesh_cp did not report its port";
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  RunResult ctl(std::vector<std::string> args, bool with_token = true) {
    std::vector<std::string> argv = {absolute(kCtl), "--control_plane=" + target()};
    if (with_token) {
      argv.push_back("--token_file=" + token_file_);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  template <class Message> Message parseJson(const std::string& json) {
    Message message;
    auto status = google::protobuf::util::JsonStringToMessage(json, &message);
    EXPECT_TRUE(status.ok()) << status << " in: " << json;
    return message;
  }

  mcmesh::v1::Topology topology() {
    RunResult r = ctl({"--json", "topology"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return parseJson<mcmesh::v1::GetTopologyResponse>(r.out).topology();
  }

  std::string store_;
  std::string token_file_;
  std::string bootstrap_;
  std::string port_file_;
  mcmesh::testing::ChildProcessPtr cp_;
  int port_ = 0;
};

TEST_F(CliTest, UnreachableControlPlaneExitsThree) {
  const int port = mcmesh::testing::pickFreePort();
  const absl::Time before = absl::Now();
  RunResult r = run({absolute(kCtl), absl::StrCat("--control_plane=127.0.0.1:", port), "topology"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot reach the control plane at 127.0.0.1:"));
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));

  RunResult json =
      run({absolute(kCtl), absl::StrCat("--control_plane=127.0.0.1:", port), "--json", "proxies"});
  EXPECT_EQ(json.exit_code, 3);
  EXPECT_THAT(json.out,
              HasSubstr("{\"error\":{\"code\":\"UNAVAILABLE\",\"reason\":\"unreachable\""));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run({absolute(kCtl)}).exit_code, 2);
  RunResult unknown = run({absolute(kCtl), "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(run({absolute(kCtl), "--no_such_flag", "topology"}).exit_code, 2);
  EXPECT_EQ(run({absolute(kCtl), "add-node", "web"}).exit_code, 2);
  EXPECT_EQ(run({absolute(kCtl), "set-weight", "web", "127.0.0.1:1", "heavy"}).exit_code, 2);
  EXPECT_EQ(run({absolute(kCtl), "add-node", "web", "127.0.0.1:1", "--pool=tertiary"}).exit_code,
            2);
  EXPECT_EQ(run({absolute(kCtl), "--help"}).exit_code, 0);
  EXPECT_EQ(run({absolute(kControlPlane), "--bogus"}).exit_code, 2);
}

TEST_F(CliTest, TopologyJsonReflectsBootstrap) {
  startControlPlane();
  mcmesh::v1::Topology t = topology();
  EXPECT_EQ(t.version(), 1u);
  ASSERT_EQ(t.clusters_size(), 1);
  EXPECT_EQ(t.clusters(0).primary().nodes(0).address(), "127.0.0.1:11211");

  RunResult human = ctl({"topology"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_THAT(human.out, HasSubstr("topology version 1, 1 cluster(s)"));
  EXPECT_THAT(human.out, HasSubstr("127.0.0.1:11211"));
  EXPECT_THAT(human.out, HasSubstr("ACTIVE"));
}

TEST_F(CliTest, MissingOrWrongTokenIsRefused) {
  startControlPlane();
  RunResult none = ctl({"topology"}, /*with_token=*/false);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED"));
  RunResult wrong = ctl({"--token=nope", "add-node", "web", "127.0.0.1:11212"}, false);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("UNAUTHENTICATED"));
  RunResult json = ctl({"--json", "proxies"}, false);
  EXPECT_THAT(json.out, HasSubstr("\"code\":\"UNAUTHENTICATED\",\"reason\":\"refused\""));
  EXPECT_EQ(topology().version(), 1u); // Nothing changed.
  RunResult right = ctl({"--token=tok-123", "topology"}, false);
  EXPECT_EQ(right.exit_code, 0) << right.err;
}

TEST_F(CliTest, NodeLifecycleThroughTheCli) {
  startControlPlane();
  RunResult add = ctl({"--json", "add-node", "web", "127.0.0.1:11212", "--weight=3"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto added = parseJson<mcmesh::v1::TopologyChangeResponse>(add.out);
  EXPECT_EQ(added.version(), 2u);
  EXPECT_EQ(added.topology().clusters(0).primary().nodes(1).weight(), 3u);

  RunResult human = ctl({"add-node", "web", "127.0.0.1:11311", "--pool", "backup"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, HasSubstr("add-node web backup 127.0.0.1:11311: ok, topology version 3"));

  EXPECT_EQ(ctl({"set-weight", "web", "127.0.0.1:11212", "5"}).exit_code, 0);
  EXPECT_EQ(ctl({"drain-node", "web", "127.0.0.1:11211"}).exit_code, 0);
  mcmesh::v1::Topology t = topology();
  EXPECT_EQ(t.version(), 5u);
  EXPECT_EQ(t.clusters(0).primary().nodes(0).state(), mcmesh::v1::NODE_STATE_DRAINING);
  EXPECT_EQ(t.clusters(0).primary().nodes(1).weight(), 5u);

  EXPECT_EQ(ctl({"remove-node", "web", "127.0.0.1:11211"}).exit_code, 0);
  EXPECT_EQ(ctl({"set-backup", "web", "127.0.0.1:11411=2", "127.0.0.1:11412"}).exit_code, 0);
  t = topology();
  EXPECT_EQ(t.version(), 7u);
  ASSERT_EQ(t.clusters(0).primary().nodes_size(), 1);
  ASSERT_EQ(t.clusters(0).backup().nodes_size(), 2);
  EXPECT_EQ(t.clusters(0).backup().nodes(0).weight(), 2u);

  RunResult create =
      ctl({"create-cluster", "sessions", "127.0.0.1:12211", "127.0.0.1:12212=2",
           "--backup=127.0.0.1:12311", "--mirror=sync", "--warmup=90s", "--filter=stats"});
  EXPECT_EQ(create.exit_code, 0) << create.err;
  t = topology();
  ASSERT_EQ(t.clusters_size(), 2);
  EXPECT_EQ(t.clusters(1).mirror_mode(), mcmesh::v1::MIRROR_MODE_SYNC);
  EXPECT_EQ(t.clusters(1).warmup_window().seconds(), 90);
  EXPECT_EQ(t.clusters(1).filters(0).name(), "stats");
}

TEST_F(CliTest, InvalidChangesAreRefusedWithTheServersMessage) {
  startControlPlane();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"add-node", "web", "127.0.0.1"}, "bad address: missing port (want host:port)"},
      {{"add-node", "web", "127.0.0.1:70000"}, "port \"70000\" is not a number in 1..65535"},
      {{"add-node", "nope", "127.0.0.1:11212"}, "unknown cluster \"nope\""},
      {{"add-node", "web", "127.0.0.1:11211", "--pool=backup"},
       "duplicate node \"127.0.0.1:11211\" (in primary and backup)"},
      {{"drain-node", "web", "127.0.0.1:11211"}, "primary pool has no ACTIVE node"},
      {{"remove-node", "web", "127.0.0.1:11211"}, "primary pool has no ACTIVE node"},
      {{"set-weight", "web", "127.0.0.1:11211", "0"}, "weight must be > 0"},
      {{"drain-node", "web", "127.0.0.1:9"}, "is not in cluster \"web\" primary pool"},
      {{"create-cluster", "web", "127.0.0.1:1"}, "cluster \"web\" already exists"},
  };
  for (const Case& c : cases) {
    RunResult r = ctl(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args[0] << " " << c.args[1] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
  RunResult json = ctl({"--json", "add-node", "web", "bad address"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out, HasSubstr("\"code\":\"INVALID_ARGUMENT\""));
  EXPECT_EQ(topology().version(), 1u); // Nothing was applied.
}

TEST_F(CliTest, SetFiltersRoundTripsThroughTopology) {
  startControlPlane();
  RunResult set = ctl({"set-filters", "web", "stats", "failover_reader",
                       "backup_mirror:mode=sync,max_inflight=64", "ketama_router"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out,
            "set-filters web stats failover_reader backup_mirror:max_inflight=64,mode=sync "
            "ketama_router: ok, topology version 2\n");
  mcmesh::v1::Topology t = topology();
  EXPECT_EQ(t.version(), 2u);
  ASSERT_EQ(t.clusters(0).filters_size(), 4);
  EXPECT_EQ(t.clusters(0).filters(0).name(), "stats");
  EXPECT_EQ(t.clusters(0).filters(1).name(), "failover_reader");
  EXPECT_EQ(t.clusters(0).filters(2).name(), "backup_mirror");
  EXPECT_EQ(t.clusters(0).filters(2).config().size(), 2u);
  EXPECT_EQ(t.clusters(0).filters(2).config().at("mode"), "sync");
  EXPECT_EQ(t.clusters(0).filters(2).config().at("max_inflight"), "64");
  EXPECT_EQ(t.clusters(0).filters(3).name(), "ketama_router");
  EXPECT_TRUE(t.clusters(0).filters(3).config().empty());
  RunResult human = ctl({"topology"});
  EXPECT_THAT(human.out, HasSubstr("  filters: stats, failover_reader, "
                                   "backup_mirror:max_inflight=64,mode=sync, ketama_router\n"));

  RunResult json = ctl({"--json", "set-filters", "web", "ketama_router"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto response = parseJson<mcmesh::v1::SetFiltersResponse>(json.out);
  EXPECT_EQ(response.version(), 3u);
  ASSERT_EQ(response.topology().clusters(0).filters_size(), 1);
  EXPECT_EQ(response.topology().clusters(0).filters(0).name(), "ketama_router");

  // No filter: back to the proxy's default chain.
  RunResult reset = ctl({"set-filters", "web"});
  ASSERT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_EQ(reset.out, "set-filters web (default chain): ok, topology version 4\n");
  t = topology();
  EXPECT_EQ(t.version(), 4u);
  EXPECT_EQ(t.clusters(0).filters_size(), 0);
  // Setting the same chain again changes nothing.
  EXPECT_THAT(ctl({"set-filters", "web"}).out, HasSubstr("ok, topology version 4"));

  // create-cluster's --filter takes the same syntax.
  RunResult create = ctl({"create-cluster", "sessions", "127.0.0.1:12211", "--filter=stats",
                          "--filter=backup_mirror:mode=async", "--filter=ketama_router"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  t = topology();
  ASSERT_EQ(t.clusters_size(), 2);
  ASSERT_EQ(t.clusters(1).filters_size(), 3);
  EXPECT_EQ(t.clusters(1).filters(1).name(), "backup_mirror");
  EXPECT_EQ(t.clusters(1).filters(1).config().at("mode"), "async");
}

TEST_F(CliTest, SetFiltersBadSyntaxExitsTwoAndSendsNothing) {
  startControlPlane();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"set-filters"}, "set-filters needs <cluster> [<filter>...]"},
      {{"set-filters", "web", "backup_mirror:mode"},
       "option \"mode\" of filter \"backup_mirror\" is not key=value"},
      {{"set-filters", "web", "backup_mirror:"}, "has a ':' but no options"},
      {{"set-filters", "web", ":mode=sync"}, "filter \":mode=sync\" has no name"},
      {{"set-filters", "web", "stats,ketama_router"}, "give each filter as its own argument"},
      {{"set-filters", "web", "Stats"}, "filter name \"Stats\" is not an identifier"},
      {{"set-filters", "web", "backup_mirror:mode=sync,mode=none"}, "is given twice"},
      {{"create-cluster", "api", "127.0.0.1:1", "--filter=backup_mirror:=sync"},
       "bad --filter: option \"=sync\" of filter \"backup_mirror\" has no key"},
  };
  for (const Case& c : cases) {
    RunResult r = ctl(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args.back() << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args.back();
    EXPECT_THAT(r.err, HasSubstr("usage: mcmeshctl"));
  }
  EXPECT_EQ(topology().version(), 1u);
}

TEST_F(CliTest, SetFiltersOnAnUnknownClusterExitsOne) {
  startControlPlane();
  RunResult r = ctl({"set-filters", "nope", "stats", "ketama_router"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("refused by the control plane: INVALID_ARGUMENT: unknown cluster "
                               "\"nope\""));
  RunResult json = ctl({"--json", "set-filters", "nope"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out, HasSubstr("{\"error\":{\"code\":\"INVALID_ARGUMENT\",\"reason\":"
                                  "\"refused\",\"message\":\"unknown cluster \\\"nope\\\"\"}}"));
  // Like every admin call it needs the token.
  RunResult no_token = ctl({"set-filters", "web", "ketama_router"}, /*with_token=*/false);
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(topology().version(), 1u);
}

TEST_F(CliTest, ProxiesShowsAckAndNack) {
  startControlPlane(/*with_token=*/true);
  auto quiet = [](absl::string_view) {};
  DiscoveryClientOptions options;
  options.log = quiet;
  DiscoveryClient good(
      target(), "proxy-good", "web",
      [](const mcmesh::v1::Topology& t) { return validateTopology(t); }, options);
  DiscoveryClient bad(
      target(), "proxy-bad", "web",
      [](const mcmesh::v1::Topology&) {
        return absl::InvalidArgumentError("unknown filter \"bogus\"");
      },
      options);
  good.start();
  bad.start();
  // Discovery does not need the admin token.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  mcmesh::v1::ListProxiesResponse proxies;
  while (absl::Now() < deadline) {
    RunResult r = ctl({"--json", "proxies"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    proxies = parseJson<mcmesh::v1::ListProxiesResponse>(r.out);
    // Sorted by id: proxy-bad, proxy-good.
    if (proxies.proxies_size() == 2 && proxies.proxies(0).last_nack_version() == 1 &&
        proxies.proxies(1).applied_version() == 1) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(proxies.proxies_size(), 2);
  EXPECT_EQ(proxies.proxies(0).id(), "proxy-bad");
  EXPECT_EQ(proxies.proxies(0).last_nack_reason(), "unknown filter \"bogus\"");
  EXPECT_EQ(proxies.proxies(0).applied_version(), 0u);
  EXPECT_EQ(proxies.proxies(1).id(), "proxy-good");
  EXPECT_EQ(proxies.proxies(1).applied_version(), 1u);
  EXPECT_TRUE(proxies.proxies(1).connected());

  RunResult human = ctl({"proxies"});
  EXPECT_THAT(human.out, HasSubstr("version 1: unknown filter \"bogus\""));
  good.stop();
  bad.stop();
}

TEST_F(CliTest, RestartKeepsTopologyAndIgnoresBootstrap) {
  startControlPlane();
  ASSERT_EQ(ctl({"add-node", "web", "127.0.0.1:11212"}).exit_code, 0);
  const int port = port_;
  cp_->stop(); // SIGTERM: clean shutdown.
  ASSERT_TRUE(cp_->waitStatus().has_value());
  EXPECT_TRUE(WIFEXITED(*cp_->waitStatus()) && WEXITSTATUS(*cp_->waitStatus()) == 0);
  RunResult down = ctl({"topology"});
  EXPECT_EQ(down.exit_code, 3);

  startControlPlane(true, port);
  mcmesh::v1::Topology t = topology();
  EXPECT_EQ(t.version(), 2u);
  EXPECT_EQ(t.clusters(0).primary().nodes_size(), 2);
}

TEST_F(CliTest, KilledControlPlaneLosesNothingAcknowledged) {
  startControlPlane();
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(ctl({"add-node", "web", absl::StrCat("127.0.0.1:", 12000 + i)}).exit_code, 0);
  }
  cp_->kill(SIGKILL);
  cp_->stop();
  startControlPlane();
  EXPECT_EQ(topology().version(), 6u);
}

TEST_F(CliTest, TlsServesCtlAndDiscoveryClients) {
  if (access("/usr/bin/openssl", X_OK) != 0) {
    GTEST_SKIP() << "no /usr/bin/openssl to make a test certificate";
  }
  const std::string cert = tempPath("cert.pem");
  const std::string key = tempPath("key.pem");
  RunResult gen = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                       "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                       "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;

  ::unlink(port_file_.c_str());
  auto child = mcmesh::testing::ChildProcess::start(
      {absolute(kControlPlane), "--listen=127.0.0.1:0", "--store_path=" + store_,
       "--bootstrap=" + bootstrap_, "--port_file=" + port_file_, "--tls_cert=" + cert,
       "--tls_key=" + key});
  ASSERT_TRUE(child.ok()) << child.status();
  cp_ = std::move(*child);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && port_ == 0) {
    std::ifstream in(port_file_);
    std::string line;
    if (!std::getline(in, line) || !absl::SimpleAtoi(line, &port_)) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  ASSERT_GT(port_, 0);

  RunResult tls = ctl({"--tls_ca=" + cert, "topology"}, false);
  EXPECT_EQ(tls.exit_code, 0) << tls.err;
  RunResult plaintext = ctl({"topology"}, false);
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.err; // A plaintext client cannot talk to it.

  grpc::SslCredentialsOptions ssl;
  std::ifstream in(cert);
  ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  DiscoveryClientOptions options;
  options.credentials = grpc::SslCredentials(ssl);
  options.log = [](absl::string_view) {};
  absl::Mutex mutex;
  uint64_t applied = 0;
  DiscoveryClient client(
      target(), "proxy-tls", "web",
      [&](const mcmesh::v1::Topology& t) {
        absl::MutexLock lock(&mutex);
        applied = t.version();
        return absl::OkStatus();
      },
      options);
  client.start();
  bool reached = false;
  {
    absl::MutexLock lock(&mutex);
    reached = mutex.AwaitWithTimeout(absl::Condition(
                                         +[](uint64_t* v) { return *v == 1; }, &applied),
                                     absl::Seconds(5));
  }
  client.stop();
  EXPECT_TRUE(reached);
}

TEST_F(CliTest, WithoutTokenFileAdminIsOpen) {
  startControlPlane(/*with_token=*/false);
  EXPECT_EQ(ctl({"topology"}, false).exit_code, 0);
}

} // namespace
} // namespace control_plane
} // namespace mcmesh
