// Helpers for the example's integration tests: start mcmesh_custom, write configs, read stats.
#pragma once

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace custom_filter::testing {

// //:mcmesh_custom, a data dependency: tests run from this workspace's runfiles root.
inline constexpr char kCustomBinary[] = "mcmesh_custom";

inline absl::StatusOr<std::unique_ptr<mcmesh::testing::McmeshProcess>> startCustomProxy(
    std::vector<std::string> args) {
  return mcmesh::testing::McmeshProcess::start(std::move(args), kCustomBinary);
}

/** Writes `contents` to a file in the test's temporary directory. @return its path. */
inline std::string writeTempFile(const std::string& name, const std::string& contents) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream(path) << contents;
  return path;
}

/** A text-format mcmesh.v1.Topology with one cluster "default" on `primary`. */
inline std::string topologyText(const std::string& primary, const std::string& filters) {
  return absl::StrCat("version: 1\nclusters {\n  name: \"default\"\n",
                      "  primary { nodes { address: \"", primary,
                      "\" weight: 1 state: NODE_STATE_ACTIVE } }\n", filters, "}\n");
}

/** One `filters { name: ... config { key: ... value: ... } }` entry. */
inline std::string filterText(const std::string& name,
                              const std::vector<std::pair<std::string, std::string>>& config) {
  std::string out = absl::StrCat("  filters {\n    name: \"", name, "\"\n");
  for (const auto& [key, value] : config) {
    absl::StrAppend(&out, "    config { key: \"", key, "\" value: \"", value, "\" }\n");
  }
  absl::StrAppend(&out, "  }\n");
  return out;
}

/** @return the value of `STAT <name>` in the reply to `stats <args>`, or "" if absent. */
inline std::string statValue(mcmesh::testing::TextClient& client, const std::string& args,
                             const std::string& name) {
  auto reply = client.roundTrip(absl::StrCat("stats ", args, "\r\n"), "END\r\n");
  if (!reply.ok()) return "";
  const std::string prefix = absl::StrCat("STAT ", name, " ");
  for (absl::string_view line : absl::StrSplit(*reply, "\r\n")) {
    if (absl::StartsWith(line, prefix)) return std::string(line.substr(prefix.size()));
  }
  return "";
}

}  // namespace custom_filter::testing
