// Runs the high-availability walk-through of docs/control-plane.md against real processes: every
// "$ mcmeshctl" line between the ha-walkthrough markers, with the doc's ports replaced by the
// test's, checking exit codes and the lines that report a change.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/control_plane/ha_cluster.h"

namespace mcmesh::testing {
namespace {

struct Step {
  std::vector<std::string> args;  // after "mcmeshctl"
  std::vector<std::string> expected;
};

// The commands and expected output of the walk-through block.
std::vector<Step> readWalkthrough(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("<!-- ha-walkthrough:begin -->");
  const size_t end = doc.find("<!-- ha-walkthrough:end -->");
  std::vector<Step> steps;
  if (begin == std::string::npos || end == std::string::npos) return steps;
  for (absl::string_view line : absl::StrSplit(doc.substr(begin, end - begin), '\n')) {
    if (absl::ConsumePrefix(&line, "$ mcmeshctl ")) {
      steps.push_back({absl::StrSplit(line, ' ', absl::SkipEmpty()), {}});
    } else if (!steps.empty() && !line.empty() && !absl::StartsWith(line, "```")) {
      steps.back().expected.emplace_back(line);
    }
  }
  return steps;
}

std::vector<std::string> lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(HaWalkthroughTest, DocumentedCommandsWorkAsShown) {
  const std::vector<Step> steps = readWalkthrough("docs/control-plane.md");
  ASSERT_GE(steps.size(), 4u) << "walk-through block not found in docs/control-plane.md";
  auto ha = HaCluster::start(2);
  ASSERT_TRUE(ha.ok()) << ha.status();
  const int dead_port = pickFreePort();
  const std::vector<std::pair<std::string, std::string>> ports = {
      {"127.0.0.1:18000", (*ha)->replicaAddress(0)},
      {"127.0.0.1:18001", (*ha)->replicaAddress(1)},
      {"127.0.0.1:18002", (*ha)->replicaAddress(2)},
      {"127.0.0.1:18003", absl::StrCat("127.0.0.1:", dead_port)}};

  for (const Step& step : steps) {
    std::vector<std::string> args;
    for (const std::string& arg : step.args) args.push_back(absl::StrReplaceAll(arg, ports));
    const std::string shown = absl::StrJoin(step.args, " ");
    ASSERT_FALSE(step.expected.empty()) << shown;
    const bool is_proxies = absl::StrContains(shown, " proxies");
    // ListProxies reflects ACKs within a publish interval (200 ms): give it a moment.
    const absl::Time deadline = absl::Now() + absl::Seconds(is_proxies ? 3 : 0);
    std::string problem;
    HaCluster::CtlResult result;
    do {
      problem.clear();
      result = (*ha)->ctl(args, "-");
      const std::vector<std::string> out = lines(result.out);
      if (result.exit_code != 0) {
        problem = absl::StrCat("exit ", result.exit_code, ": ", result.err);
      } else if (!is_proxies) {
        // The first line reports the change (or the version): it must read as documented.
        if (out.empty() || out[0] != step.expected[0]) {
          problem = absl::StrCat("printed \"", out.empty() ? "" : out[0], "\", doc shows \"",
                                 step.expected[0], "\"");
        }
      } else {
        // Each documented proxy row: the proxy is there, connected, on the documented replica
        // and version (peers and spacing vary).
        for (size_t i = 1; i < step.expected.size() && problem.empty(); ++i) {
          std::vector<std::string> want = absl::StrSplit(step.expected[i], ' ', absl::SkipEmpty());
          bool found = false;
          for (const std::string& row : out) {
            std::vector<std::string> got = absl::StrSplit(row, ' ', absl::SkipEmpty());
            found = found || (got.size() >= 7 && got[0] == want[0] && got[2] == "yes" &&
                              got[3] == want[3] && got[got.size() - 2] == want[want.size() - 2]);
          }
          if (!found) problem = absl::StrCat("no row like \"", step.expected[i], "\"");
        }
      }
      if (!problem.empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
    } while (!problem.empty() && absl::Now() < deadline);
    std::printf("$ mcmeshctl %s\n%s", shown.c_str(), result.out.c_str());
    EXPECT_TRUE(problem.empty()) << "$ mcmeshctl " << shown << "\n"
                                 << problem << "\n"
                                 << result.out;
  }
}

}  // namespace
}  // namespace mcmesh::testing
