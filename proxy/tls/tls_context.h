// TlsContext: one SSL_CTX with its certificates, loaded once (start-up or topology apply) and
// shared read-only by every worker's connections.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_session_st SSL_SESSION;
typedef struct ssl_st SSL;

namespace mcmesh::tls {

enum class Role { kServer, kClient };

// What a listener presents and whom it accepts.
struct ServerTlsSettings {
  std::string cert_file;       // PEM chain, leaf first.
  std::string key_file;        // PEM private key matching cert_file.
  std::string client_ca_file;  // non-empty: mutual TLS, clients must present a cert it signed.
};

// How mcmesh connects to one pool's servers.
struct ClientTlsSettings {
  std::string ca_file;      // required: the server's certificate must chain to it.
  std::string cert_file;    // optional client certificate (memcached's ssl_verify_mode).
  std::string key_file;     // required with cert_file.
  // Name checked against the server certificate's SAN/CN; empty: the host as configured
  // (a DNS name, or an IP address matched against IP SANs).
  std::string server_name;
  bool enabled() const { return !ca_file.empty(); }
};

class TlsContext;
using TlsContextConstSharedPtr = std::shared_ptr<const TlsContext>;

class TlsContext {
 public:
  /**
   * Loads a listener's certificate and key (and client CA for mutual TLS).
   * @return an error naming the file and what is wrong (missing, not PEM, key does not match).
   */
  static absl::StatusOr<TlsContextConstSharedPtr> createServer(const ServerTlsSettings& settings);
  /** Loads the CA (and optional client certificate) to verify upstream servers with. */
  static absl::StatusOr<TlsContextConstSharedPtr> createClient(const ClientTlsSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  Role role() const { return role_; }
  const ClientTlsSettings& clientSettings() const { return client_settings_; }
  /** Client side: the name a server given as `host` must carry (server_name wins). */
  std::string verifyNameFor(const std::string& host) const {
    return client_settings_.server_name.empty() ? host : client_settings_.server_name;
  }

  /**
   * Client side: the last session a server `peer` (host:port) issued, for resumption on the next
   * connect; null if none. The caller owns the returned reference (SSL_SESSION_free).
   */
  SSL_SESSION* takeSession(const std::string& peer) const;
  /** Client side: remembers `session` (reference taken) for `peer`. */
  void storeSession(const std::string& peer, SSL_SESSION* session) const;

 private:
  TlsContext(SSL_CTX* ctx, Role role) : ctx_(ctx), role_(role) {}

  SSL_CTX* ctx_;
  Role role_;
  ClientTlsSettings client_settings_;
  // One session per server, shared by the workers: touched on connect and when a server issues
  // a ticket, never per request.
  mutable std::mutex sessions_mutex_;
  mutable std::map<std::string, SSL_SESSION*> sessions_;
};

/** The OpenSSL error queue as one line (cleared), or `fallback` when it is empty. */
std::string drainErrors(const std::string& fallback);

}  // namespace mcmesh::tls
