// A bad filter chain stops mcmesh at start-up: exit code 2 and a message naming the problem on
// stderr, whether the chain comes from --filter_chain or from a --config topology file.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

using ::testing::HasSubstr;

std::string tempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string writeFile(const std::string& name, const std::string& contents) {
  std::string path = tempPath(name);
  std::ofstream(path) << contents;
  return path;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// A topology with one cluster "default" and the given `filters { ... }` entries.
std::string topology(const std::string& filters) {
  return absl::StrCat(
      "version: 1\n"
      "clusters {\n"
      "  name: \"default\"\n"
      "  primary { nodes { address: \"127.0.0.1:11211\" weight: 1 state: NODE_STATE_ACTIVE } }\n",
      filters, "}\n");
}

struct Exit {
  std::optional<int> code;
  std::string err;
};

// Runs the stock mcmesh in the foreground with `args` and waits for it to exit on its own.
Exit runMcmesh(const std::string& name, std::vector<std::string> args) {
  std::vector<std::string> argv = {runfilePath("app/mcmesh"), "-D", "-l", "127.0.0.1", "-p",
                                   std::to_string(pickFreePort())};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string err_path = tempPath(name + ".stderr");
  auto child = ChildProcess::start(argv, {}, err_path);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {};
  Exit exit;
  exit.code = (*child)->waitForExit(absl::Seconds(10));
  exit.err = readFile(err_path);
  return exit;
}

TEST(FilterChainConfigTest, UnknownFilterNameOnTheCommandLineExitsWithStatus2) {
  Exit e = runMcmesh("unknown-flag",
                     {"-s", "127.0.0.1:11211", "--filter_chain=stats,nope,ketama_router"});
  EXPECT_EQ(e.code, 2);
  EXPECT_THAT(e.err, HasSubstr("mcmesh: unknown filter 'nope'"));
  // The message lists what is available.
  EXPECT_THAT(e.err, HasSubstr("(known: "));
  EXPECT_THAT(e.err, HasSubstr("ketama_router"));
}

TEST(FilterChainConfigTest, TerminalFilterNotLastExitsWithStatus2) {
  Exit e = runMcmesh("terminal-first", {"-s", "127.0.0.1:11211",
                                        "--filter_chain=ketama_router,stats"});
  EXPECT_EQ(e.code, 2);
  EXPECT_THAT(e.err, HasSubstr("terminal filter 'ketama_router' must be last in the chain"));
}

TEST(FilterChainConfigTest, BadFilterConfigInTheConfigFileExitsWithStatus2) {
  const std::string config = writeFile(
      "bad-config.textproto",
      topology("  filters { name: \"stats\" }\n"
               "  filters { name: \"ketama_router\"\n"
               "            config { key: \"hash\" value: \"crc32\" } }\n"));
  Exit e = runMcmesh("bad-config", {"--config=" + config});
  EXPECT_EQ(e.code, 2);
  // Which file, which filter, which option.
  EXPECT_THAT(e.err, HasSubstr(config));
  EXPECT_THAT(e.err, HasSubstr("filter 'ketama_router': unknown option 'hash'"));
}

TEST(FilterChainConfigTest, UnknownFilterInTheConfigFileExitsWithStatus2) {
  const std::string config = writeFile(
      "unknown-config.textproto",
      topology("  filters { name: \"stats\" }\n"
               "  filters { name: \"nope\" }\n"
               "  filters { name: \"ketama_router\" }\n"));
  Exit e = runMcmesh("unknown-config", {"--config=" + config});
  EXPECT_EQ(e.code, 2);
  EXPECT_THAT(e.err, HasSubstr("unknown filter 'nope'"));
}

TEST(FilterChainConfigTest, AGoodChainFromTheConfigFileStarts) {
  const std::string config = writeFile(
      "good-config.textproto",
      topology("  filters { name: \"stats\" }\n  filters { name: \"ketama_router\" }\n"));
  auto proxy = McmeshProcess::start({"--config=" + config});
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_TRUE((*proxy)->process().running());
}

}  // namespace
}  // namespace mcmesh::testing
