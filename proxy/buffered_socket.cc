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
    fail(pending_error_);
    return;
  }
  writeNow();
}

void BufferedSocket::writeNow() {
  if (failed_ || connecting_) return;
  dispatcher_.cancelEndOfBatch(*this);
  bool had_output = evbuffer_get_length(output_) > 0;
  if (had_output && !writeOut()) return;
  if (evbuffer_get_length(output_) == 0) {
    if (write_armed_) {
      event_del(write_event_);
      write_armed_ = false;
    }
    if (had_output) callbacks_.onWriteDrained();
  } else if (!write_armed_) {
    event_add(write_event_, nullptr);
    write_armed_ = true;
  }
}

bool BufferedSocket::writeOut() {
  while (evbuffer_get_length(output_) > 0) {
    int n = evbuffer_write(output_, fd_);
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
  evbuffer_iovec vec[2];
  int nvec = evbuffer_reserve_space(input_, want, vec, 2);
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
    evbuffer_commit_space(input_, vec, 0);
    return n;
  }
  size_t left = static_cast<size_t>(n);
  for (int i = 0; i < nvec; ++i) {
    vec[i].iov_len = std::min(left, iov[i].iov_len);
    left -= vec[i].iov_len;
  }
  evbuffer_commit_space(input_, vec, nvec);
  return n;
}

bool BufferedSocket::readMore() {
  if (failed_ || connecting_) return false;
  return readOnce() > 0;
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

}  // namespace mcmesh
