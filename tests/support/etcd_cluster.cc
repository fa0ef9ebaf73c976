// Implements EtcdCluster: member command lines, start/stop by PID, leader lookup over gRPC.
#include "tests/support/etcd_cluster.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace mcmesh::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";

std::string tempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::start(int members,
                                                                std::optional<Tls> tls) {
  static std::atomic<int> clusters{0};
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster());
  cluster->tls_ = tls;
  if (tls.has_value()) {
    std::ifstream in(tls->ca_path);
    std::stringstream pem;
    pem << in.rdbuf();
    cluster->ca_pem_ = pem.str();
  }
  const std::string base = absl::StrCat(tempDir(), "/etcd-", getpid(), "-", clusters++);
  ::mkdir(base.c_str(), 0755);
  std::vector<std::string> peers;
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = absl::StrCat("m", i);
    m.client_port = pickFreePort();
    m.peer_port = pickFreePort();
    m.data_dir = absl::StrCat(base, "/", m.name, ".etcd");
    m.log_path = absl::StrCat(base, "/", m.name, ".log");
    peers.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
    cluster->members_.push_back(std::move(m));
  }
  cluster->initial_cluster_ = absl::StrJoin(peers, ",");
  for (int i = 0; i < members; ++i) {
    absl::Status launched = cluster->launch(i);
    if (!launched.ok()) return launched;
  }
  for (int i = 0; i < members; ++i) {
    if (!waitForPort(cluster->members_[i].client_port, absl::Seconds(10))) {
      return absl::DeadlineExceededError(absl::StrCat(
          "etcd member ", i, " did not listen within 10s; see ", cluster->members_[i].log_path));
    }
  }
  absl::StatusOr<int> leader = cluster->leader(absl::Seconds(15));
  if (!leader.ok()) return leader.status();
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  for (Member& m : members_) {
    if (m.process != nullptr) m.process->stop();
  }
}

absl::Status EtcdCluster::launch(int i) {
  Member& m = members_[i];
  const std::string client =
      absl::StrCat(tls_.has_value() ? "https" : "http", "://127.0.0.1:", m.client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", m.peer_port);
  std::vector<std::string> argv = {kEtcd,
                                   "--name",
                                   m.name,
                                   "--data-dir",
                                   m.data_dir,
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   initial_cluster_,
                                   "--initial-cluster-state",
                                   "new",
                                   "--initial-cluster-token",
                                   "mcmesh-test",
                                   "--heartbeat-interval",
                                   "50",
                                   "--election-timeout",
                                   "500",
                                   "--logger",
                                   "zap",
                                   "--log-level",
                                   "warn"};
  if (tls_.has_value()) {
    argv.insert(argv.end(), {"--cert-file", tls_->cert_path, "--key-file", tls_->key_path});
  }
  auto child = ChildProcess::start(argv, {}, m.log_path);
  if (!child.ok()) return child.status();
  m.process = std::move(*child);
  return absl::OkStatus();
}

std::string EtcdCluster::endpoints() const {
  std::vector<std::string> all;
  for (int i = 0; i < size(); ++i) all.push_back(clientAddress(i));
  return absl::StrJoin(all, ",");
}

std::string EtcdCluster::clientAddress(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

void EtcdCluster::kill(int i) {
  if (members_[i].process != nullptr) {
    members_[i].process->kill(SIGKILL);
    members_[i].process->waitForExit(absl::Seconds(5));
  }
}

void EtcdCluster::stop(int i) {
  if (members_[i].process != nullptr) members_[i].process->stop();
}

bool EtcdCluster::running(int i) {
  return members_[i].process != nullptr && members_[i].process->running();
}

absl::Status EtcdCluster::restart(int i) {
  if (running(i)) return absl::FailedPreconditionError("member is running");
  absl::Status launched = launch(i);
  if (!launched.ok()) return launched;
  if (!waitForPort(members_[i].client_port, absl::Seconds(10))) {
    return absl::DeadlineExceededError(absl::StrCat("etcd member ", i, " did not come back"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> EtcdCluster::memberId(int i, uint64_t* leader_id) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls_.has_value()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem_;
    credentials = grpc::SslCredentials(ssl);
  }
  auto stub =
      etcdserverpb::Maintenance::NewStub(grpc::CreateChannel(clientAddress(i), credentials));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
  etcdserverpb::StatusResponse response;
  grpc::Status status = stub->Status(&context, etcdserverpb::StatusRequest(), &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  *leader_id = response.leader();
  return response.header().member_id();
}

absl::StatusOr<int> EtcdCluster::leader(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::vector<uint64_t> ids(members_.size(), 0);
    uint64_t leader_id = 0;
    for (int i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      uint64_t named = 0;
      absl::StatusOr<uint64_t> id = memberId(i, &named);
      if (!id.ok()) continue;
      ids[i] = *id;
      if (named != 0) leader_id = named;
    }
    for (int i = 0; i < size(); ++i) {
      if (leader_id != 0 && ids[i] == leader_id) return i;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("the etcd cluster has no leader");
}

}  // namespace mcmesh::testing
