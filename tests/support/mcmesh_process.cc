// McmeshProcess: start the proxy binary on a free loopback port.
#include "tests/support/mcmesh_process.h"

#include <cstdlib>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace mcmesh::testing {

std::string runfilePath(const std::string& relative) {
  // Bazel runs tests from <runfiles>/<workspace>; outside Bazel fall back to bazel-bin.
  if (access(relative.c_str(), X_OK) == 0) return relative;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) return absl::StrCat(srcdir, "/mcmesh/", relative);
  return absl::StrCat("bazel-bin/", relative);
}

absl::StatusOr<std::unique_ptr<McmeshProcess>> McmeshProcess::start(std::vector<std::string> args) {
  return start(std::move(args), runfilePath("app/mcmesh"));
}

absl::StatusOr<std::unique_ptr<McmeshProcess>> McmeshProcess::start(std::vector<std::string> args,
                                                                    const std::string& binary) {
  return start(std::move(args), binary, McmeshRunOptions());
}

absl::StatusOr<std::unique_ptr<McmeshProcess>> McmeshProcess::start(std::vector<std::string> args,
                                                                    const McmeshRunOptions& run) {
  return start(std::move(args), runfilePath("app/mcmesh"), run);
}

absl::StatusOr<std::unique_ptr<McmeshProcess>> McmeshProcess::start(
    std::vector<std::string> args, const std::string& binary, const McmeshRunOptions& run) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    int port = pickFreePort();
    std::vector<std::string> argv;
    if (run.fd_limit > 0) {
      // The shell sets the limit and execs the proxy: same pid, so signals and /proc reach it.
      argv = {"/bin/sh", "-c", absl::StrCat("ulimit -n ", run.fd_limit, " && exec \"$0\" \"$@\""),
              binary};
    } else {
      argv = {binary};
    }
    for (std::string a : {"-D", "-l", "127.0.0.1", "-p"}) argv.push_back(a);
    argv.push_back(std::to_string(port));
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = ChildProcess::start(argv, {}, run.stderr_path);
    if (!child.ok()) return child.status();
    if (waitForPort(port, absl::Seconds(10))) {
      return std::unique_ptr<McmeshProcess>(new McmeshProcess(port, std::move(*child)));
    }
    if ((*child)->running()) {
      return absl::DeadlineExceededError(absl::StrCat(binary, " did not listen within 10s"));
    }
    // It exited: most likely the port was taken between pick and bind; try another.
  }
  return absl::UnavailableError(absl::StrCat(binary, " failed to start three times"));
}

}  // namespace mcmesh::testing
