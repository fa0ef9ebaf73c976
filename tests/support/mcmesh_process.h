// Starts the real mcmesh binary (built by Bazel, found in runfiles) for integration tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/child_process.h"

namespace mcmesh::testing {

/** Path of a binary of this workspace inside the test's runfiles, e.g. "app/mcmesh". */
std::string runfilePath(const std::string& relative);

/** How to run the proxy beyond its arguments. */
struct McmeshRunOptions {
  std::string stderr_path;  // if set, the proxy's stderr goes to this file.
  int fd_limit = 0;         // if > 0, run under `ulimit -n fd_limit` (soft and hard).
};

class McmeshProcess {
 public:
  /** start(args) with a stderr file and/or a descriptor limit. */
  static absl::StatusOr<std::unique_ptr<McmeshProcess>> start(std::vector<std::string> args,
                                                              const McmeshRunOptions& run);
  /**
   * Runs `mcmesh -D -l 127.0.0.1 -p <free port> <args...>` and waits until it accepts.
   * @return the running proxy or an error with its exit status if it died at start-up.
   */
  static absl::StatusOr<std::unique_ptr<McmeshProcess>> start(std::vector<std::string> args);
  /**
   * The same with another mcmesh build, e.g. one made with mcmesh_binary() in another workspace.
   * @param binary an absolute path, or a path relative to the test's working directory (its
   *        workspace's runfiles root), e.g. "mcmesh_custom" for //:mcmesh_custom in data.
   */
  static absl::StatusOr<std::unique_ptr<McmeshProcess>> start(std::vector<std::string> args,
                                                              const std::string& binary);
  static absl::StatusOr<std::unique_ptr<McmeshProcess>> start(std::vector<std::string> args,
                                                              const std::string& binary,
                                                              const McmeshRunOptions& run);
  int port() const { return port_; }
  ChildProcess& process() { return *process_; }

 private:
  McmeshProcess(int port, ChildProcessPtr process) : port_(port), process_(std::move(process)) {}
  int port_;
  ChildProcessPtr process_;
};

}  // namespace mcmesh::testing
