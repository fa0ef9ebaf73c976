// ControlPlaneProcess: mcmesh_cp lifecycle and mcmeshctl invocations for integration tests.
#include "tests/support/control_plane_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {

std::string testTempPath(const std::string& name) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", getpid(), "-", counter++, "-", name);
}

absl::StatusOr<std::unique_ptr<ControlPlaneProcess>> ControlPlaneProcess::start(
    std::string store_path) {
  std::unique_ptr<ControlPlaneProcess> cp(
      new ControlPlaneProcess(std::move(store_path), pickFreePort()));
  absl::Status st = cp->restart();
  if (!st.ok()) return st;
  return cp;
}

absl::Status ControlPlaneProcess::restart() {
  auto child = ChildProcess::start({runfilePath("control_plane/mcmesh_cp"),
                                    absl::StrCat("--listen=127.0.0.1:", port_),
                                    absl::StrCat("--store_path=", store_path_)});
  if (!child.ok()) return child.status();
  process_ = std::move(*child);
  if (!waitForPort(port_, absl::Seconds(10))) {
    return absl::DeadlineExceededError("mcmesh_cp did not listen within 10s");
  }
  return absl::OkStatus();
}

int ControlPlaneProcess::ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {runfilePath("control_plane/mcmeshctl"),
                                   absl::StrCat("--control_plane=127.0.0.1:", port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::start(argv);
  if (!child.ok()) return -1;
  // mcmeshctl has its own 5 s deadline per call; this bound only guards against a hang.
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while ((*child)->running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  auto status = (*child)->waitStatus();
  return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

}  // namespace mcmesh::testing
