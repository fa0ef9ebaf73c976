// In-process gRPC tests: server + DiscoveryClient push/ACK/NACK, token auth, restart convergence.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/mcmesh/v1/admin.grpc.pb.h"
#include "control_plane/discovery_client.h"
#include "control_plane/file_store.h"
#include "control_plane/server.h"
#include "control_plane/topology_service.h"
#include "control_plane/validator.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::HasSubstr;

// Stands in for the proxy: validates like the proxy would (structure + its cluster exists) and
// records what it applied. Waits use absl::Mutex conditions, not sleeps.
class FakeProxy {
public:
  explicit FakeProxy(std::string cluster) : cluster_(std::move(cluster)) {}

  absl::Status apply(const mcmesh::v1::Topology& topology) {
    absl::Status status = validateTopology(topology);
    if (status.ok()) {
      status = findCluster(topology, cluster_).status();
    }
    absl::MutexLock lock(&mutex_);
    ++calls_;
    if (status.ok()) {
      applied_.push_back(topology.version());
      last_ = topology;
    }
    return status;
  }

  bool waitForApplied(uint64_t version, absl::Duration timeout = absl::Seconds(5)) {
    absl::MutexLock lock(&mutex_);
    auto reached = [this, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return !applied_.empty() && applied_.back() >= version;
    };
    const absl::Time deadline = absl::Now() + timeout;
    while (!reached()) {
      if (!mutex_.AwaitWithDeadline(absl::Condition(&changed_), deadline)) {
        return reached();
      }
      changed_ = false;
    }
    return true;
  }

  bool waitForCalls(int calls, absl::Duration timeout = absl::Seconds(5)) {
    absl::MutexLock lock(&mutex_);
    const absl::Time deadline = absl::Now() + timeout;
    while (calls_ < calls) {
      if (!mutex_.AwaitWithDeadline(absl::Condition(&changed_), deadline)) {
        return calls_ >= calls;
      }
      changed_ = false;
    }
    return true;
  }

  std::vector<uint64_t> applied() {
    absl::MutexLock lock(&mutex_);
    return applied_;
  }

  mcmesh::v1::Topology last() {
    absl::MutexLock lock(&mutex_);
    return last_;
  }

  DiscoveryClient::ApplyFn applyFn() {
    return [this](const mcmesh::v1::Topology& topology) {
      absl::Status status = apply(topology);
      absl::MutexLock lock(&mutex_);
      changed_ = true;
      return status;
    };
  }

private:
  const std::string cluster_;
  absl::Mutex mutex_;
  bool changed_ ABSL_GUARDED_BY(mutex_) = false;
  int calls_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<uint64_t> applied_ ABSL_GUARDED_BY(mutex_);
  mcmesh::v1::Topology last_ ABSL_GUARDED_BY(mutex_);
};

std::string uniqueStorePath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, "-", ::getpid(), ".pb");
  ::unlink(path.c_str());
  return path;
}

mcmesh::v1::Topology bootstrapTopology() {
  mcmesh::v1::Topology topology;
  auto* cluster = topology.add_clusters();
  cluster->set_name("web");
  auto* node = cluster->mutable_primary()->add_nodes();
  node->set_address("127.0.0.1:11211");
  node->set_weight(1);
  node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  return topology;
}

class ControlPlaneGrpcTest : public ::testing::Test {
protected:
  void startControlPlane(const std::string& token = "", int port = 0) {
    if (store_ == nullptr) {
      store_ = std::make_unique<FileTopologyStore>(
          uniqueStorePath(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    }
    const mcmesh::v1::Topology bootstrap = bootstrapTopology();
    auto service = TopologyService::create(*store_, &bootstrap);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    ControlPlaneOptions options;
    options.listen = absl::StrCat("127.0.0.1:", port);
    options.admin_token = token;
    auto server = ControlPlaneServer::start(options, *service_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    port_ = server_->port();
    admin_ = mcmesh::v1::AdminService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }

  void stopControlPlane() {
    server_.reset();
    service_.reset();
  }

  void TearDown() override {
    for (auto& client : clients_) {
      client->stop();
    }
    stopControlPlane();
  }

  DiscoveryClient& startClient(const std::string& id, FakeProxy& proxy,
                               const std::string& cluster = "web") {
    clients_.push_back(std::make_unique<DiscoveryClient>(absl::StrCat("127.0.0.1:", port_), id,
                                                         cluster, proxy.applyFn()));
    clients_.back()->start();
    return *clients_.back();
  }

  grpc::Status call(const std::string& token,
                    const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    return rpc(&context);
  }

  mcmesh::v1::ListProxiesResponse listProxies(const std::string& token = "") {
    mcmesh::v1::ListProxiesResponse response;
    grpc::Status status = call(token, [&](grpc::ClientContext* context) {
      return admin_->ListProxies(context, mcmesh::v1::ListProxiesRequest(), &response);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Polls ListProxies (an RPC, so it cannot be awaited on a condition) until pred holds.
  bool waitForProxy(const std::function<bool(const mcmesh::v1::ProxyStatus&)>& pred,
                    const std::string& token = "") {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline) {
      const mcmesh::v1::ListProxiesResponse response = listProxies(token);
      for (const auto& proxy : response.proxies()) {
        if (pred(proxy)) {
          return true;
        }
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  grpc::Status addNode(const std::string& address, const std::string& token = "",
                       mcmesh::v1::TopologyChangeResponse* out = nullptr) {
    mcmesh::v1::AddNodeRequest request;
    request.set_cluster("web");
    request.set_address(address);
    request.set_weight(1);
    mcmesh::v1::TopologyChangeResponse response;
    grpc::Status status = call(token, [&](grpc::ClientContext* context) {
      return admin_->AddNode(context, request, out != nullptr ? out : &response);
    });
    return status;
  }

  std::unique_ptr<FileTopologyStore> store_;
  TopologyServicePtr service_;
  ControlPlaneServerPtr server_;
  int port_ = 0;
  std::unique_ptr<mcmesh::v1::AdminService::Stub> admin_;
  std::vector<DiscoveryClientPtr> clients_;
};

TEST_F(ControlPlaneGrpcTest, ClientGetsSnapshotAndAckIsRecorded) {
  startControlPlane();
  FakeProxy proxy("web");
  DiscoveryClient& client = startClient("proxy-a", proxy);
  ASSERT_TRUE(proxy.waitForApplied(1));
  ASSERT_TRUE(waitForProxy([](const mcmesh::v1::ProxyStatus& p) {
    return p.id() == "proxy-a" && p.applied_version() == 1;
  }));
  // The client records the version before it ACKs, so once the ACK is seen this holds.
  EXPECT_EQ(client.appliedVersion(), 1u);
  EXPECT_TRUE(client.connected());
  const auto proxies = listProxies();
  ASSERT_EQ(proxies.proxies_size(), 1);
  EXPECT_EQ(proxies.proxies(0).cluster(), "web");
  EXPECT_TRUE(proxies.proxies(0).connected());
  EXPECT_EQ(proxies.proxies(0).sent_version(), 1u);
  EXPECT_EQ(proxies.proxies(0).last_nack_version(), 0u);
  EXPECT_THAT(proxies.proxies(0).peer(), HasSubstr("127.0.0.1"));
}

TEST_F(ControlPlaneGrpcTest, AddNodeReachesClientWithinOneSecond) {
  startControlPlane();
  FakeProxy proxy("web");
  startClient("proxy-a", proxy);
  ASSERT_TRUE(proxy.waitForApplied(1));

  const absl::Time before = absl::Now();
  mcmesh::v1::TopologyChangeResponse response;
  grpc::Status status = addNode("127.0.0.1:11212", "", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), 2u);
  ASSERT_TRUE(proxy.waitForApplied(2, absl::Seconds(1)));
  const absl::Duration took = absl::Now() - before;
  EXPECT_LT(took, absl::Seconds(1));
  std::fprintf(stderr, "add-node to applied on the client: %s\n",
               absl::FormatDuration(took).c_str());
  EXPECT_EQ(proxy.applied(), (std::vector<uint64_t>{1, 2}));
}

TEST_F(ControlPlaneGrpcTest, TwoClientsBothConverge) {
  startControlPlane();
  FakeProxy a("web");
  FakeProxy b("web");
  startClient("proxy-a", a);
  startClient("proxy-b", b);
  ASSERT_TRUE(a.waitForApplied(1));
  ASSERT_TRUE(b.waitForApplied(1));
  ASSERT_TRUE(addNode("127.0.0.1:11212").ok());
  ASSERT_TRUE(addNode("127.0.0.1:11213").ok());
  EXPECT_TRUE(a.waitForApplied(3, absl::Seconds(1)));
  EXPECT_TRUE(b.waitForApplied(3, absl::Seconds(1)));
  EXPECT_TRUE(waitForProxy([](const mcmesh::v1::ProxyStatus& p) {
    return p.id() == "proxy-b" && p.applied_version() == 3;
  }));
}

TEST_F(ControlPlaneGrpcTest, NackIsRecordedWithReasonAndClientKeepsLastGood) {
  startControlPlane();
  // This proxy serves "api", which does not exist yet: it cannot apply and NACKs.
  FakeProxy proxy("api");
  DiscoveryClient& client = startClient("proxy-api", proxy, "api");
  ASSERT_TRUE(proxy.waitForCalls(1));
  ASSERT_TRUE(waitForProxy([](const mcmesh::v1::ProxyStatus& p) {
    return p.id() == "proxy-api" && p.last_nack_version() == 1;
  }));
  auto proxies = listProxies();
  ASSERT_EQ(proxies.proxies_size(), 1);
  EXPECT_EQ(proxies.proxies(0).last_nack_reason(), "unknown cluster \"api\"");
  EXPECT_EQ(proxies.proxies(0).applied_version(), 0u);
  EXPECT_EQ(client.appliedVersion(), 0u);
  EXPECT_TRUE(client.connected());

  // Creating the cluster produces a snapshot the proxy can apply: it ACKs, the NACK stays as
  // history.
  mcmesh::v1::CreateClusterRequest create;
  *create.mutable_cluster() = bootstrapTopology().clusters(0);
  create.mutable_cluster()->set_name("api");
  mcmesh::v1::TopologyChangeResponse response;
  ASSERT_TRUE(call("", [&](grpc::ClientContext* c) {
                return admin_->CreateCluster(c, create, &response);
              }).ok());
  ASSERT_TRUE(proxy.waitForApplied(2, absl::Seconds(1)));
  ASSERT_TRUE(waitForProxy([](const mcmesh::v1::ProxyStatus& p) {
    return p.id() == "proxy-api" && p.applied_version() == 2;
  }));
  proxies = listProxies();
  EXPECT_EQ(proxies.proxies(0).last_nack_version(), 1u);
}

TEST_F(ControlPlaneGrpcTest, ApplyErrorMessageIsTheNackReason) {
  startControlPlane();
  DiscoveryClient client("127.0.0.1:0", "x", "web", nullptr); // Never started: stop() is safe.
  client.stop();
  clients_.push_back(std::make_unique<DiscoveryClient>(
      absl::StrCat("127.0.0.1:", port_), "proxy-picky", "web", [](const mcmesh::v1::Topology&) {
        return absl::InvalidArgumentError("unknown filter \"bogus\"");
      }));
  clients_.back()->start();
  ASSERT_TRUE(waitForProxy([](const mcmesh::v1::ProxyStatus& p) {
    return p.id() == "proxy-picky" && p.last_nack_reason() == "unknown filter \"bogus\"";
  }));
}

TEST_F(ControlPlaneGrpcTest, AdminCallsNeedTheToken) {
  startControlPlane("s3cret");
  mcmesh::v1::GetTopologyResponse topology;
  auto get = [&](const std::string& token) {
    return call(token, [&](grpc::ClientContext* c) {
      return admin_->GetTopology(c, mcmesh::v1::GetTopologyRequest(), &topology);
    });
  };
  grpc::Status none = get("");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("authorization: Bearer"));
  EXPECT_THAT(none.error_message(), ::testing::Not(HasSubstr("s3cret")));
  EXPECT_EQ(get("wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get("s3cre").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(get("s3cret").ok());

  // Mutations are refused too, and change nothing.
  EXPECT_EQ(addNode("127.0.0.1:11212", "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(addNode("127.0.0.1:11212", "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service_->snapshot()->version(), 1u);
  mcmesh::v1::ListProxiesResponse proxies;
  EXPECT_EQ(call("",
                 [&](grpc::ClientContext* c) {
                   return admin_->ListProxies(c, mcmesh::v1::ListProxiesRequest(), &proxies);
                 })
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(addNode("127.0.0.1:11212", "s3cret").ok());
  EXPECT_EQ(service_->snapshot()->version(), 2u);
}

TEST_F(ControlPlaneGrpcTest, InvalidChangeOverGrpcIsInvalidArgument) {
  startControlPlane();
  grpc::Status status = addNode("127.0.0.1:99999");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("port \"99999\" is not a number in 1..65535"));
  EXPECT_EQ(service_->snapshot()->version(), 1u);
}

TEST_F(ControlPlaneGrpcTest, SetFiltersNeedsTheTokenAndReachesTheProxy) {
  startControlPlane("s3cret");
  FakeProxy proxy("web");
  startClient("proxy-a", proxy);
  ASSERT_TRUE(proxy.waitForApplied(1));

  mcmesh::v1::SetFiltersRequest request;
  request.set_cluster("web");
  request.add_filters()->set_name("stats");
  mcmesh::v1::FilterConfig* mirror = request.add_filters();
  mirror->set_name("backup_mirror");
  (*mirror->mutable_config())["mode"] = "sync";
  request.add_filters()->set_name("ketama_router");
  auto set = [&](const std::string& token, mcmesh::v1::SetFiltersResponse* response) {
    return call(token,
                [&](grpc::ClientContext* c) { return admin_->SetFilters(c, request, response); });
  };
  mcmesh::v1::SetFiltersResponse response;
  EXPECT_EQ(set("", &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(set("wrong", &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service_->snapshot()->version(), 1u);

  grpc::Status status = set("s3cret", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), 2u);
  EXPECT_EQ(response.topology().version(), 2u);
  ASSERT_EQ(response.topology().clusters(0).filters_size(), 3);
  ASSERT_TRUE(proxy.waitForApplied(2, absl::Seconds(1)));
  const mcmesh::v1::Cluster pushed = proxy.last().clusters(0);
  ASSERT_EQ(pushed.filters_size(), 3);
  EXPECT_EQ(pushed.filters(1).name(), "backup_mirror");
  EXPECT_EQ(pushed.filters(1).config().at("mode"), "sync");

  // An empty chain is the default chain; it is a change like any other.
  request.clear_filters();
  ASSERT_TRUE(set("s3cret", &response).ok());
  EXPECT_EQ(response.version(), 3u);
  ASSERT_TRUE(proxy.waitForApplied(3, absl::Seconds(1)));
  EXPECT_EQ(proxy.last().clusters(0).filters_size(), 0);

  request.set_cluster("api");
  status = set("s3cret", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "unknown cluster \"api\"");
  request.set_cluster("web");
  request.add_filters()->set_name("Not An Identifier");
  status = set("s3cret", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("is not an identifier (want [a-z0-9_]+)"));
  EXPECT_EQ(service_->snapshot()->version(), 3u);
}

TEST_F(ControlPlaneGrpcTest, RestartedControlPlaneOnSameStoreConverges) {
  startControlPlane();
  FakeProxy proxy("web");
  DiscoveryClient& client = startClient("proxy-a", proxy);
  ASSERT_TRUE(proxy.waitForApplied(1));
  ASSERT_TRUE(addNode("127.0.0.1:11212").ok());
  ASSERT_TRUE(proxy.waitForApplied(2));
  const int port = port_;

  stopControlPlane();
  // The proxy notices and keeps its last good topology.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (client.connected() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.appliedVersion(), 2u);

  startControlPlane("", port);
  EXPECT_EQ(service_->snapshot()->version(), 2u); // Persisted, not re-bootstrapped.
  ASSERT_TRUE(waitForProxy([](const mcmesh::v1::ProxyStatus& p) {
    return p.id() == "proxy-a" && p.connected() && p.applied_version() == 2;
  }));
  // The identical snapshot is ACKed without re-applying; a new change flows again.
  EXPECT_EQ(proxy.applied(), (std::vector<uint64_t>{1, 2}));
  ASSERT_TRUE(addNode("127.0.0.1:11213").ok());
  EXPECT_TRUE(proxy.waitForApplied(3, absl::Seconds(1)));
}

TEST_F(ControlPlaneGrpcTest, ClientThatStartsBeforeControlPlaneConnectsLater) {
  // Reserve a port by starting and stopping a control plane, then start the client first.
  startControlPlane();
  const int port = port_;
  stopControlPlane();
  FakeProxy proxy("web");
  DiscoveryClient& client = startClient("proxy-early", proxy);
  absl::SleepFor(absl::Milliseconds(300)); // Let it fail and back off at least once.
  EXPECT_FALSE(client.connected());
  startControlPlane("", port);
  EXPECT_TRUE(proxy.waitForApplied(1, absl::Seconds(6)));
}

TEST_F(ControlPlaneGrpcTest, StopIsPromptWhileConnectedAndWhileUnreachable) {
  startControlPlane();
  FakeProxy proxy("web");
  DiscoveryClient connected_client(absl::StrCat("127.0.0.1:", port_), "p1", "web", proxy.applyFn());
  connected_client.start();
  ASSERT_TRUE(proxy.waitForApplied(1));
  absl::Time before = absl::Now();
  connected_client.stop();
  EXPECT_LT(absl::Now() - before, absl::Milliseconds(500));

  FakeProxy lonely("web");
  // 192.0.2.0/24 is TEST-NET-1: connects hang rather than fail, the worst case for stop().
  DiscoveryClient unreachable("192.0.2.1:18000", "p2", "web", lonely.applyFn());
  unreachable.start();
  absl::SleepFor(absl::Milliseconds(200));
  before = absl::Now();
  unreachable.stop();
  EXPECT_LT(absl::Now() - before, absl::Milliseconds(500));
  EXPECT_FALSE(unreachable.connected());
}

TEST_F(ControlPlaneGrpcTest, ServerShutdownWithConnectedProxiesDoesNotHang) {
  startControlPlane();
  FakeProxy a("web");
  FakeProxy b("web");
  startClient("proxy-a", a);
  startClient("proxy-b", b);
  ASSERT_TRUE(a.waitForApplied(1));
  ASSERT_TRUE(b.waitForApplied(1));
  const absl::Time before = absl::Now();
  stopControlPlane();
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));
}

TEST_F(ControlPlaneGrpcTest, StreamWithoutIdentityIsRejected) {
  startControlPlane();
  auto stub = mcmesh::v1::DiscoveryService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->StreamTopology(&context);
  mcmesh::v1::DiscoveryRequest request;
  request.set_cluster("web");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  mcmesh::v1::DiscoveryResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("proxy_id"));
}

TEST_F(ControlPlaneGrpcTest, ReconnectingProxyKeepsOneEntry) {
  startControlPlane();
  FakeProxy first("web");
  DiscoveryClient& client = startClient("proxy-a", first);
  ASSERT_TRUE(first.waitForApplied(1));
  client.stop();
  ASSERT_TRUE(waitForProxy(
      [](const mcmesh::v1::ProxyStatus& p) { return p.id() == "proxy-a" && !p.connected(); }));
  FakeProxy second("web");
  startClient("proxy-a", second);
  ASSERT_TRUE(second.waitForApplied(1));
  ASSERT_TRUE(waitForProxy(
      [](const mcmesh::v1::ProxyStatus& p) { return p.id() == "proxy-a" && p.connected(); }));
  EXPECT_EQ(listProxies().proxies_size(), 1);
}

} // namespace
} // namespace control_plane
} // namespace mcmesh
