// TlsTransport: one TLS session over memory buffers. The socket's owner moves ciphertext between
// the kernel and cipherIn()/cipherOut() with its own reads and writev; this class only
// encrypts, decrypts and runs the handshake, so it never blocks and never does a system call.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proxy/tls/tls_context.h"

struct evbuffer;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace mcmesh::tls {

class TlsTransport {
 public:
  enum class Result {
    kOk,        // done (handshake complete, or all input used / all output encrypted).
    kWantRead,  // needs more ciphertext from the peer before it can go on.
    kClosed,    // the peer sent close_notify.
    kError,     // fatal: error() says why; the connection must be closed.
  };

  /**
   * @param peer     "host:port" of the other end: the session-cache key (client side).
   * @param verify_host  client side: the name or IP the server certificate must match (empty:
   *                 chain only); ignored on the server side.
   */
  static absl::StatusOr<std::unique_ptr<TlsTransport>> create(TlsContextConstSharedPtr context,
                                                              std::string peer,
                                                              std::string verify_host);
  ~TlsTransport();
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  /** Ciphertext received from the peer and not yet decrypted (the owner appends to it). */
  evbuffer* cipherIn() { return cipher_in_; }
  /** Ciphertext to send to the peer (the owner writes and drains it). */
  evbuffer* cipherOut() { return cipher_out_; }

  bool handshakeDone() const { return handshake_done_; }
  /** Advances the handshake with what cipherIn() holds. */
  Result handshake();
  /**
   * Decrypts what cipherIn() holds into `plain`, at most `max` bytes (0: no limit).
   * @param produced plaintext bytes appended. kWantRead with bytes produced is the normal case.
   */
  Result read(evbuffer* plain, size_t max, size_t* produced);
  /**
   * Encrypts and drains the first `bytes` of `plain` (at most its length) into cipherOut(), in
   * records of up to 16 KiB, the last one ending exactly there. Needs a completed handshake.
   */
  Result write(evbuffer* plain, size_t bytes);
  /** Whether read() could produce more without new ciphertext (it stopped at `max`). */
  bool hasBufferedInput() const;
  /** Why the last kError happened, e.g. "certificate verify failed: self-signed certificate". */
  const std::string& error() const { return error_; }
  /** Whether the handshake resumed an earlier session (ticket or cache). */
  bool sessionReused() const;
  Role role() const { return context_->role(); }

 private:
  TlsTransport(TlsContextConstSharedPtr context, std::string peer);
  Result classify(int ret);

  TlsContextConstSharedPtr context_;
  std::string peer_;  // referenced by SSL app data (client session cache key).
  SSL* ssl_ = nullptr;
  evbuffer* cipher_in_;
  evbuffer* cipher_out_;
  bool handshake_done_ = false;
  std::string error_;
};
using TlsTransportPtr = std::unique_ptr<TlsTransport>;

}  // namespace mcmesh::tls
