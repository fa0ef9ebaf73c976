// TLS end to end with real processes: certificates made by the openssl CLI in a temp dir;
// pymemcache (tls_context) and openssl s_client through mcmesh's TLS port next to its plain port;
// mutual TLS; mcmesh speaking TLS to memcached -Z with verification (flags and a bootstrap pool,
// with a client certificate); a wrong CA refused with a clear error in the reply, the log and
// stats; bad certificate files refused at start-up; memccapable on the plain port of a TLS proxy.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"
#include "tests/support/tls_certs.h"

namespace mcmesh::testing {
namespace {

std::string tempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct ToolRun {
  int exit_code = -1;  // -1: killed at the deadline.
  std::string output;  // stdout and stderr together.
};

// Runs a shell script to completion (bounded) and captures what it printed.
ToolRun runShell(const std::string& script, absl::Duration timeout = absl::Seconds(60)) {
  static int counter = 0;
  const std::string out = absl::StrCat(tempDir(), "/tls_tool_", getpid(), "_", ++counter, ".out");
  ToolRun run;
  auto child = ChildProcess::start({"/bin/sh", "-c", absl::StrCat("(", script, ") > '", out,
                                                                  "' 2>&1")});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return run;
  const absl::Time deadline = absl::Now() + timeout;
  while ((*child)->running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  if ((*child)->running()) {
    (*child)->kill();
    (*child)->running();
  }
  const auto status = (*child)->waitStatus();
  if (status.has_value() && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
  run.output = readFile(out);
  return run;
}

// pymemcache 3.5.2 lives in Debian's python (/usr/bin/python3), not in a pyenv first in PATH.
constexpr char kPymemcacheScript[] = R"(
import ssl, sys
from pymemcache.client.base import Client
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
if len(sys.argv) > 4:
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
c = Client(("127.0.0.1", port), tls_context=ctx, connect_timeout=5, timeout=5)
big = b"v" * 300000
for i in range(50):
    assert c.set("tls-key-%d" % i, b"value-%d" % i)
assert c.set("tls-big", big)
got = c.get_many(["tls-key-%d" % i for i in range(50)])
assert len(got) == 50 and got["tls-key-7"] == b"value-7", got
assert c.get("tls-big") == big
print("PYMEMCACHE_OK")
)";

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(TestCerts::create()); }
  static void TearDownTestSuite() {
    certs_->remove();
    delete certs_;
  }
  void SetUp() override {
    ASSERT_FALSE(certs_->dir.empty()) << "openssl CLI failed to make certificates";
    script_ = absl::StrCat(tempDir(), "/pymemcache_tls.py");
    std::ofstream(script_) << kPymemcacheScript;
  }

  // memcached with TLS on (-Z); `extra` adds e.g. ssl_ca_cert/ssl_verify_mode.
  MemcachedServerPtr startTlsMemcached(const std::string& extra = "") {
    std::string o = absl::StrCat("ssl_chain_cert=", certs_->server_cert,
                                 ",ssl_key=", certs_->server_key, extra);
    auto server = MemcachedServer::start(0, "127.0.0.1", {"-Z", "-o", o});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }
  // mcmesh with a plain port and a TLS port (tls_port_), logging to log_.
  std::unique_ptr<McmeshProcess> startProxy(std::vector<std::string> args, bool tls_port = true) {
    log_ = absl::StrCat(tempDir(), "/mcmesh_tls_", ++proxies_, ".log");
    if (tls_port) {
      tls_port_ = pickFreePort();
      args.insert(args.end(), {absl::StrCat("--tls_port=", tls_port_),
                               "--tls_cert=" + certs_->server_cert,
                               "--tls_key=" + certs_->server_key, "--concurrency=2"});
    }
    McmeshRunOptions run;
    run.stderr_path = log_;
    auto proxy = McmeshProcess::start(args, run);
    EXPECT_TRUE(proxy.ok()) << proxy.status() << readFile(log_);
    if (!proxy.ok()) return nullptr;
    if (tls_port) {
      EXPECT_TRUE(waitForPort(tls_port_, absl::Seconds(5)));
    }
    return std::move(*proxy);
  }
  ToolRun pymemcache(int port, bool with_client_cert = false) {
    std::string cmd = absl::StrCat("/usr/bin/python3 ", script_, " ", port, " ", certs_->ca);
    if (with_client_cert) absl::StrAppend(&cmd, " ", certs_->client_cert, " ", certs_->client_key);
    return runShell(cmd);
  }
  std::string stat(int port, const std::string& command, const std::string& name) {
    auto client = TextClient::connect(port);
    if (!client.ok()) return "";
    auto reply = (*client)->roundTrip(command + "\r\n", "END\r\n");
    if (!reply.ok()) return "";
    for (absl::string_view line : absl::StrSplit(*reply, "\r\n")) {
      if (absl::StartsWith(line, absl::StrCat("STAT ", name, " "))) {
        return std::string(line.substr(name.size() + 6));
      }
    }
    return "";
  }

  static TestCerts* certs_;
  std::string script_;
  std::string log_;
  int tls_port_ = 0;
  int proxies_ = 0;
};
TestCerts* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, PymemcacheWithTlsContextWorksThroughTheTlsPortBesideThePlainOne) {
  auto memcached = MemcachedServer::start();
  ASSERT_TRUE(memcached.ok()) << memcached.status();
  auto proxy = startProxy({"-s", (*memcached)->address()});
  ASSERT_NE(proxy, nullptr);
  ToolRun run = pymemcache(tls_port_);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "PYMEMCACHE_OK")) << run.output;
  // The plain port serves the same data at the same time.
  auto plain = TextClient::connect(proxy->port());
  ASSERT_TRUE(plain.ok());
  auto value = (*plain)->get("tls-key-7");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->value_or(""), "value-7");
  // A plain client on the TLS port is refused (a failed handshake), never served in clear.
  auto wrong = TextClient::connect(tls_port_);
  ASSERT_TRUE(wrong.ok());
  (void)(*wrong)->send("get tls-key-7\r\n");
  auto line = (*wrong)->readLine();
  EXPECT_FALSE(line.ok() && absl::StrContains(*line, "VALUE"));
  EXPECT_NE(stat(proxy->port(), "stats", "tls_client_errors"), "0");
}

TEST_F(TlsTest, OpensslSClientWorksAndResumesItsSession) {
  auto memcached = MemcachedServer::start();
  ASSERT_TRUE(memcached.ok()) << memcached.status();
  auto proxy = startProxy({"-s", (*memcached)->address()});
  ASSERT_NE(proxy, nullptr);
  std::string sess = absl::StrCat(tempDir(), "/s_client.sess");
  std::string base = absl::StrCat("openssl s_client -connect 127.0.0.1:", tls_port_,
                                  " -CAfile ", certs_->ca, " -verify_return_error -ign_eof");
  ToolRun first = runShell(absl::StrCat(
      "(printf 'set sc 0 0 5\\r\\nhello\\r\\nget sc\\r\\n'; sleep 1; printf 'quit\\r\\n') | ",
      base, " -sess_out ", sess));
  EXPECT_TRUE(absl::StrContains(first.output, "Verify return code: 0 (ok)")) << first.output;
  EXPECT_TRUE(absl::StrContains(first.output, "STORED")) << first.output;
  EXPECT_TRUE(absl::StrContains(first.output, "VALUE sc 0 5\r\nhello\r\nEND")) << first.output;
  ToolRun second = runShell(absl::StrCat(
      "(printf 'get sc\\r\\n'; sleep 1; printf 'quit\\r\\n') | ", base, " -sess_in ", sess));
  EXPECT_TRUE(absl::StrContains(second.output, "Reused, TLS")) << second.output;
  EXPECT_TRUE(absl::StrContains(second.output, "VALUE sc 0 5")) << second.output;
  EXPECT_EQ(stat(proxy->port(), "stats", "tls_client_resumed"), "1");
}

TEST_F(TlsTest, AClientThatNeverFinishesItsHandshakeIsClosed) {
  auto memcached = MemcachedServer::start();
  ASSERT_TRUE(memcached.ok()) << memcached.status();
  auto proxy = startProxy({"-s", (*memcached)->address(), "--request_read_timeout_s=1"});
  ASSERT_NE(proxy, nullptr);
  auto silent = TextClient::connect(tls_port_, absl::Seconds(5));
  ASSERT_TRUE(silent.ok());
  absl::Time start = absl::Now();
  auto line = (*silent)->readLine();  // nothing is ever sent: EOF once the sweep closes it.
  EXPECT_FALSE(line.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  EXPECT_EQ(stat(proxy->port(), "stats", "slow_requests_closed"), "1");
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutCertificateAndServesOneWithIt) {
  auto memcached = MemcachedServer::start();
  ASSERT_TRUE(memcached.ok()) << memcached.status();
  auto proxy = startProxy({"-s", (*memcached)->address(), "--tls_client_ca=" + certs_->ca});
  ASSERT_NE(proxy, nullptr);
  ToolRun refused = pymemcache(tls_port_, /*with_client_cert=*/false);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_FALSE(absl::StrContains(refused.output, "PYMEMCACHE_OK")) << refused.output;
  ToolRun s_client = runShell(absl::StrCat("printf 'version\\r\\n' | openssl s_client -connect "
                                           "127.0.0.1:", tls_port_, " -CAfile ", certs_->ca));
  EXPECT_FALSE(absl::StrContains(s_client.output, "VERSION ")) << s_client.output;
  ToolRun accepted = pymemcache(tls_port_, /*with_client_cert=*/true);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_TRUE(absl::StrContains(accepted.output, "PYMEMCACHE_OK")) << accepted.output;
  EXPECT_NE(stat(proxy->port(), "stats", "tls_client_errors"), "0");
}

TEST_F(TlsTest, UpstreamTlsToMemcachedZVerifiesTheServer) {
  MemcachedServerPtr memcached = startTlsMemcached();
  ASSERT_NE(memcached, nullptr);
  auto proxy = startProxy({"-s", memcached->address(), "--upstream_tls_ca=" + certs_->ca});
  ASSERT_NE(proxy, nullptr);
  // TLS on both sides: pymemcache -> mcmesh -> memcached -Z.
  ToolRun run = pymemcache(tls_port_);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "PYMEMCACHE_OK")) << run.output;
  // A big value and the next request in one batch: each request ends a TLS record, else
  // memcached -Z 1.6.18 leaves the request in OpenSSL's buffer and never answers it.
  auto client = TextClient::connect(proxy->port());
  ASSERT_TRUE(client.ok());
  auto reply = (*client)->roundTrip(
      absl::StrCat("set big 0 0 100000 noreply\r\n", std::string(100000, 'b'),
                   "\r\nget tls-key-7\r\n"),
      "END\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "VALUE tls-key-7 0 7\r\nvalue-7\r\nEND\r\n");
  // Many gets and sets with values pipelined in one batch: gets share TLS records, values get
  // their own; every reply arrives.
  std::string batch;
  for (int i = 0; i < 300; ++i) {
    absl::StrAppend(&batch, "set mix", i, " 0 0 3000 noreply\r\n", std::string(3000, 'm'),
                    "\r\nget mix", i, " tls-key-1 tls-key-2\r\n");
  }
  ASSERT_TRUE((*client)->send(batch).ok());
  for (int i = 0; i < 300; ++i) {
    auto got = (*client)->readUntil("END\r\n");
    ASSERT_TRUE(got.ok()) << i << " " << got.status();
    ASSERT_TRUE(absl::StartsWith(*got, absl::StrCat("VALUE mix", i, " 0 3000\r\n"))) << *got;
  }
  std::string server = stat(proxy->port(), "stats servers", "primary_1");
  EXPECT_TRUE(absl::StrContains(server, "tls=on tls_errors=0")) << server;
  EXPECT_TRUE(absl::StrContains(server, " errors=0")) << server;
}

TEST_F(TlsTest, AServerGivenByNameIsVerifiedAgainstThatName) {
  MemcachedServerPtr memcached = startTlsMemcached();
  ASSERT_NE(memcached, nullptr);
  // "localhost" is resolved off the data path (the resolver) and checked against the
  // certificate's DNS name; the IP it resolves to plays no part in verification.
  auto proxy = startProxy({"-s", absl::StrCat("localhost:", memcached->port()),
                           "--upstream_tls_ca=" + certs_->ca},
                          /*tls_port=*/false);
  ASSERT_NE(proxy, nullptr);
  auto client = TextClient::connect(proxy->port());
  ASSERT_TRUE(client.ok());
  absl::StatusOr<std::string> stored = absl::UnavailableError("not tried");
  // The name's first answer may not have come yet: retry briefly.
  for (int i = 0; i < 50 && !(stored.ok() && *stored == "STORED"); ++i) {
    stored = (*client)->set("named", "ok");
    if (!(stored.ok() && *stored == "STORED")) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, "STORED");
  std::string server = stat(proxy->port(), "stats servers", "primary_1");
  EXPECT_TRUE(absl::StrContains(server, "tls=on tls_errors=0")) << server;
}

TEST_F(TlsTest, WrongUpstreamCaIsRefusedWithAClearError) {
  MemcachedServerPtr memcached = startTlsMemcached();
  ASSERT_NE(memcached, nullptr);
  auto proxy = startProxy({"-s", memcached->address(), "--upstream_tls_ca=" + certs_->other_ca},
                          /*tls_port=*/false);
  ASSERT_NE(proxy, nullptr);
  auto client = TextClient::connect(proxy->port());
  ASSERT_TRUE(client.ok());
  auto reply = (*client)->roundTrip("set k 0 0 1\r\nx\r\n", "\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(absl::StrContains(*reply, "SERVER_ERROR")) << *reply;
  EXPECT_TRUE(absl::StrContains(*reply, "certificate verify failed")) << *reply;
  std::string server = stat(proxy->port(), "stats servers", "primary_1");
  EXPECT_FALSE(absl::StrContains(server, "tls_errors=0")) << server;
  EXPECT_TRUE(absl::StrContains(readFile(log_), "TLS to " + memcached->address() +
                                                    " failed: TLS handshake failed: certificate "
                                                    "verify failed"))
      << readFile(log_);
}

TEST_F(TlsTest, BootstrapPoolTlsWithAClientCertificateForMemcachedThatRequiresOne) {
  // memcached -Z with ssl_verify_mode=2: clients must present a certificate from our CA.
  MemcachedServerPtr memcached =
      startTlsMemcached(absl::StrCat(",ssl_ca_cert=", certs_->ca, ",ssl_verify_mode=2"));
  ASSERT_NE(memcached, nullptr);
  std::string config = absl::StrCat(tempDir(), "/tls_bootstrap.textproto");
  std::ofstream(config) << "version: 1\nclusters {\n  name: \"default\"\n  primary {\n"
                        << "    nodes { address: \"" << memcached->address()
                        << "\" state: NODE_STATE_ACTIVE }\n"
                        << "    tls { ca_file: \"" << certs_->ca << "\" cert_file: \""
                        << certs_->client_cert << "\" key_file: \"" << certs_->client_key
                        << "\" server_name: \"localhost\" }\n  }\n}\n";
  auto proxy = startProxy({"--config=" + config}, /*tls_port=*/false);
  ASSERT_NE(proxy, nullptr);
  auto client = TextClient::connect(proxy->port());
  ASSERT_TRUE(client.ok());
  auto stored = (*client)->set("boot", "strap");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, "STORED");
  auto value = (*client)->get("boot");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->value_or(""), "strap");
}

TEST_F(TlsTest, BadCertificateFilesStopStartUpWithAClearMessage) {
  auto memcached = MemcachedServer::start();
  ASSERT_TRUE(memcached.ok()) << memcached.status();
  std::string bin = runfilePath("app/mcmesh");
  ToolRun mismatch = runShell(absl::StrCat(bin, " -D -l 127.0.0.1 -p 0 --tls_port=", pickFreePort(),
                                           " --tls_cert=", certs_->server_cert, " --tls_key=",
                                           certs_->other_key, " -s ", (*memcached)->address()));
  EXPECT_NE(mismatch.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(mismatch.output, "does not match certificate")) << mismatch.output;
  ToolRun missing = runShell(absl::StrCat(bin, " -D -l 127.0.0.1 -p ", pickFreePort(), " -s ",
                                          (*memcached)->address(), " --upstream_tls_ca=",
                                          certs_->dir, "/missing.pem"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(missing.output, "missing.pem: cannot read")) << missing.output;
}

TEST_F(TlsTest, MemccapablePassesOnThePlainPortOfATlsProxy) {
  auto memcached = MemcachedServer::start();
  ASSERT_TRUE(memcached.ok()) << memcached.status();
  auto proxy = startProxy({"-s", (*memcached)->address()});
  ASSERT_NE(proxy, nullptr);
  ToolRun run = runShell(absl::StrCat("/usr/bin/memccapable -h 127.0.0.1 -p ", proxy->port(),
                                      " -t 5"),
                         absl::Seconds(120));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "All tests passed")) << run.output;
}

}  // namespace
}  // namespace mcmesh::testing
