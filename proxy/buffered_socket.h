// BufferedSocket: a non-blocking stream socket with libevent evbuffers, tuned for a proxy's
// request/reply traffic.
//
// Why not bufferevent_socket: per request it asks ioctl(FIONREAD) before every read and turns
// EPOLLOUT on and off around every write (two epoll_ctl), and it writes only on the next loop
// turn. That was 4 of mcmesh's ~10 system calls per request (bench/README.md, profile). Here:
//   - reads go with one read/readv straight into the loop's scratch buffer (referenced by the
//     input, copied only if a partial request is left) or into the input's free space;
//   - writes are queued and flushed with one writev after the loop has handled its current batch
//     of events (Dispatcher::scheduleEndOfBatch), so replies and requests queued by many events
//     share a system call; EPOLLOUT is armed only when the kernel would not take everything.
// With startTls(), input() and output() stay plaintext: the same reads and writev move ciphertext
// through a TlsTransport (memory buffers), so codecs and filters never know, and a flush is still
// one writev per loop turn.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/statusor.h"
#include "proxy/dispatcher.h"
#include "proxy/tls/tls_transport.h"

struct evbuffer;
struct event;

namespace mcmesh {

class BufferedSocket : private EndOfBatchWork {
 public:
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    /** New bytes were appended to input(). */
    virtual void onReadable() = 0;
    /** The output was written out completely (after being non-empty). */
    virtual void onWriteDrained() {}
    /** An outgoing connect() completed (with TLS: and its handshake). */
    virtual void onConnected() {}
    /**
     * The peer closed (`error` 0) or the socket failed (`error` is the errno). No callback runs
     * after this one; the owner should destroy the socket (not from inside this callback's
     * caller's frame if it needs the object: defer the delete).
     */
    virtual void onClosed(int error) = 0;
  };

  /** Wraps a connected, non-blocking `fd` (owned: closed on destruction). */
  BufferedSocket(Dispatcher& dispatcher, int fd, Callbacks& callbacks);
  /**
   * Starts a non-blocking connect to `address`. Output queued before the connection completes is
   * sent once it does. @return the error if the socket cannot even be created.
   */
  static absl::StatusOr<std::unique_ptr<BufferedSocket>> connect(Dispatcher& dispatcher,
                                                                 const sockaddr* address,
                                                                 socklen_t address_len,
                                                                 Callbacks& callbacks);
  ~BufferedSocket() override;
  BufferedSocket(const BufferedSocket&) = delete;
  BufferedSocket& operator=(const BufferedSocket&) = delete;

  /**
   * Speaks TLS on this socket from now on (call right after construction or connect(), before
   * any I/O). The server role waits for the client's hello; the client role sends its hello
   * once connected and reports onConnected() after the handshake. Handshake failures close the
   * socket with onClosed(EPROTO) and tlsError() says why.
   * @param peer "host:port" of the other end (client session-cache key).
   * @param verify_host client role: name or IP the server certificate must match.
   */
  absl::Status startTls(tls::TlsContextConstSharedPtr context, std::string peer,
                        std::string verify_host);
  /**
   * With TLS: a record ends after what output() holds now (no-op for plain sockets). memcached
   * -Z (1.6.18) reads a value with an SSL_read of exactly its length and then waits for the
   * socket, never for what OpenSSL still buffers: a request that ends inside a record waits
   * until more bytes arrive. The upstream pool marks both ends of every request with a value.
   */
  void endTlsRecord();
  /** Why TLS failed (empty if it did not, or if this socket is plain). */
  const std::string& tlsError() const { return tls_error_; }
  /** The TLS session, or null for a plain socket (tests, stats). */
  const tls::TlsTransport* tlsTransport() const { return tls_.get(); }

  int fd() const { return fd_; }
  evbuffer* input() { return input_; }
  evbuffer* output() { return output_; }

  /** The output has new bytes: write them after the current batch of events. */
  void scheduleWrite();
  /** Writes the output now (e.g. before closing). */
  void writeNow();
  /** Pauses or resumes reading (backpressure; also resumes after a stop at the read limit). */
  void enableReading(bool enable);
  /** Reading stops while the input holds this many bytes (0: no limit). */
  void setReadLimit(size_t bytes) { read_limit_ = bytes; }
  /**
   * Reads what the socket holds right now into input(), without waiting for a read event (a
   * parser that needs the rest of a large value). @return whether any bytes were read; EOF and
   * errors are left to the next read event.
   */
  bool readMore();
  /** Stops all events (no callback runs after this); the fd stays open until destruction. */
  void shutdownEvents();

 private:
  BufferedSocket(Dispatcher& dispatcher, int fd, Callbacks& callbacks, bool connecting);
  static void onReadEvent(int, short, void* arg);
  static void onWriteEvent(int, short, void* arg);
  void runEndOfBatch() override;
  // One readv into the input's free space; > 0 bytes read, 0 EOF, -1 with errno.
  ssize_t readOnce();
  // One readv of up to `want` bytes into `buffer`'s free space; as readOnce().
  ssize_t readInto(evbuffer* buffer, size_t want);
  // One read into the dispatcher's scratch, added to input() by reference.
  ssize_t readIntoScratch();
  // Copies what is left in input() into memory of its own (the scratch is about to be reused).
  void ownScratchBytes();
  void handleRead();
  void handleWritable();
  // Writes `wire` until it is empty or the kernel pushes back; false when the socket failed.
  bool writeOut(evbuffer* wire);
  // TLS: what one read event (or readMore) did.
  struct TlsReadStep {
    size_t produced = 0;    // plaintext bytes appended to input().
    bool at_limit = false;  // input() is at the read limit: nothing read.
    int close_error = -1;   // >= 0: the socket is done (0 peer closed, else errno).
  };
  TlsReadStep readTls();
  void handleTlsRead();
  // Runs the handshake while it is incomplete; false when the socket failed.
  bool advanceTlsHandshake();
  // Encrypts output() into the transport's cipher buffer; false when the socket failed.
  bool encryptOutput();
  void failTls();
  void fail(int error);

  Dispatcher& dispatcher_;
  int fd_;
  Callbacks& callbacks_;
  evbuffer* input_;
  evbuffer* output_;
  event* read_event_;
  event* write_event_;
  size_t read_limit_ = 0;
  bool connecting_ = false;
  bool reading_ = true;          // what the owner asked for.
  bool paused_at_limit_ = false;  // the read event is off because the input is full.
  bool write_armed_ = false;
  bool failed_ = false;
  int pending_error_ = 0;  // a connect refused at once, reported after the batch.
  tls::TlsTransportPtr tls_;  // null: plain TCP.
  uint64_t plain_encrypted_ = 0;     // output bytes encrypted so far.
  std::deque<uint64_t> record_ends_;  // endTlsRecord() marks, in plain_encrypted_ terms.
  std::string tls_error_;
};
using BufferedSocketPtr = std::unique_ptr<BufferedSocket>;

}  // namespace mcmesh
