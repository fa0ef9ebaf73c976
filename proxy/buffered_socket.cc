// BufferedSocket: readv into evbuffers, end-of-batch writev, EPOLLOUT only on push-back.
#include "proxy/buffered_socket.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mcmesh {
namespace {
// One read takes up to this much: a 4 KiB value and its command line, or a pipeline of small
// requests, arrive in one system call.
constexpr size_t kReadChunk = 16 * 1024;
// With TLS, at most about this much ciphertext waits for the kernel; the rest stays plaintext
// in output() (see writeNow()).
constexpr size_t kMaxCipherBacklog = 64 * 1024;
constexpr size_t kTlsRecordBytes = 16 * 1024;  // TLS's largest record.
// pending_error_ value for "the peer closed" (errno values are positive).
constexpr int kPeerClosed = -1;
}  // namespace

BufferedSocket::BufferedSocket(Dispatcher& dispatcher, int fd, Callbacks& callbacks)
    : BufferedSocket(dispatcher, fd, callbacks, false) {}

BufferedSocket::BufferedSocket(Dispatcher& dispatcher, int fd, Callbacks& callbacks,
                               bool connecting)
    : dispatcher_(dispatcher), fd_(fd), callbacks_(callbacks), input_(evbuffer_new()),
      output_(evbuffer_new()), connecting_(connecting) {
  read_event_ = event_new(dispatcher_.base(), fd_, EV_READ | EV_PERSIST,
                          &BufferedSocket::onReadEvent, this);
  write_event_ = event_new(dispatcher_.base(), fd_, EV_WRITE | EV_PERSIST,
                           &BufferedSocket::onWriteEvent, this);
  if (connecting_) {
    // Writable means the connect finished (either way); reading starts then.
    event_add(write_event_, nullptr);
    write_armed_ = true;
  } else {
    event_add(read_event_, nullptr);
  }
}

absl::StatusOr<std::unique_ptr<BufferedSocket>> BufferedSocket::connect(
    Dispatcher& dispatcher, const sockaddr* address, socklen_t address_len,
    Callbacks& callbacks) {
  int fd = ::socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int error = errno;
    // Out of descriptors or kernel memory is this process's problem, not the peer's: callers
    // tell it apart by the code (absl::IsResourceExhausted).
    bool local = error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
    std::string message = absl::StrCat("socket: ", std::strerror(error));
    return local ? absl::ResourceExhaustedError(message) : absl::UnavailableError(message);
  }
  if (address->sa_family == AF_INET || address->sa_family == AF_INET6) {
    // Pipelined requests must not wait for the server's delayed ACK (Nagle): ~40 ms stalls.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  int refused = 0;
  if (::connect(fd, address, address_len) != 0 && errno != EINPROGRESS) {
    if (errno != ECONNREFUSED) {
      int error = errno;
      ::close(fd);
      return absl::UnavailableError(std::strerror(error));
    }
    refused = errno;  // loopback refuses at once: report it from the loop like any failure.
  }
  // Even an immediate success is reported through the write event, so onConnected() never runs
  // inside connect()'s caller.
  auto socket = std::unique_ptr<BufferedSocket>(new BufferedSocket(dispatcher, fd, callbacks, true));
  if (refused != 0) {
    event_del(socket->write_event_);
    socket->write_armed_ = false;
    socket->pending_error_ = refused;
    dispatcher.scheduleEndOfBatch(*socket);
  }
  return socket;
}

BufferedSocket::~BufferedSocket() {
  dispatcher_.cancelEndOfBatch(*this);
  event_free(read_event_);
  event_free(write_event_);
  evbuffer_free(input_);
  evbuffer_free(output_);
  if (fd_ >= 0) ::close(fd_);
}

void BufferedSocket::shutdownEvents() {
  failed_ = true;
  dispatcher_.cancelEndOfBatch(*this);
  event_del(read_event_);
  event_del(write_event_);
  write_armed_ = false;
}

void BufferedSocket::scheduleWrite() {
  if (failed_ || connecting_ || write_armed_) return;  // the write event will take it.
  dispatcher_.scheduleEndOfBatch(*this);
}

void BufferedSocket::runEndOfBatch() {
  if (pending_error_ != 0) {
    fail(pending_error_ == kPeerClosed ? 0 : pending_error_);
    return;
  }
  writeNow();
}

void BufferedSocket::writeNow() {
  if (failed_ || connecting_) return;
  dispatcher_.cancelEndOfBatch(*this);
  // What goes to the kernel: the output itself, or with TLS its ciphertext.
  evbuffer* wire = output_;
  bool had_output = evbuffer_get_length(output_) > 0;
  if (tls_ != nullptr) {
    wire = tls_->cipherOut();
    had_output = had_output || evbuffer_get_length(wire) > 0;
    // Encrypt a bounded slice, write it, repeat while the kernel takes everything: plaintext
    // stays in output() while the peer does not read, so owners' output caps still see it.
    do {
      if (!encryptOutput()) return;
      if (evbuffer_get_length(wire) > 0 && !writeOut(wire)) return;
    } while (evbuffer_get_length(wire) == 0 && evbuffer_get_length(output_) > 0 &&
             tls_->handshakeDone());
  } else if (had_output && !writeOut(wire)) {
    return;
  }
  // Plaintext queued before the handshake completed waits for it (the read path flushes it);
  // arming EPOLLOUT for it would spin.
  bool waiting_for_handshake =
      tls_ != nullptr && !tls_->handshakeDone() && evbuffer_get_length(output_) > 0;
  if (evbuffer_get_length(wire) == 0) {
    if (write_armed_) {
      event_del(write_event_);
      write_armed_ = false;
    }
    if (had_output && !waiting_for_handshake) callbacks_.onWriteDrained();
  } else if (!write_armed_) {
    event_add(write_event_, nullptr);
    write_armed_ = true;
  }
}

bool BufferedSocket::writeOut(evbuffer* wire) {
  while (evbuffer_get_length(wire) > 0) {
    int n = evbuffer_write(wire, fd_);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    fail(n < 0 ? errno : EPIPE);
    return false;
  }
  return true;
}

void BufferedSocket::enableReading(bool enable) {
  if (enable == reading_ && !paused_at_limit_) return;
  reading_ = enable;
  paused_at_limit_ = false;
  if (failed_ || connecting_) return;
  if (enable) {
    event_add(read_event_, nullptr);
    // Decrypted-but-undelivered bytes wait in the transport, not the kernel: no read event
    // would come for them.
    if (tls_ != nullptr && tls_->hasBufferedInput()) event_active(read_event_, EV_READ, 0);
  } else {
    event_del(read_event_);
  }
}

ssize_t BufferedSocket::readOnce() {
  size_t want = kReadChunk;
  if (read_limit_ > 0) {
    size_t have = evbuffer_get_length(input_);
    if (have >= read_limit_) return -2;
    want = std::min(want, read_limit_ - have);
  }
  return readInto(input_, want);
}

ssize_t BufferedSocket::readInto(evbuffer* buffer, size_t want) {
  evbuffer_iovec vec[2];
  int nvec = evbuffer_reserve_space(buffer, want, vec, 2);
  if (nvec <= 0) {
    errno = ENOMEM;
    return -1;
  }
  iovec iov[2];
  size_t offered = 0;
  for (int i = 0; i < nvec; ++i) {
    iov[i].iov_base = vec[i].iov_base;
    iov[i].iov_len = std::min(vec[i].iov_len, want - offered);
    offered += iov[i].iov_len;
    if (offered == want) {
      nvec = i + 1;
      break;
    }
  }
  ssize_t n;
  do {
    n = ::readv(fd_, iov, nvec);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    evbuffer_commit_space(buffer, vec, 0);
    return n;
  }
  size_t left = static_cast<size_t>(n);
  for (int i = 0; i < nvec; ++i) {
    vec[i].iov_len = std::min(left, iov[i].iov_len);
    left -= vec[i].iov_len;
  }
  evbuffer_commit_space(buffer, vec, nvec);
  return n;
}

bool BufferedSocket::readMore() {
  if (failed_ || connecting_) return false;
  if (tls_ == nullptr) return readOnce() > 0;
  TlsReadStep step = readTls();
  if (step.close_error >= 0 && pending_error_ == 0 && !failed_) {
    // As for plain sockets, EOF and errors are reported from the loop, not inside the caller;
    // unlike them, a TLS error would not show up as a read event again.
    pending_error_ = step.close_error == 0 ? kPeerClosed : step.close_error;
    dispatcher_.scheduleEndOfBatch(*this);
  }
  return step.produced > 0;
}

void BufferedSocket::onReadEvent(int, short, void* arg) {
  static_cast<BufferedSocket*>(arg)->handleRead();
}

ssize_t BufferedSocket::readIntoScratch() {
  size_t want = Dispatcher::kReadScratchSize;
  if (read_limit_ > 0) want = std::min(want, read_limit_);
  char* scratch = dispatcher_.readScratch();
  ssize_t n;
  do {
    n = ::read(fd_, scratch, want);
  } while (n < 0 && errno == EINTR);
  if (n > 0) evbuffer_add_reference(input_, scratch, static_cast<size_t>(n), nullptr, nullptr);
  return n;
}

void BufferedSocket::ownScratchBytes() {
  // A partial request or reply may be left in the loop's scratch, which the next read on this
  // loop reuses: copy that part (always the input's first chunk; what readMore() appended is
  // already owned). Rare for small requests; the common case copies and allocates nothing.
  evbuffer_iovec first;
  if (evbuffer_peek(input_, -1, nullptr, &first, 1) < 1) return;
  const char* scratch = dispatcher_.readScratch();
  const char* base = static_cast<const char*>(first.iov_base);
  if (base < scratch || base >= scratch + Dispatcher::kReadScratchSize) return;
  evbuffer* owned = evbuffer_new();
  if (owned == nullptr || evbuffer_add(owned, base, first.iov_len) != 0) std::abort();
  evbuffer_drain(input_, first.iov_len);
  evbuffer_prepend_buffer(input_, owned);
  evbuffer_free(owned);
}

void BufferedSocket::handleRead() {
  if (failed_) return;
  if (tls_ != nullptr) {
    handleTlsRead();
    return;
  }
  // With nothing buffered, read into the loop's scratch and hand it over by reference: no
  // evbuffer chain is allocated and freed per read. Otherwise append to the partial bytes.
  bool scratch = evbuffer_get_length(input_) == 0;
  ssize_t n = scratch ? readIntoScratch() : readOnce();
  if (n > 0) {
    callbacks_.onReadable();  // the owner defers its own deletion, so `this` is still valid.
    if (scratch) ownScratchBytes();
    return;
  }
  if (n == -2) {
    // At the read limit: stop polling (level-triggered epoll would spin) until the owner drains
    // the input and resumes reading; let it see the full buffer first.
    event_del(read_event_);
    paused_at_limit_ = true;
    callbacks_.onReadable();
    return;
  }
  if (n == 0) {
    fail(0);
    return;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return;
  fail(errno);
}

void BufferedSocket::onWriteEvent(int, short, void* arg) {
  static_cast<BufferedSocket*>(arg)->handleWritable();
}

void BufferedSocket::handleWritable() {
  if (failed_) return;
  if (connecting_) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error != 0) {
      fail(error);
      return;
    }
    connecting_ = false;
    if (reading_) event_add(read_event_, nullptr);
    if (tls_ != nullptr) {
      // Sends the client hello; the owner hears onConnected() when the handshake completes.
      writeNow();
      return;
    }
    if (evbuffer_get_length(output_) == 0) {
      event_del(write_event_);
      write_armed_ = false;
    }
    callbacks_.onConnected();
    if (failed_) return;
    if (evbuffer_get_length(output_) == 0) return;
  }
  writeNow();
}

void BufferedSocket::fail(int error) {
  if (failed_) return;
  shutdownEvents();
  callbacks_.onClosed(error);
}

// ---- TLS -----------------------------------------------------------------------------------

absl::Status BufferedSocket::startTls(tls::TlsContextConstSharedPtr context, std::string peer,
                                      std::string verify_host) {
  auto transport = tls::TlsTransport::create(std::move(context), std::move(peer),
                                             std::move(verify_host));
  if (!transport.ok()) return transport.status();
  tls_ = std::move(*transport);
  // A client on an already-connected fd speaks first (after connect(), handleWritable does).
  if (tls_->role() == tls::Role::kClient && !connecting_) dispatcher_.scheduleEndOfBatch(*this);
  return absl::OkStatus();
}

void BufferedSocket::endTlsRecord() {
  if (tls_ != nullptr) record_ends_.push_back(plain_encrypted_ + evbuffer_get_length(output_));
}

void BufferedSocket::failTls() {
  tls_error_ = tls_->error();
  // Best effort, never blocking: the alert tells the peer why (e.g. "certificate required").
  if (evbuffer_get_length(tls_->cipherOut()) > 0) evbuffer_write(tls_->cipherOut(), fd_);
  fail(EPROTO);
}

bool BufferedSocket::advanceTlsHandshake() {
  if (tls_->handshakeDone()) return true;
  switch (tls_->handshake()) {
    case tls::TlsTransport::Result::kOk:
      if (tls_->role() == tls::Role::kClient) callbacks_.onConnected();
      return !failed_;
    case tls::TlsTransport::Result::kWantRead:
      return true;
    case tls::TlsTransport::Result::kClosed:
      fail(0);
      return false;
    case tls::TlsTransport::Result::kError:
      failTls();
      return false;
  }
  return true;
}

bool BufferedSocket::encryptOutput() {
  if (!advanceTlsHandshake()) return false;
  if (!tls_->handshakeDone()) return true;
  while (evbuffer_get_length(output_) > 0 &&
         evbuffer_get_length(tls_->cipherOut()) < kMaxCipherBacklog) {
    while (!record_ends_.empty() && record_ends_.front() <= plain_encrypted_) {
      record_ends_.pop_front();
    }
    // One record at a time, so the backlog bound holds.
    size_t bytes = std::min<size_t>(evbuffer_get_length(output_), kTlsRecordBytes);
    if (!record_ends_.empty()) {
      bytes = std::min<uint64_t>(bytes, record_ends_.front() - plain_encrypted_);
    }
    if (tls_->write(output_, bytes) == tls::TlsTransport::Result::kError) {
      failTls();
      return false;
    }
    plain_encrypted_ += bytes;
  }
  return true;
}

BufferedSocket::TlsReadStep BufferedSocket::readTls() {
  TlsReadStep step;
  size_t max = 0;  // plaintext we may still append (0: no limit).
  if (read_limit_ > 0) {
    size_t have = evbuffer_get_length(input_);
    if (have >= read_limit_) {
      step.at_limit = true;
      return step;
    }
    max = read_limit_ - have;
  }
  // One read of ciphertext, as the plain path does one read of plaintext.
  // (Not evbuffer_read: it asks ioctl(FIONREAD) first, one more system call per read.)
  ssize_t n = readInto(tls_->cipherIn(), kReadChunk);
  if (n == 0) {
    step.close_error = 0;
  } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    step.close_error = errno;
  }
  bool was_done = tls_->handshakeDone();
  if (!advanceTlsHandshake()) {
    step.close_error = -1;  // fail() already ran.
    return step;
  }
  if (!tls_->handshakeDone()) {
    if (evbuffer_get_length(tls_->cipherOut()) > 0) scheduleWrite();  // our next flight.
    return step;
  }
  switch (tls_->read(input_, max, &step.produced)) {
    case tls::TlsTransport::Result::kClosed:
      step.close_error = 0;
      break;
    case tls::TlsTransport::Result::kError:
      tls_error_ = tls_->error();
      step.close_error = EPROTO;
      break;
    default:
      break;
  }
  // The handshake's last flight, a session ticket, or replies queued while it ran: send them
  // with this batch.
  if (!was_done || evbuffer_get_length(tls_->cipherOut()) > 0) scheduleWrite();
  return step;
}

void BufferedSocket::handleTlsRead() {
  TlsReadStep step = readTls();
  if (failed_) return;
  if (step.at_limit) {
    // As in handleRead(): stop polling until the owner drains the input and resumes.
    event_del(read_event_);
    paused_at_limit_ = true;
    callbacks_.onReadable();
    return;
  }
  if (step.produced > 0) {
    callbacks_.onReadable();
    if (failed_) return;
  }
  if (step.close_error >= 0) {
    fail(step.close_error);
    return;
  }
  // Stopped at the read limit with whole records left: come back for them (the kernel has no
  // bytes to wake us).
  if (reading_ && tls_->hasBufferedInput()) event_active(read_event_, EV_READ, 0);
}

}  // namespace mcmesh
