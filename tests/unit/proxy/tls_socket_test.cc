// BufferedSocket with TLS on both ends of a socketpair, one loop: handshake, verification
// failures, mutual TLS, large writes, partial reads at the read limit, peer close, resumption;
// and TlsContext's load errors.
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/socket_recorder.h"
#include "proxy/buffered_socket.h"
#include "proxy/tls/tls_context.h"
#include "tests/support/tls_certs.h"

namespace mcmesh {
namespace {

using testing::TestCerts;

using testing::Recorder;
using testing::runUntil;

class TlsSocketTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(TestCerts::create()); }
  static void TearDownTestSuite() {
    certs_->remove();
    delete certs_;
  }
  void SetUp() override { ASSERT_FALSE(certs_->dir.empty()) << "openssl CLI failed"; }

  tls::TlsContextConstSharedPtr serverContext(bool mutual) {
    tls::ServerTlsSettings s{certs_->server_cert, certs_->server_key,
                             mutual ? certs_->ca : std::string()};
    auto ctx = tls::TlsContext::createServer(s);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return ctx.ok() ? *ctx : nullptr;
  }
  tls::TlsContextConstSharedPtr clientContext(const std::string& ca, bool with_cert) {
    tls::ClientTlsSettings s;
    s.ca_file = ca;
    if (with_cert) {
      s.cert_file = certs_->client_cert;
      s.key_file = certs_->client_key;
    }
    auto ctx = tls::TlsContext::createClient(s);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return ctx.ok() ? *ctx : nullptr;
  }
  // A socketpair with a TLS server on one end and a TLS client on the other.
  void connectPair(const tls::TlsContextConstSharedPtr& server_ctx,
                   const tls::TlsContextConstSharedPtr& client_ctx,
                   const std::string& verify_host = "127.0.0.1") {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    server_ = std::make_unique<BufferedSocket>(dispatcher_, fds[0], server_rec_);
    client_ = std::make_unique<BufferedSocket>(dispatcher_, fds[1], client_rec_);
    server_rec_.socket = server_.get();
    client_rec_.socket = client_.get();
    ASSERT_TRUE(server_->startTls(server_ctx, "client", "").ok());
    ASSERT_TRUE(client_->startTls(client_ctx, "server:1", verify_host).ok());
  }
  void send(BufferedSocket& socket, const std::string& data) {
    evbuffer_add(socket.output(), data.data(), data.size());
    socket.scheduleWrite();
  }

  static TestCerts* certs_;
  Dispatcher dispatcher_;
  Recorder server_rec_;
  Recorder client_rec_;
  BufferedSocketPtr server_;
  BufferedSocketPtr client_;
};
TestCerts* TlsSocketTest::certs_ = nullptr;

TEST_F(TlsSocketTest, HandshakeThenRequestAndReply) {
  connectPair(serverContext(false), clientContext(certs_->ca, false));
  // Queued before the handshake: sent once it completes, in order.
  send(*client_, "get a\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.read == "get a\r\n"; }));
  EXPECT_TRUE(client_rec_.connected);
  send(*server_, "END\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return client_rec_.read == "END\r\n"; }));
  EXPECT_FALSE(server_rec_.closed);
  EXPECT_FALSE(client_rec_.closed);
}

TEST_F(TlsSocketTest, LargeWritesBothWaysArriveWholeThroughAFullKernelBuffer) {
  connectPair(serverContext(false), clientContext(certs_->ca, false));
  std::string up(3 * 1024 * 1024 + 17, 'u');
  std::string down(5 * 1024 * 1024 + 3, 'd');
  for (size_t i = 0; i < up.size(); i += 4093) up[i] = static_cast<char>('a' + i % 26);
  for (size_t i = 0; i < down.size(); i += 8191) down[i] = static_cast<char>('A' + i % 26);
  send(*client_, up);
  send(*server_, down);
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    return server_rec_.read.size() == up.size() && client_rec_.read.size() == down.size();
  }));
  EXPECT_TRUE(server_rec_.read == up);
  EXPECT_TRUE(client_rec_.read == down);
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    return server_rec_.drained_calls > 0 && client_rec_.drained_calls > 0;
  }));
}

TEST_F(TlsSocketTest, APeerThatDoesNotReadLeavesPlaintextInTheOutput) {
  connectPair(serverContext(false), clientContext(certs_->ca, false));
  send(*client_, "hi");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.read == "hi"; }));
  client_->enableReading(false);
  int small = 4096;  // unix sockets otherwise buffer megabytes.
  ASSERT_EQ(setsockopt(client_->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  int drained_before = server_rec_.drained_calls;  // the session tickets' flush counts.
  std::string big(8 * 1024 * 1024, 'p');
  send(*server_, big);
  for (int i = 0; i < 200; ++i) event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
  // Only a bounded slice was encrypted ahead of the kernel: an owner's output cap (which reads
  // output()) still sees the rest and can stop reading from this client.
  EXPECT_GT(evbuffer_get_length(server_->output()), 6u * 1024 * 1024)
      << "client read " << client_rec_.read.size() << " closed " << server_rec_.closed;
  EXPECT_EQ(server_rec_.drained_calls, drained_before);
  client_->enableReading(true);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return client_rec_.read.size() == big.size(); }));
  EXPECT_TRUE(client_rec_.read == big);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.drained_calls == drained_before + 1; }));
}

TEST_F(TlsSocketTest, ReadLimitPausesAndDecryptedBytesAreDeliveredOnResume) {
  connectPair(serverContext(false), clientContext(certs_->ca, false));
  server_->setReadLimit(1000);
  server_rec_.consume_input = false;
  std::string data(100 * 1000, 'x');
  send(*client_, data);
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    return evbuffer_get_length(server_->input()) == 1000;
  }));
  for (int i = 0; i < 50; ++i) event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
  EXPECT_EQ(evbuffer_get_length(server_->input()), 1000u);  // never past the limit.
  // Drain in small steps: what the transport already holds must come out without new bytes
  // from the kernel (the client has sent everything).
  size_t got = 0;
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    size_t len = evbuffer_get_length(server_->input());
    evbuffer_drain(server_->input(), len);
    got += len;
    server_->enableReading(true);
    return got == data.size();
  }));
}

TEST_F(TlsSocketTest, PeerCloseIsReportedAsEof) {
  connectPair(serverContext(false), clientContext(certs_->ca, false));
  send(*client_, "x");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.read == "x"; }));
  client_.reset();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.closed; }));
  EXPECT_EQ(server_rec_.close_error, 0);
  EXPECT_EQ(server_->tlsError(), "");
}

TEST_F(TlsSocketTest, WrongCaFailsTheHandshakeWithAClearError) {
  connectPair(serverContext(false), clientContext(certs_->other_ca, false));
  send(*client_, "get a\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return client_rec_.closed; }));
  EXPECT_EQ(client_rec_.close_error, EPROTO);
  EXPECT_FALSE(client_rec_.connected);
  EXPECT_NE(client_->tlsError().find("certificate verify failed"), std::string::npos)
      << client_->tlsError();
  EXPECT_EQ(server_rec_.read, "");
}

TEST_F(TlsSocketTest, WrongNameFailsVerification) {
  connectPair(serverContext(false), clientContext(certs_->ca, false), "cache.example.com");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return client_rec_.closed; }));
  EXPECT_NE(client_->tlsError().find("mismatch"), std::string::npos) << client_->tlsError();
}

TEST_F(TlsSocketTest, MutualTlsRefusesAClientWithoutCertificate) {
  connectPair(serverContext(true), clientContext(certs_->ca, false));
  send(*client_, "get a\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.closed; }));
  EXPECT_EQ(server_rec_.close_error, EPROTO);
  EXPECT_NE(server_->tlsError().find("certificate"), std::string::npos) << server_->tlsError();
  EXPECT_EQ(server_rec_.read, "");
}

TEST_F(TlsSocketTest, MutualTlsAcceptsAClientWithCertificate) {
  connectPair(serverContext(true), clientContext(certs_->ca, true));
  send(*client_, "get a\r\n");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.read == "get a\r\n"; }));
}

TEST_F(TlsSocketTest, SecondConnectionResumesTheSession) {
  auto server_ctx = serverContext(false);
  auto client_ctx = clientContext(certs_->ca, false);
  connectPair(server_ctx, client_ctx);
  send(*client_, "a");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.read == "a"; }));
  send(*server_, "b");  // the client reads the session tickets with this reply.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return client_rec_.read == "b"; }));
  EXPECT_FALSE(client_->tlsTransport()->sessionReused());
  server_.reset();
  client_.reset();
  server_rec_ = Recorder();
  client_rec_ = Recorder();
  connectPair(server_ctx, client_ctx);
  send(*client_, "c");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return server_rec_.read == "c"; }));
  EXPECT_TRUE(client_->tlsTransport()->sessionReused());
  EXPECT_TRUE(server_->tlsTransport()->sessionReused());
}

TEST_F(TlsSocketTest, ContextErrorsNameTheFileAndTheProblem) {
  auto missing = tls::TlsContext::createServer({certs_->dir + "/nope.pem", certs_->server_key, ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.pem: cannot read"), std::string::npos)
      << missing.status();
  auto mismatch = tls::TlsContext::createServer({certs_->server_cert, certs_->other_key, ""});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("does not match certificate"), std::string::npos)
      << mismatch.status();
  auto not_pem = tls::TlsContext::createServer({certs_->server_key, certs_->server_key, ""});
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(not_pem.status().message().find("not a usable PEM certificate"), std::string::npos)
      << not_pem.status();
  tls::ClientTlsSettings no_ca;
  EXPECT_FALSE(tls::TlsContext::createClient(no_ca).ok());
}

}  // namespace
}  // namespace mcmesh
