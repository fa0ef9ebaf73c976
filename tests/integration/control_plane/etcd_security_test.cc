// mcmesh_cp against an etcd that requires a user and password, and one that requires TLS: the
// --etcd_user/--etcd_password_file and --etcd_ca flags work, and missing credentials are named.
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/mcmesh/v1/admin.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/control_plane/ha_cluster.h"
#include "tests/support/child_process.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

// One mcmesh_cp on the given store; stderr goes to a file the test can read.
struct Replica {
  int port = 0;
  std::string log;
  ChildProcessPtr process;

  static Replica start(const std::string& store, std::vector<std::string> flags) {
    Replica r;
    r.port = pickFreePort();
    r.log = testTempPath("cp.log");
    std::vector<std::string> argv = {runfilePath("control_plane/mcmesh_cp"),
                                     absl::StrCat("--listen=127.0.0.1:", r.port),
                                     "--store=" + store, "--etcd_timeout=2s"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto child = ChildProcess::start(argv, {}, r.log);
    EXPECT_TRUE(child.ok()) << child.status();
    if (child.ok()) r.process = std::move(*child);
    return r;
  }

  // CreateCluster through this replica. @return the new version or the error.
  absl::StatusOr<uint64_t> createCluster() {
    auto stub = mcmesh::v1::AdminService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
    mcmesh::v1::CreateClusterRequest request;
    request.mutable_cluster()->set_name("web");
    auto* node = request.mutable_cluster()->mutable_primary()->add_nodes();
    node->set_address("127.0.0.1:11211");
    node->set_weight(1);
    node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
    mcmesh::v1::TopologyChangeResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::Status status = stub->CreateCluster(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    return response.version();
  }
};

int sh(const std::string& command) { return std::system(command.c_str()); }

TEST(EtcdSecurityTest, UserAndPassword) {
  auto etcd = EtcdCluster::start(1);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  const std::string etcdctl =
      absl::StrCat("ETCDCTL_API=3 /usr/bin/etcdctl --endpoints=", (*etcd)->endpoints());
  ASSERT_EQ(sh(etcdctl + " user add root:s3cret >/dev/null"), 0);
  ASSERT_EQ(sh(etcdctl + " auth enable >/dev/null"), 0);
  const std::string password = testTempPath("etcd-password");
  std::ofstream(password) << "s3cret\n";
  const std::string wrong = testTempPath("etcd-wrong-password");
  std::ofstream(wrong) << "guess\n";
  const std::string store = absl::StrCat("etcd://", (*etcd)->endpoints(), "/secure");

  Replica good = Replica::start(store, {"--etcd_user=root", "--etcd_password_file=" + password});
  ASSERT_TRUE(waitForPort(good.port, absl::Seconds(10))) << readTextFile(good.log);
  auto version = good.createCluster();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 1u);

  // No user: etcd refuses, and mcmesh_cp says so and exits 1.
  Replica anonymous = Replica::start(store, {});
  EXPECT_EQ(anonymous.process->waitForExit(absl::Seconds(10)), 1);
  EXPECT_TRUE(absl::StrContains(readTextFile(anonymous.log), "user name is empty"))
      << readTextFile(anonymous.log);

  Replica bad = Replica::start(store, {"--etcd_user=root", "--etcd_password_file=" + wrong});
  EXPECT_EQ(bad.process->waitForExit(absl::Seconds(10)), 1);
  EXPECT_TRUE(absl::StrContains(readTextFile(bad.log), "etcd authentication as \"root\" failed"))
      << readTextFile(bad.log);
  good.process->stop();
}

TEST(EtcdSecurityTest, Tls) {
  // A CA and a server certificate for 127.0.0.1, made here with openssl.
  const std::string dir = testTempPath("pki");
  const std::string ca = dir + "/ca.pem", ca_key = dir + "/ca.key";
  const std::string cert = dir + "/server.pem", key = dir + "/server.key";
  ASSERT_EQ(
      sh(absl::StrCat("set -e; mkdir -p ", dir, "; cd ", dir,
                      "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mcmesh-test-ca"
                      " -keyout ca.key -out ca.pem 2>/dev/null",
                      "; openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key"
                      " -out server.csr 2>/dev/null",
                      "; printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext",
                      "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                      " -days 2 -extfile san.ext -out server.pem 2>/dev/null")),
      0);
  auto etcd = EtcdCluster::start(1, EtcdCluster::Tls{ca, cert, key});
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  const std::string store = absl::StrCat("etcd://", (*etcd)->endpoints(), "/tls");

  Replica tls = Replica::start(store, {"--etcd_ca=" + ca});
  ASSERT_TRUE(waitForPort(tls.port, absl::Seconds(10))) << readTextFile(tls.log);
  auto version = tls.createCluster();
  ASSERT_TRUE(version.ok()) << version.status() << "\n" << readTextFile(tls.log);
  EXPECT_EQ(*version, 1u);
  EXPECT_TRUE(absl::StrContains(readTextFile(tls.log), "(TLS)")) << readTextFile(tls.log);

  // Plaintext to a TLS etcd: the replica cannot read the store and keeps waiting for it.
  Replica plain = Replica::start(store, {});
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline &&
         !absl::StrContains(readTextFile(plain.log), "waiting for etcd")) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(absl::StrContains(readTextFile(plain.log), "waiting for etcd"))
      << readTextFile(plain.log);
  EXPECT_TRUE(plain.process->running());
  plain.process->stop();
  tls.process->stop();
}

}  // namespace
}  // namespace mcmesh::testing
