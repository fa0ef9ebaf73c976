// Owns one real memcached process on loopback for integration tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/child_process.h"

namespace mcmesh::testing {

/**
 * /usr/bin/memcached -l <host> -p <port> -U 0 -m 64 (-u root when running as root). With port 0
 * memcached binds an ephemeral port itself and reports it through MEMCACHED_PORT_FILENAME, so two
 * tests can never race for the same port.
 */
class MemcachedServer {
 public:
  /**
   * @param port the TCP port, or 0 to let memcached choose one.
   * @param host the IPv4 address to listen on; any 127/8 address works on Linux.
   * @return a server that accepts connections, or an error if it did not start within 5s.
   */
  static absl::StatusOr<std::unique_ptr<MemcachedServer>> start(int port = 0,
                                                                std::string host = "127.0.0.1");
  /** The same with more memcached options, e.g. {"-Z", "-o", "ssl_chain_cert=..."} for TLS. */
  static absl::StatusOr<std::unique_ptr<MemcachedServer>> start(
      int port, std::string host, std::vector<std::string> extra_args);

  MemcachedServer(const MemcachedServer&) = delete;
  MemcachedServer& operator=(const MemcachedServer&) = delete;
  ~MemcachedServer();

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  // "<host>:<port>", as proxies and nutcracker configs spell a server.
  std::string address() const;
  // The memcached PID, or -1 after kill().
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // SIGKILL and reap: simulates a crashed server. The port stays reserved for restart().
  void kill();

  // Kills the current process (if any) and starts a fresh, empty memcached on the same port.
  absl::Status restart();

 private:
  MemcachedServer(std::string host, int port, std::string temp_dir, ChildProcessPtr process,
                  std::vector<std::string> extra_args = {})
      : extra_args_(std::move(extra_args)),
        host_(std::move(host)),
        port_(port),
        temp_dir_(std::move(temp_dir)),
        process_(std::move(process)) {}

  const std::vector<std::string> extra_args_;  // kept for restart().
  const std::string host_;
  const int port_;
  const std::string temp_dir_;  // Holds the port file; removed in the destructor.
  ChildProcessPtr process_;
};

using MemcachedServerPtr = std::unique_ptr<MemcachedServer>;

}  // namespace mcmesh::testing
