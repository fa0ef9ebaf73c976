// Owns child processes started by tests, and the port helpers used to wait for them.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mcmesh::testing {

/**
 * Binds 127.0.0.1:0, reads the port the kernel chose, and closes the socket. Another process can
 * take the port before the caller binds it; prefer letting a server pick its own port and report
 * it (as MemcachedServer::start(0) does) where the server supports that.
 * @return a free TCP port, or -1 if no socket could be bound.
 */
int pickFreePort();

/**
 * Polls connect() to 127.0.0.1:port until it succeeds or the timeout passes.
 * @return true once something accepts connections on the port.
 */
bool waitForPort(int port, absl::Duration timeout);

/**
 * waitForPort for another IPv4 address, e.g. 127.0.0.2: every 127/8 address is loopback on Linux,
 * which lets a test run servers on the default port 11211 without clashing with anyone.
 */
bool waitForAddress(absl::string_view host, int port, absl::Duration timeout);

/**
 * A child process started with fork/execve in its own process group. It is only ever signalled by
 * its own PID, so a test never touches processes it did not start. The child also gets SIGKILL if
 * the thread that started it dies (PR_SET_PDEATHSIG), so a crashed test leaves no strays: start
 * children from a thread that outlives them (normally the test's main thread).
 */
class ChildProcess {
 public:
  /**
   * @param argv argv[0] is the absolute path of the executable (no PATH search).
   * @param extra_env "NAME=value" entries added to (or overriding) the inherited environment.
   * @param stderr_path if not empty, the child's stderr goes to this file (created or
   *        truncated) instead of the test's, so a test can check what the child reported.
   * @return the running child, or an error if fork or exec failed (exec errors are reported
   *         through a close-on-exec pipe, so a missing binary fails here and not later).
   */
  static absl::StatusOr<std::unique_ptr<ChildProcess>> start(
      std::vector<std::string> argv, std::vector<std::string> extra_env = {},
      const std::string& stderr_path = "");

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // SIGKILL and reap, unless already reaped.
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // Sends a signal to the child's PID; does nothing once the child has been reaped.
  void kill(int sig = SIGKILL);

  // Reaps the child without blocking if it exited. @return true while it has not exited.
  bool running();

  // SIGTERM, wait up to 2s for exit, then SIGKILL; always reaps.
  void stop();

  /**
   * Waits up to `timeout` for the child to exit on its own (it is not signalled).
   * @return its exit code, or nullopt if it is still running or was killed by a signal.
   */
  std::optional<int> waitForExit(absl::Duration timeout);

  // The raw waitpid() status once the child has been reaped, nullopt while it runs.
  std::optional<int> waitStatus() const { return wait_status_; }

  // The exit code of a child that stopped at a sanitizer report (--config=asan/tsan compile it
  // into every binary: tools/sanitizers/sanitizer_defaults.cc). Reaping a child that exited with
  // it fails the running test and repeats where the report is.
  static constexpr int kSanitizerExitCode = 86;

 private:
  ChildProcess(pid_t pid, std::string name, std::string stderr_path)
      : pid_(pid), name_(std::move(name)), stderr_path_(std::move(stderr_path)) {}
  // Blocks until the child is reaped.
  void reap();
  // Stores a waitpid() status; flags a sanitizer report.
  void recordExit(int status);

  const pid_t pid_;
  const std::string name_;
  const std::string stderr_path_;
  std::optional<int> wait_status_;
};

using ChildProcessPtr = std::unique_ptr<ChildProcess>;

}  // namespace mcmesh::testing
