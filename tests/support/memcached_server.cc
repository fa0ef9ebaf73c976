// Implements MemcachedServer: launching memcached, learning its port, restarting it in place.
#include "tests/support/memcached_server.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace mcmesh::testing {
namespace {

constexpr char kMemcachedPath[] = "/usr/bin/memcached";
constexpr absl::Duration kStartTimeout = absl::Seconds(5);

std::vector<std::string> memcachedArgv(const std::string& host, int port,
                                       const std::vector<std::string>& extra_args = {}) {
  std::vector<std::string> argv = {kMemcachedPath, "-l", host, "-p", absl::StrCat(port),
                                   "-U",           "0",  "-m", "64"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  if (::geteuid() == 0) {
    argv.push_back("-u");  // memcached refuses to run as root without it.
    argv.push_back("root");
  }
  return argv;
}

// Bazel gives every test its own TEST_TMPDIR; outside Bazel fall back to /tmp.
absl::StatusOr<std::string> makeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/memcached.XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp ", pattern));
  }
  return pattern;
}

// memcached writes "TCP INET: <port>" lines to <file>.lck and renames it to <file> once bound, so
// the file either does not exist yet or is complete.
absl::StatusOr<int> awaitPortFile(const std::string& path, ChildProcess& process) {
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (absl::Now() < deadline) {
    std::ifstream in(path);
    if (in) {
      std::string line;
      while (std::getline(in, line)) {
        constexpr absl::string_view kPrefix = "TCP INET: ";
        int port = 0;
        if (absl::StartsWith(line, kPrefix) &&
            absl::SimpleAtoi(absl::string_view(line).substr(kPrefix.size()), &port)) {
          return port;
        }
      }
      return absl::InternalError(absl::StrCat("no TCP port in ", path));
    }
    if (!process.running()) {
      return absl::UnavailableError("memcached exited before binding a port");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("memcached did not report its port within 5s");
}

absl::StatusOr<ChildProcessPtr> launchOnPort(const std::string& host, int port,
                                             const std::vector<std::string>& extra_args = {}) {
  absl::StatusOr<ChildProcessPtr> process =
      ChildProcess::start(memcachedArgv(host, port, extra_args));
  if (!process.ok()) {
    return process.status();
  }
  if (!waitForAddress(host, port, kStartTimeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("memcached not listening on ", host, ":", port));
  }
  // A connect can succeed against another process that owns the port while ours failed to bind;
  // memcached exits at once in that case, so a short grace period catches it.
  absl::SleepFor(absl::Milliseconds(20));
  if (!(*process)->running()) {
    return absl::UnavailableError(absl::StrCat("memcached exited; ", host, ":", port, " in use?"));
  }
  return process;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemcachedServer>> MemcachedServer::start(int port,
                                                                        std::string host) {
  return start(port, std::move(host), {});
}

absl::StatusOr<std::unique_ptr<MemcachedServer>> MemcachedServer::start(
    int port, std::string host, std::vector<std::string> extra_args) {
  absl::StatusOr<std::string> temp_dir = makeTempDir();
  if (!temp_dir.ok()) {
    return temp_dir.status();
  }
  if (port != 0) {
    absl::StatusOr<ChildProcessPtr> process = launchOnPort(host, port, extra_args);
    if (!process.ok()) {
      return process.status();
    }
    return std::unique_ptr<MemcachedServer>(new MemcachedServer(
        std::move(host), port, *std::move(temp_dir), *std::move(process), extra_args));
  }
  const std::string port_file = absl::StrCat(*temp_dir, "/ports");
  absl::StatusOr<ChildProcessPtr> process = ChildProcess::start(
      memcachedArgv(host, -1, extra_args), {absl::StrCat("MEMCACHED_PORT_FILENAME=", port_file)});
  if (!process.ok()) {
    return process.status();
  }
  absl::StatusOr<int> bound = awaitPortFile(port_file, **process);
  if (!bound.ok()) {
    return bound.status();
  }
  if (!waitForAddress(host, *bound, kStartTimeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("memcached not listening on ", host, ":", *bound));
  }
  return std::unique_ptr<MemcachedServer>(new MemcachedServer(
      std::move(host), *bound, *std::move(temp_dir), *std::move(process), extra_args));
}

MemcachedServer::~MemcachedServer() {
  process_.reset();
  const std::string port_file = absl::StrCat(temp_dir_, "/ports");
  std::remove(port_file.c_str());
  ::rmdir(temp_dir_.c_str());
}

std::string MemcachedServer::address() const { return absl::StrCat(host_, ":", port_); }

void MemcachedServer::kill() { process_.reset(); }

absl::Status MemcachedServer::restart() {
  process_.reset();
  // memcached sets SO_REUSEADDR, so the port is reusable as soon as the old process is reaped.
  absl::StatusOr<ChildProcessPtr> process = launchOnPort(host_, port_, extra_args_);
  if (!process.ok()) {
    return process.status();
  }
  process_ = *std::move(process);
  return absl::OkStatus();
}

}  // namespace mcmesh::testing
