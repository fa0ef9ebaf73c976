// TlsTransport: SSL over two evbuffer-backed BIOs; error classification and messages.
#include "proxy/tls/tls_transport.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mcmesh::tls {
namespace {

// One TLS record's worth of plaintext per SSL_write: full records, and few of them.
constexpr size_t kRecordBytes = 16 * 1024;

// A BIO whose data pointer is an evbuffer: writes append to it, reads drain it. Ciphertext thus
// lands directly where BufferedSocket writes from (one writev per flush), with no extra copy
// through a BIO_s_mem.
int bioWrite(BIO* bio, const char* data, int len) {
  BIO_clear_retry_flags(bio);
  auto* buffer = static_cast<evbuffer*>(BIO_get_data(bio));
  if (evbuffer_add(buffer, data, static_cast<size_t>(len)) != 0) return -1;
  return len;
}

int bioRead(BIO* bio, char* out, int len) {
  BIO_clear_retry_flags(bio);
  auto* buffer = static_cast<evbuffer*>(BIO_get_data(bio));
  if (evbuffer_get_length(buffer) == 0) {
    BIO_set_retry_read(bio);  // not EOF: the peer's next bytes have not arrived yet.
    return -1;
  }
  return evbuffer_remove(buffer, out, static_cast<size_t>(len));
}

long bioCtrl(BIO* bio, int cmd, long, void*) {
  auto* buffer = static_cast<evbuffer*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(evbuffer_get_length(buffer));
    case BIO_CTRL_WPENDING:
      return 0;
    default:
      return 0;
  }
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* evbufferBioMethod() {
  // Created once per process and never freed (thread-safe static initialisation).
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mcmesh-evbuffer");
    BIO_meth_set_write(m, &bioWrite);
    BIO_meth_set_read(m, &bioRead);
    BIO_meth_set_ctrl(m, &bioCtrl);
    BIO_meth_set_create(m, &bioCreate);
    return m;
  }();
  return method;
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

TlsTransport::TlsTransport(TlsContextConstSharedPtr context, std::string peer)
    : context_(std::move(context)), peer_(std::move(peer)), cipher_in_(evbuffer_new()),
      cipher_out_(evbuffer_new()) {}

absl::StatusOr<std::unique_ptr<TlsTransport>> TlsTransport::create(
    TlsContextConstSharedPtr context, std::string peer, std::string verify_host) {
  std::unique_ptr<TlsTransport> t(new TlsTransport(std::move(context), std::move(peer)));
  ERR_clear_error();
  t->ssl_ = SSL_new(t->context_->get());
  if (t->ssl_ == nullptr) return absl::InternalError("SSL_new: " + drainErrors("failed"));
  BIO* in = BIO_new(evbufferBioMethod());
  BIO* out = BIO_new(evbufferBioMethod());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    return absl::InternalError("BIO_new: " + drainErrors("failed"));
  }
  BIO_set_data(in, t->cipher_in_);
  BIO_set_data(out, t->cipher_out_);
  SSL_set_bio(t->ssl_, in, out);  // the SSL owns both BIOs now.
  if (t->context_->role() == Role::kServer) {
    SSL_set_accept_state(t->ssl_);
    return t;
  }
  SSL_set_connect_state(t->ssl_);
  SSL_set_app_data(t->ssl_, &t->peer_);  // for the new-session callback (tls_context.cc).
  if (!verify_host.empty()) {
    if (isIpLiteral(verify_host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl_), verify_host.c_str());
    } else {
      SSL_set_tlsext_host_name(t->ssl_, verify_host.c_str());  // SNI: names only.
      SSL_set1_host(t->ssl_, verify_host.c_str());
    }
  }
  if (SSL_SESSION* session = t->context_->takeSession(t->peer_)) {
    SSL_set_session(t->ssl_, session);  // takes its own reference.
    SSL_SESSION_free(session);
  }
  return t;
}

TlsTransport::~TlsTransport() {
  if (ssl_ != nullptr) {
    // OpenSSL marks the session of an SSL freed without a shutdown as not resumable (it may
    // have been cut off by an attack). A connection that had no TLS error is closed by our
    // choice or the peer's: mark it shut down (quietly: the socket is going away anyway) so
    // its session stays usable for the next connect.
    if (handshake_done_ && error_.empty()) {
      SSL_set_quiet_shutdown(ssl_, 1);
      SSL_shutdown(ssl_);
    }
    SSL_free(ssl_);
  }
  evbuffer_free(cipher_in_);
  evbuffer_free(cipher_out_);
}

TlsTransport::Result TlsTransport::classify(int ret) {
  int code = SSL_get_error(ssl_, ret);
  switch (code) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // memory BIOs take every write; treat like "wait for the peer".
      ERR_clear_error();
      return Result::kWantRead;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return Result::kClosed;
    default:
      break;
  }
  std::string detail = drainErrors(absl::StrCat("SSL error ", code));
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK && !handshake_done_) {
    detail = absl::StrCat(detail, ": ", X509_verify_cert_error_string(verify));
  }
  error_ = absl::StrCat(handshake_done_ ? "TLS error: " : "TLS handshake failed: ", detail);
  return Result::kError;
}

TlsTransport::Result TlsTransport::handshake() {
  if (handshake_done_) return Result::kOk;
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    handshake_done_ = true;
    return Result::kOk;
  }
  return classify(ret);
}

TlsTransport::Result TlsTransport::read(evbuffer* plain, size_t max, size_t* produced) {
  *produced = 0;
  ERR_clear_error();
  for (;;) {
    size_t want = kRecordBytes;
    if (max > 0) {
      if (*produced >= max) return Result::kOk;
      want = std::min(want, max - *produced);
    }
    evbuffer_iovec vec;
    if (evbuffer_reserve_space(plain, want, &vec, 1) != 1) {
      error_ = "TLS error: out of memory";
      return Result::kError;
    }
    int ret = SSL_read(ssl_, vec.iov_base, static_cast<int>(std::min(vec.iov_len, want)));
    if (ret <= 0) {
      evbuffer_commit_space(plain, &vec, 0);
      return classify(ret);
    }
    vec.iov_len = static_cast<size_t>(ret);
    evbuffer_commit_space(plain, &vec, 1);
    *produced += static_cast<size_t>(ret);
  }
}

TlsTransport::Result TlsTransport::write(evbuffer* plain, size_t bytes) {
  ERR_clear_error();
  bytes = std::min(bytes, evbuffer_get_length(plain));
  while (bytes > 0) {
    size_t n = std::min(bytes, kRecordBytes);
    // Gathers small replies into one record; a no-op when the first chunk is big enough.
    unsigned char* data = evbuffer_pullup(plain, static_cast<ssize_t>(n));
    int ret = SSL_write(ssl_, data, static_cast<int>(n));
    if (ret <= 0) return classify(ret);
    evbuffer_drain(plain, static_cast<size_t>(ret));
    bytes -= static_cast<size_t>(ret);
  }
  return Result::kOk;
}

bool TlsTransport::hasBufferedInput() const {
  if (SSL_pending(ssl_) > 0) return true;
  // A whole record waiting (header: type, version, 2-byte length). A partial one needs the
  // peer's next bytes, so it does not count (the caller would spin on it).
  unsigned char header[5];
  if (evbuffer_copyout(cipher_in_, header, sizeof(header)) != sizeof(header)) return false;
  size_t record = sizeof(header) + (static_cast<size_t>(header[3]) << 8 | header[4]);
  return evbuffer_get_length(cipher_in_) >= record;
}

bool TlsTransport::sessionReused() const { return SSL_session_reused(ssl_) == 1; }

}  // namespace mcmesh::tls
