// Implements ChildProcess (fork/execve, kill by PID, reaping) and the loopback port helpers.
#include "tests/support/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace mcmesh::testing {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// The address for host:port, or nullopt if host is not a dotted IPv4 address.
std::optional<sockaddr_in> ipv4(absl::string_view host, int port) {
  sockaddr_in addr = loopback(port);
  const std::string text(host);
  if (::inet_pton(AF_INET, text.c_str(), &addr.sin_addr) != 1) {
    return std::nullopt;
  }
  return addr;
}

// The inherited environment with `extra` entries overriding same-named variables.
std::vector<std::string> mergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const std::string& x : extra) {
      overridden = overridden || x.substr(0, x.find('=')) == name;
    }
    if (!overridden) {
      env.push_back(entry);
    }
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

}  // namespace

int pickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool waitForPort(int port, absl::Duration timeout) {
  return waitForAddress("127.0.0.1", port, timeout);
}

bool waitForAddress(absl::string_view host, int port, absl::Duration timeout) {
  const std::optional<sockaddr_in> target = ipv4(host, port);
  if (!target.has_value()) {
    return false;
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      const sockaddr_in addr = *target;
      // Loopback connects complete (or are refused) immediately, so a blocking connect is fine.
      const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
      ::close(fd);
      if (ok) {
        return true;
      }
    }
    if (absl::Now() >= deadline) {
      return false;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::start(
    std::vector<std::string> argv, std::vector<std::string> extra_env,
    const std::string& stderr_path) {
  if (argv.empty()) {
    return absl::InvalidArgumentError("ChildProcess::start: empty argv");
  }
  int stderr_fd = -1;
  if (!stderr_path.empty()) {
    stderr_fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (stderr_fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", stderr_path));
    }
  }
  // Everything the child needs is built before fork: only async-signal-safe calls happen after.
  std::vector<std::string> env = mergedEnvironment(extra_env);
  std::vector<char*> c_argv = cStrings(argv);
  std::vector<char*> c_env = cStrings(env);
  const pid_t parent = ::getpid();

  // exec failures travel back over a close-on-exec pipe: EOF means exec succeeded.
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    if (stderr_fd >= 0) ::close(stderr_fd);
    return absl::ErrnoToStatus(err, "pipe2");
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(error_pipe[0]);
    ::close(error_pipe[1]);
    if (stderr_fd >= 0) ::close(stderr_fd);
    return absl::ErrnoToStatus(err, "fork");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);  // The parent died before prctl took effect.
    }
    // Keep the test's other descriptors (client sockets, listeners) out of the child, so a
    // closed connection really closes. Best effort: older kernels lack close_range.
    ::syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
    if (stderr_fd >= 0) {
      ::dup2(stderr_fd, STDERR_FILENO);  // dup2 clears close-on-exec on the new descriptor.
    }
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    const int err = errno;
    (void)!::write(error_pipe[1], &err, sizeof(err));
    ::_exit(127);
  }
  ::close(error_pipe[1]);
  if (stderr_fd >= 0) ::close(stderr_fd);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(error_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  ::close(error_pipe[0]);
  std::unique_ptr<ChildProcess> child(new ChildProcess(pid, argv[0], stderr_path));
  if (n > 0) {
    child->reap();
    return absl::ErrnoToStatus(child_errno, absl::StrCat("execve ", absl::StrJoin(argv, " ")));
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (!wait_status_.has_value()) {
    kill(SIGKILL);
    reap();
  }
}

void ChildProcess::kill(int sig) {
  // Never signal a reaped PID: the kernel may have given it to someone else.
  if (!wait_status_.has_value()) {
    ::kill(pid_, sig);
  }
}

bool ChildProcess::running() {
  if (wait_status_.has_value()) {
    return false;
  }
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    recordExit(status);
    return false;
  }
  return true;
}

void ChildProcess::stop() {
  if (wait_status_.has_value()) {
    return;
  }
  kill(SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (!wait_status_.has_value()) {
    kill(SIGKILL);
    reap();
  }
}

std::optional<int> ChildProcess::waitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (!wait_status_.has_value() || *wait_status_ == -1 || !WIFEXITED(*wait_status_)) {
    return std::nullopt;
  }
  return WEXITSTATUS(*wait_status_);
}

void ChildProcess::reap() {
  while (!wait_status_.has_value()) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, 0);
    if (r == pid_) {
      recordExit(status);
    } else if (r < 0 && errno != EINTR) {
      wait_status_ = -1;  // Not our child any more (ECHILD): nothing left to reap.
    }
  }
}

void ChildProcess::recordExit(int status) {
  wait_status_ = status;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != kSanitizerExitCode) return;
  // A sanitizer stopped the child: its report went to the child's stderr, i.e. the test log
  // above, or the file the test redirected it to, whose content is repeated here.
  std::string where = "in the log above";
  if (!stderr_path_.empty()) {
    where = absl::StrCat("in ", stderr_path_);
    std::ifstream in(stderr_path_);
    std::cerr << "--- " << stderr_path_ << " ---\n" << in.rdbuf() << "--- end ---\n";
  }
  ADD_FAILURE() << name_ << " (pid " << pid_ << ") exited with code " << kSanitizerExitCode
                << ", the sanitizers' exit code: see its report " << where;
}

}  // namespace mcmesh::testing
