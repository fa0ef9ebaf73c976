// Implements HaCluster: process start-up order, replica restarts, admin calls and proxy polling.
#include "tests/integration/control_plane/ha_cluster.h"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/support/control_plane_process.h"

namespace mcmesh::testing {
namespace {

void prepare(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
}

absl::Status toStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace

std::set<std::string> nodeAddresses(const mcmesh::v1::Topology& topology,
                                    const std::string& cluster) {
  std::set<std::string> out;
  for (const auto& c : topology.clusters()) {
    if (c.name() != cluster) continue;
    for (const auto& node : c.primary().nodes()) out.insert(node.address());
  }
  return out;
}

std::string readTextFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::unique_ptr<HaCluster>> HaCluster::start(int proxies,
                                                            std::vector<int> only_member) {
  std::unique_ptr<HaCluster> ha(new HaCluster());
  auto etcd = EtcdCluster::start(3);
  if (!etcd.ok()) return etcd.status();
  ha->etcd_ = std::move(*etcd);
  for (int i = 0; i < 3; ++i) {
    auto server = MemcachedServer::start();
    if (!server.ok()) return server.status();
    ha->memcached_.push_back(std::move(*server));
  }
  ha->bootstrap_path_ = testTempPath("bootstrap.textproto");
  std::ofstream(ha->bootstrap_path_) << absl::StrCat(
      "clusters { name: \"web\" primary {", " nodes { address: \"", ha->memcached_[0]->address(),
      "\" weight: 1 state: NODE_STATE_ACTIVE }", " nodes { address: \"",
      ha->memcached_[1]->address(), "\" weight: 1 state: NODE_STATE_ACTIVE }", " } }\n",
      "clusters { name: \"scratch\" primary {", " nodes { address: \"",
      ha->memcached_[2]->address(), "\" weight: 1 state: NODE_STATE_ACTIVE }", " } }\n");
  for (const char* name : {"A", "B", "C"}) {
    Replica replica;
    replica.name = name;
    const size_t index = ha->replicas_.size();
    replica.etcd_endpoints = index < only_member.size() && only_member[index] >= 0
                                 ? ha->etcd_->clientAddress(only_member[index])
                                 : ha->etcd_->endpoints();
    replica.port = pickFreePort();
    replica.log_path = testTempPath(absl::StrCat("replica-", name, ".log"));
    replica.admin = mcmesh::v1::AdminService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", replica.port), grpc::InsecureChannelCredentials()));
    ha->replicas_.push_back(std::move(replica));
  }
  // All three at once: they race to save the bootstrap, and exactly one may win.
  for (int i = 0; i < ha->replicas(); ++i) {
    absl::Status launched = ha->launchReplica(i);
    if (!launched.ok()) return launched;
  }
  for (int i = 0; i < ha->replicas(); ++i) {
    if (!waitForPort(ha->replicas_[i].port, absl::Seconds(15))) {
      return absl::DeadlineExceededError(absl::StrCat("replica ", ha->replicas_[i].name,
                                                      " did not listen; log:\n",
                                                      readTextFile(ha->replicas_[i].log_path)));
    }
  }
  for (int i = 0; i < proxies; ++i) {
    auto proxy = McmeshProcess::start(
        {"--cluster=web", absl::StrCat("--proxy_id=p", i),
         absl::StrCat("--control_plane=", ha->replicaList((i + 1) % ha->replicas())),
         "--concurrency=1", "--timeout_ms=1000"});
    if (!proxy.ok()) return proxy.status();
    ha->proxies_.push_back(std::move(*proxy));
    auto client = TextClient::connect(ha->proxies_.back()->port());
    if (!client.ok()) return client.status();
    ha->stats_clients_.push_back(std::move(*client));
  }
  for (int i = 0; i < proxies; ++i) {
    auto took = ha->awaitProxyVersion(i, 1, absl::Seconds(10));
    if (!took.ok()) return took.status();
  }
  return ha;
}

HaCluster::~HaCluster() {
  proxies_.clear();
  // mcmesh_cp takes a second or two to exit after SIGTERM (gRPC's own shutdown): signal all
  // replicas first so they stop in parallel, then reap each.
  for (Replica& replica : replicas_) {
    if (replica.process != nullptr) replica.process->kill(SIGTERM);
  }
  for (Replica& replica : replicas_) {
    if (replica.process != nullptr) replica.process->stop();
  }
}

absl::Status HaCluster::launchReplica(int i) {
  Replica& replica = replicas_[i];
  auto child = ChildProcess::start(
      {runfilePath("control_plane/mcmesh_cp"), absl::StrCat("--listen=127.0.0.1:", replica.port),
       absl::StrCat("--store=etcd://", replica.etcd_endpoints, "/mcmesh-test"),
       absl::StrCat("--name=", replica.name), "--bootstrap=" + bootstrap_path_, "--proxy_ttl=2s",
       "--etcd_timeout=2s"},
      {}, replica.log_path);
  if (!child.ok()) return child.status();
  replica.process = std::move(*child);
  return absl::OkStatus();
}

std::string HaCluster::replicaAddress(int i) const {
  return absl::StrCat("127.0.0.1:", replicas_[i].port);
}

std::string HaCluster::replicaList(int first) const {
  std::vector<std::string> all;
  for (int k = 0; k < replicas(); ++k) all.push_back(replicaAddress((first + k) % replicas()));
  return absl::StrJoin(all, ",");
}

void HaCluster::killReplica(int i) {
  replicas_[i].process->kill(SIGKILL);
  replicas_[i].process->waitForExit(absl::Seconds(5));
}

absl::Status HaCluster::restartReplica(int i) {
  // Keep the first run's log: append the new one after it.
  const std::string previous = readTextFile(replicas_[i].log_path);
  absl::Status launched = launchReplica(i);
  if (!launched.ok()) return launched;
  if (!waitForPort(replicas_[i].port, absl::Seconds(15))) {
    return absl::DeadlineExceededError(
        absl::StrCat("replica ", replicas_[i].name, " did not come back"));
  }
  std::ofstream(replicas_[i].log_path + ".first-run") << previous;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> HaCluster::addNode(int replica, const std::string& cluster,
                                            const std::string& address) {
  mcmesh::v1::AddNodeRequest request;
  request.set_cluster(cluster);
  request.set_pool(mcmesh::v1::POOL_KIND_PRIMARY);
  request.set_address(address);
  request.set_weight(1);
  mcmesh::v1::TopologyChangeResponse response;
  grpc::ClientContext context;
  prepare(context);
  grpc::Status status = admin(replica).AddNode(&context, request, &response);
  if (!status.ok()) return toStatus(status);
  return response.version();
}

absl::StatusOr<mcmesh::v1::Topology> HaCluster::topology(int replica) {
  mcmesh::v1::GetTopologyResponse response;
  grpc::ClientContext context;
  prepare(context);
  grpc::Status status =
      admin(replica).GetTopology(&context, mcmesh::v1::GetTopologyRequest(), &response);
  if (!status.ok()) return toStatus(status);
  return response.topology();
}

absl::StatusOr<std::vector<mcmesh::v1::ProxyStatus>> HaCluster::proxies(int replica) {
  mcmesh::v1::ListProxiesResponse response;
  grpc::ClientContext context;
  prepare(context);
  grpc::Status status =
      admin(replica).ListProxies(&context, mcmesh::v1::ListProxiesRequest(), &response);
  if (!status.ok()) return toStatus(status);
  return std::vector<mcmesh::v1::ProxyStatus>(response.proxies().begin(), response.proxies().end());
}

uint64_t HaCluster::awaitReplicaVersion(int replica, uint64_t version, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  uint64_t seen = 0;
  while (true) {
    auto t = topology(replica);
    seen = t.ok() ? t->version() : 0;
    if (seen == version || absl::Now() > deadline) return seen;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

uint64_t HaCluster::proxyVersion(int i) {
  auto stats = stats_clients_[i]->roundTrip("stats proxy\r\n", "END\r\n");
  if (!stats.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
    uint64_t version = 0;
    if (absl::ConsumePrefix(&line, "STAT topology_version ") && absl::SimpleAtoi(line, &version)) {
      return version;
    }
  }
  return 0;
}

absl::StatusOr<absl::Duration> HaCluster::awaitProxyVersion(int i, uint64_t version,
                                                            absl::Duration timeout) {
  const absl::Time start = absl::Now();
  while (proxyVersion(i) < version) {
    if (absl::Now() - start > timeout) {
      return absl::DeadlineExceededError(
          absl::StrCat("proxy p", i, " still at version ", proxyVersion(i), ", want ", version));
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::Now() - start;
}

HaCluster::CtlResult HaCluster::ctl(const std::vector<std::string>& args,
                                    const std::string& control_plane) {
  CtlResult result;
  const std::string out = testTempPath("ctl.out");
  const std::string err = testTempPath("ctl.err");
  // sh only redirects stdout; ChildProcess redirects stderr.
  std::vector<std::string> argv = {
      "/bin/sh", "-c", "exec \"$0\" \"$@\" > \"$OUT\"", runfilePath("control_plane/mcmeshctl"),
      "--control_plane=" + (control_plane.empty() ? replicaList() : control_plane)};
  if (control_plane == "-") argv.pop_back();  // The arguments name the control planes.
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::start(argv, {"OUT=" + out}, err);
  if (!child.ok()) return result;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((*child)->running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  auto status = (*child)->waitStatus();
  if (!status.has_value()) (*child)->stop();
  status = (*child)->waitStatus();
  result.exit_code = status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  result.out = readTextFile(out);
  result.err = readTextFile(err);
  return result;
}

}  // namespace mcmesh::testing
