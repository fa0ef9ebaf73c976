// EtcdCluster: a real etcd cluster on loopback for integration tests (members stopped by PID).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/child_process.h"

namespace mcmesh::testing {

/**
 * Runs /usr/bin/etcd (Debian's etcd-server) as `members` members on 127.0.0.1 with ports picked
 * by the test and data directories under TEST_TMPDIR. Elections are tuned fast (heartbeat 50 ms,
 * election timeout 500 ms) so a killed leader is replaced within about a second. Members are
 * only ever signalled by their own PID; the destructor kills whatever is still running.
 */
class EtcdCluster {
 public:
  /** PEM files for TLS on the client port (peers stay plaintext on loopback). */
  struct Tls {
    std::string ca_path;
    std::string cert_path;
    std::string key_path;
  };
  /**
   * Starts every member and waits until the cluster has a leader.
   * @param tls if set, clients must use TLS with a certificate signed by tls->ca_path.
   */
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> start(int members = 3,
                                                            std::optional<Tls> tls = {});
  ~EtcdCluster();

  int size() const { return static_cast<int>(members_.size()); }
  /** "127.0.0.1:p1,127.0.0.1:p2,..." as --store=etcd://<endpoints>/prefix wants it. */
  std::string endpoints() const;
  std::string clientAddress(int member) const;

  /** SIGKILL (a crashed member); its data stays for restart(). */
  void kill(int member);
  /** SIGTERM, then SIGKILL after 2 s. */
  void stop(int member);
  /** Starts a stopped member again on its ports and data. */
  absl::Status restart(int member);
  bool running(int member);

  /**
   * Asks the running members who leads (Maintenance.Status) until one names a running leader.
   * @return the leader's index, or DEADLINE_EXCEEDED.
   */
  absl::StatusOr<int> leader(absl::Duration timeout = absl::Seconds(10));

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string data_dir;
    std::string log_path;
    ChildProcessPtr process;
  };
  EtcdCluster() = default;
  absl::Status launch(int member);
  // Asks `member` for its id (returned) and the id of the leader it follows (0 = none).
  absl::StatusOr<uint64_t> memberId(int member, uint64_t* leader_id);

  std::vector<Member> members_;
  std::string initial_cluster_;
  std::optional<Tls> tls_;
  std::string ca_pem_;
};

using EtcdClusterPtr = std::unique_ptr<EtcdCluster>;

}  // namespace mcmesh::testing
