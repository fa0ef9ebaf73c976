// HaCluster: 3 etcd members, 3 mcmesh_cp replicas on one prefix, proxies and memcached servers.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/mcmesh/v1/admin.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/mcmesh_process.h"
#include "tests/support/memcached_server.h"
#include "tests/support/text_client.h"

namespace mcmesh::testing {

/**
 * The high-availability layout of docs/control-plane.md on loopback: replicas "A", "B", "C"
 * (indexes 0-2) share etcd://<members>/mcmesh-test, bootstrapped with cluster "web" (two
 * memcached servers) and cluster "scratch" (one node, served by no proxy: tests pile changes
 * there without moving any key). Proxy i serves "web" with --proxy_id=p<i> and lists the
 * replicas starting at replica i + 1, so p0 subscribes to B and p1 to C.
 */
/** The whole file, or "" if it cannot be read (logs written by child processes). */
std::string readTextFile(const std::string& path);

class HaCluster {
 public:
  /**
   * @param only_member if given, replica i talks to etcd member only_member[i] alone (-1: all
   *        members), so killing that member cuts the replica off from etcd.
   */
  static absl::StatusOr<std::unique_ptr<HaCluster>> start(int proxies = 2,
                                                          std::vector<int> only_member = {});

  EtcdCluster& etcd() { return *etcd_; }

  // Replicas.
  int replicas() const { return static_cast<int>(replicas_.size()); }
  std::string replicaAddress(int i) const;
  const std::string& replicaName(int i) const { return replicas_[i].name; }
  const std::string& replicaLog(int i) const { return replicas_[i].log_path; }
  ChildProcess& replicaProcess(int i) { return *replicas_[i].process; }
  /** "A,B,C" addresses, starting at replica `first`. */
  std::string replicaList(int first = 0) const;
  void killReplica(int i);
  /** Starts a killed replica again on its port; waits until it listens. */
  absl::Status restartReplica(int i);
  mcmesh::v1::AdminService::Stub& admin(int i) { return *replicas_[i].admin; }

  // Admin calls (5 s deadline).
  absl::StatusOr<uint64_t> addNode(int replica, const std::string& cluster,
                                   const std::string& address);
  absl::StatusOr<mcmesh::v1::Topology> topology(int replica);
  absl::StatusOr<std::vector<mcmesh::v1::ProxyStatus>> proxies(int replica);
  /** Polls GetTopology on a replica until it reports `version`. @return the last version seen. */
  uint64_t awaitReplicaVersion(int replica, uint64_t version, absl::Duration timeout);

  // Proxies.
  int proxyCount() const { return static_cast<int>(proxies_.size()); }
  McmeshProcess& proxy(int i) { return *proxies_[i]; }
  /** The proxy's topology_version from `stats proxy` (0 if unreadable). */
  uint64_t proxyVersion(int i);
  /** Polls until proxy i runs `version` or later. @return how long it took, or nullopt. */
  absl::StatusOr<absl::Duration> awaitProxyVersion(int i, uint64_t version, absl::Duration timeout);

  MemcachedServer& memcached(int i) { return *memcached_[i]; }

  /**
   * Runs mcmeshctl with --control_plane=<control_plane> (default: replicaList(); "-": none, the
   * arguments give it) and the arguments.
   */
  struct CtlResult {
    int exit_code = -1;
    std::string out;
    std::string err;
  };
  CtlResult ctl(const std::vector<std::string>& args, const std::string& control_plane = "");

  ~HaCluster();

 private:
  struct Replica {
    std::string name;
    std::string etcd_endpoints;
    int port = 0;
    std::string log_path;
    ChildProcessPtr process;
    std::unique_ptr<mcmesh::v1::AdminService::Stub> admin;
  };
  HaCluster() = default;
  absl::Status launchReplica(int i);

  EtcdClusterPtr etcd_;
  std::vector<MemcachedServerPtr> memcached_;
  std::string bootstrap_path_;
  std::vector<Replica> replicas_;
  std::vector<std::unique_ptr<McmeshProcess>> proxies_;
  std::vector<TextClientPtr> stats_clients_;
};

/** A test that starts the whole layout (two proxies) in SetUp and stops it in TearDown. */
class HaClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ha = HaCluster::start(2);
    ASSERT_TRUE(ha.ok()) << ha.status();
    ha_ = std::move(*ha);
  }
  void TearDown() override { ha_.reset(); }
  std::unique_ptr<HaCluster> ha_;
};

/** The primary addresses of one cluster of a topology. */
std::set<std::string> nodeAddresses(const mcmesh::v1::Topology& topology,
                                    const std::string& cluster);

}  // namespace mcmesh::testing
