// TlsContext: certificate loading with errors that name the file and the problem.
#include "proxy/tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mcmesh::tls {
namespace {

// Session resumption across workers and restarts of a connection needs a fixed id context
// (OpenSSL refuses to resume a session with a client certificate without one).
constexpr unsigned char kSessionIdContext[] = "mcmesh";

absl::Status checkReadable(const std::string& what, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no file given"));
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

absl::Status loadCertAndKey(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (auto st = checkReadable("certificate", cert); !st.ok()) return st;
  if (auto st = checkReadable("private key", key); !st.ok()) return st;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate ", cert, ": not a usable PEM certificate chain (",
        drainErrors("no detail"), ")"));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string detail = drainErrors("no detail");
    if (detail.find("values mismatch") != std::string::npos ||
        detail.find("mismatch") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("private key ", key, " does not match certificate ", cert));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("private key ", key, ": not a usable PEM private key (", detail, ")"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    drainErrors("");
    return absl::InvalidArgumentError(
        absl::StrCat("private key ", key, " does not match certificate ", cert));
  }
  return absl::OkStatus();
}

absl::Status loadCa(SSL_CTX* ctx, const std::string& what, const std::string& ca) {
  if (auto st = checkReadable(what, ca); !st.ok()) return st;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", ca, ": no usable PEM certificate in it (", drainErrors("no detail"), ")"));
  }
  return absl::OkStatus();
}

SSL_CTX* newCtx(const SSL_METHOD* method) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Memory BIOs never block; a partial write simply leaves the rest in the plaintext buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

// Client side: a server issued a session (TLS 1.3 sends tickets after the handshake).
int onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* context = static_cast<const TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* peer = static_cast<const std::string*>(SSL_get_app_data(ssl));
  if (context == nullptr || peer == nullptr) return 0;
  context->storeSession(*peer, session);
  return 1;  // we keep the reference.
}

}  // namespace

std::string drainErrors(const std::string& fallback) {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    // "error:0A000086:SSL routines::certificate verify failed" -> keep the readable tail.
    const char* reason = ERR_reason_error_string(e);
    out += reason != nullptr ? reason : buf;
  }
  return out.empty() ? fallback : out;
}

absl::StatusOr<TlsContextConstSharedPtr> TlsContext::createServer(
    const ServerTlsSettings& settings) {
  SSL_CTX* ctx = newCtx(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed: " + drainErrors("?"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, Role::kServer));
  if (auto st = loadCertAndKey(ctx, settings.cert_file, settings.key_file); !st.ok()) return st;
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  // Resumption: stateless tickets (TLS 1.2 and 1.3; the ticket key is per process, so every
  // worker accepts every ticket) plus OpenSSL's server-side cache for TLS 1.2 session ids.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  if (!settings.client_ca_file.empty()) {
    if (auto st = loadCa(ctx, "client CA", settings.client_ca_file); !st.ok()) return st;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return TlsContextConstSharedPtr(std::move(context));
}

absl::StatusOr<TlsContextConstSharedPtr> TlsContext::createClient(
    const ClientTlsSettings& settings) {
  SSL_CTX* ctx = newCtx(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed: " + drainErrors("?"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, Role::kClient));
  context->client_settings_ = settings;
  if (settings.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "upstream TLS needs a CA file to verify servers with (ca_file / --upstream_tls_ca)");
  }
  if (auto st = loadCa(ctx, "upstream CA", settings.ca_file); !st.ok()) return st;
  if (!settings.cert_file.empty() || !settings.key_file.empty()) {
    if (auto st = loadCertAndKey(ctx, settings.cert_file, settings.key_file); !st.ok()) return st;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_app_data(ctx, context.get());
  if (!settings.cert_file.empty()) {
    // A server that verifies client certificates must have set a session id context to resume;
    // memcached -Z (1.6.18) does not, and answers a resumption attempt with an "internal error"
    // alert. With a client certificate, every connect is a full handshake.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return TlsContextConstSharedPtr(std::move(context));
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &onNewSession);
  return TlsContextConstSharedPtr(std::move(context));
}

TlsContext::~TlsContext() {
  for (auto& entry : sessions_) SSL_SESSION_free(entry.second);
  SSL_CTX_free(ctx_);
}

SSL_SESSION* TlsContext::takeSession(const std::string& peer) const {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return nullptr;
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

void TlsContext::storeSession(const std::string& peer, SSL_SESSION* session) const {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  SSL_SESSION*& slot = sessions_[peer];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = session;
}

}  // namespace mcmesh::tls
