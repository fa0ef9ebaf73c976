// Debian's memccapable (libmemcached-tools) against mcmesh with 2 primaries and a backup: all its
// ASCII and binary tests pass, as they do against memcached itself. Then real binary-protocol
// clients (libmemcached's memccp/memccat/memcrm/memcslap with --binary) store, fetch, multi-get
// and delete through the proxy, and the backup copies they made serve reads once the primaries die.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

struct ToolRun {
  int exit_code = -1;  // -1: killed at the deadline or did not exit normally.
  std::string output;  // stdout and stderr together.
};

std::string tempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Runs a command-line tool to completion (bounded by `timeout`) and captures what it printed.
ToolRun runTool(std::vector<std::string> argv, const std::string& cwd = "",
                absl::Duration timeout = absl::Seconds(120)) {
  static int counter = 0;
  const std::string out = absl::StrCat(tempDir(), "/tool_", getpid(), "_", ++counter, ".out");
  std::string script = absl::StrCat("exec \"$0\" \"$@\" > '", out, "' 2>&1");
  if (!cwd.empty()) script = absl::StrCat("cd '", cwd, "' && ", script);
  std::vector<std::string> sh = {"/bin/sh", "-c", script};
  sh.insert(sh.end(), argv.begin(), argv.end());
  ToolRun run;
  auto child = ChildProcess::start(sh);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return run;
  const absl::Time deadline = absl::Now() + timeout;
  while ((*child)->running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  if ((*child)->running()) {
    (*child)->kill();
    (*child)->running();
  }
  const auto status = (*child)->waitStatus();
  if (status.has_value() && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

// memccapable's own verdict: exit status 0, its "All tests passed" line, no [FAIL].
void expectAllPassed(const ToolRun& run) {
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "All tests passed")) << run.output;
  EXPECT_FALSE(absl::StrContains(run.output, "[FAIL]")) << run.output;
}

ToolRun memccapable(int port, const std::string& only) {
  return runTool({"/usr/bin/memccapable", "-h", "127.0.0.1", "-p", std::to_string(port), "-t", "5",
                  only});
}

class MemccapableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&primary1_, &primary2_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    auto proxy = McmeshProcess::start({"-s", primary1_->address(), "-s", primary2_->address(),
                                       "-b", backup_->address(), "--concurrency=2"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
    servers_ = absl::StrCat("--servers=127.0.0.1:", proxy_->port());
  }

  MemcachedServerPtr primary1_, primary2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
  std::string servers_;
};

TEST_F(MemccapableTest, AllAsciiTestsPass) { expectAllPassed(memccapable(proxy_->port(), "-a")); }

TEST_F(MemccapableTest, AllBinaryTestsPass) { expectAllPassed(memccapable(proxy_->port(), "-b")); }

TEST_F(MemccapableTest, WholeSuiteOnOneConnectionPasses) {
  // No option: ASCII then binary tests, the way Debian's package runs it.
  ToolRun run = runTool({"/usr/bin/memccapable", "-h", "127.0.0.1", "-p",
                         std::to_string(proxy_->port()), "-t", "5"});
  expectAllPassed(run);
  EXPECT_TRUE(absl::StrContains(run.output, "binary getkq")) << run.output;
}

// The baseline the proxy is held to: the same tool and options against memcached itself.
TEST_F(MemccapableTest, MemcachedItselfPassesTheSameSuite) {
  expectAllPassed(memccapable(primary1_->port(), "-a"));
  expectAllPassed(memccapable(primary1_->port(), "-b"));
}

// Writes `files` (name -> content) into a fresh directory: memccp stores each under its name.
std::string writeFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  static int counter = 0;
  const std::string dir = absl::StrCat(tempDir(), "/files_", getpid(), "_", ++counter);
  EXPECT_EQ(::system(absl::StrCat("mkdir -p '", dir, "'").c_str()), 0);
  for (const auto& [name, content] : files) {
    std::ofstream(absl::StrCat(dir, "/", name)) << content;
  }
  return dir;
}

TEST_F(MemccapableTest, LibmemcachedBinaryClientSetsGetsMultiGetsAndDeletes) {
  const std::string dir = writeFiles({{"bin_k1", "value one"},
                                      {"bin_k2", "value two"},
                                      {"bin_k3", std::string(20000, 'x')}});
  ToolRun set = runTool({"/usr/bin/memccp", "--binary", servers_, "--set", "--flags=7", "bin_k1",
                         "bin_k2", "bin_k3"},
                        dir);
  ASSERT_EQ(set.exit_code, 0) << set.output;

  // memcat fetches each key with memcached_get, which libmemcached's binary mode sends as
  // GETKQ + NOOP: the quiet-get pipeline that multi-gets are made of.
  ToolRun get = runTool({"/usr/bin/memccat", "--binary", servers_, "bin_k1", "bin_k2", "bin_k3"});
  ASSERT_EQ(get.exit_code, 0) << get.output;
  EXPECT_EQ(get.output, absl::StrCat("value one\nvalue two\n", std::string(20000, 'x'), "\n"));
  ToolRun flags = runTool({"/usr/bin/memccat", "--binary", "--flags", "-v", servers_, "bin_k1"});
  EXPECT_TRUE(absl::StrContains(flags.output, "flags: 7")) << flags.output;

  // A miss in the middle: the others still come back; memcat exits non-zero for the miss.
  ToolRun partial = runTool({"/usr/bin/memccat", "--binary", servers_, "bin_k1", "bin_none",
                             "bin_k2"});
  EXPECT_NE(partial.exit_code, 0);
  EXPECT_EQ(partial.output, "value one\nvalue two\n");

  // Multi-get proper: memcached_mget of many keys (GETKQ x N + NOOP) over the proxy, keys spread
  // over both primaries.
  ToolRun mget = runTool({"/usr/bin/memcslap", "--binary", servers_, "--test=mget",
                          "--execute-number=500", "--concurrency=2"});
  EXPECT_EQ(mget.exit_code, 0) << mget.output;
  EXPECT_TRUE(absl::StrContains(mget.output, "Time to mget")) << mget.output;
  EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(mget.output), "error")) << mget.output;

  ToolRun del = runTool({"/usr/bin/memcrm", "--binary", servers_, "bin_k2"});
  ASSERT_EQ(del.exit_code, 0) << del.output;
  ToolRun gone = runTool({"/usr/bin/memccat", "--binary", servers_, "bin_k2"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_EQ(gone.output, "");
  ToolRun del_again = runTool({"/usr/bin/memcrm", "--binary", servers_, "bin_k2"});
  EXPECT_NE(del_again.exit_code, 0) << del_again.output;

  // Binary writes were mirrored to the backup: with both primaries gone, reads still work.
  absl::SleepFor(absl::Milliseconds(200));  // async mirroring lands within milliseconds.
  primary1_->kill();
  primary2_->kill();
  ToolRun failover = runTool({"/usr/bin/memccat", "--binary", servers_, "bin_k1"});
  EXPECT_EQ(failover.exit_code, 0) << failover.output;
  EXPECT_EQ(failover.output, "value one\n");
}

TEST_F(MemccapableTest, TextMetaAndBinaryClientsShareOnePortAndOneKeySpace) {
  const std::string dir = writeFiles({{"shared_key", "from binary"}});
  ASSERT_EQ(runTool({"/usr/bin/memccp", "--binary", servers_, "--set", "shared_key"}, dir)
                .exit_code,
            0);
  auto client = TextClient::connect(proxy_->port());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(*(*client)->roundTrip("get shared_key\r\n", "END\r\n"),
            "VALUE shared_key 0 11\r\nfrom binary\r\nEND\r\n");
  EXPECT_EQ(*(*client)->roundTrip("ms shared_key 9 T0 F3\r\nfrom meta\r\nmg shared_key v f k\r\n",
                                  "from meta\r\n"),
            "HD\r\nVA 9 f3 kshared_key\r\nfrom meta\r\n");
  ToolRun get = runTool({"/usr/bin/memccat", "--binary", servers_, "shared_key"});
  EXPECT_EQ(get.output, "from meta\n");
}

}  // namespace
}  // namespace mcmesh::testing
