// Starts the real mcmesh_cp (from runfiles) on loopback and runs mcmeshctl against it, for tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/child_process.h"

namespace mcmesh::testing {

class ControlPlaneProcess {
 public:
  /**
   * Runs `mcmesh_cp --listen=127.0.0.1:<free port> --store_path=<store_path>` and waits until it
   * accepts connections. The test's BUILD target needs //control_plane:mcmesh_cp and
   * //control_plane:mcmeshctl as data.
   */
  static absl::StatusOr<std::unique_ptr<ControlPlaneProcess>> start(std::string store_path);

  int port() const { return port_; }
  /** SIGKILL: a crashed control plane. */
  void kill() { process_->kill(); }
  /** Starts a new control plane on the same port and store (after kill()). */
  absl::Status restart();
  /** Runs `mcmeshctl --control_plane=127.0.0.1:<port> <args...>`; @return its exit code or -1. */
  int ctl(const std::vector<std::string>& args) const;

 private:
  ControlPlaneProcess(std::string store_path, int port)
      : store_path_(std::move(store_path)), port_(port) {}

  std::string store_path_;
  int port_;
  ChildProcessPtr process_;
};

/** A fresh path under the test's private temp dir (TEST_TMPDIR), unique per call. */
std::string testTempPath(const std::string& name);

}  // namespace mcmesh::testing
