// LoadThread and LoadConnection: nonblocking connect, batched pipelined writes, reply matching.
#include "bench/loadgen/load_thread.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <cstdio>
#include <cstring>

namespace mcmesh::bench {

uint64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void appendKey(const std::string& prefix, uint64_t i, std::string* out) {
  char digits[24];
  int n = std::snprintf(digits, sizeof(digits), "%010llu", static_cast<unsigned long long>(i));
  out->append(prefix);
  out->append(digits, static_cast<size_t>(n));
}

void LoadStats::merge(const LoadStats& o) {
  ops += o.ops;
  gets += o.gets;
  sets += o.sets;
  keys += o.keys;
  hits += o.hits;
  misses += o.misses;
  reply_errors += o.reply_errors;
  connect_errors += o.connect_errors;
  timeouts += o.timeouts;
  disconnects += o.disconnects;
  bytes_out += o.bytes_out;
  bytes_in += o.bytes_in;
  latency.merge(o.latency);
}

// One request on the wire, waiting for its reply (replies come back in send order).
struct Outstanding {
  uint64_t sent_ns;
  ReplyKind kind;
  uint32_t keys;
};

// One client socket. Keeps `pipeline` requests outstanding; refills after every read, so a read
// that completes several replies sends their replacements in one write.
class LoadConnection {
 public:
  explicit LoadConnection(LoadThread& thread) : thread_(thread) {
    ring_.resize(static_cast<size_t>(thread.config_.pipeline));
    in_.resize(64 * 1024);
  }
  ~LoadConnection() { closeSocket(); }

  void startConnect(uint64_t now) {
    const LoadConfig& c = thread_.config_;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(c.port));
    if (inet_pton(AF_INET, c.host.c_str(), &addr.sin_addr) != 1) {
      failConnect(now);
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      failConnect(now);
      return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc != 0 && errno != EINPROGRESS) {
      failConnect(now);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = this;
    epoll_ctl(thread_.epoll_fd_, EPOLL_CTL_ADD, fd_, &ev);
    want_out_ = true;
    state_ = kConnecting;
    deadline_ = now + c.connect_timeout_ns;
  }

  void onEvents(uint32_t events) {
    uint64_t now = monotonicNs();
    if (state_ == kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
        failConnect(now);
        return;
      }
      if (!(events & EPOLLOUT)) return;
      if (thread_.tls_ != nullptr) {
        ssl_ = SSL_new(thread_.tls_);
        SSL_set_fd(ssl_, fd_);
        SSL_set_connect_state(ssl_);
        state_ = kHandshaking;
      } else {
        state_ = kConnected;
        last_progress_ns_ = now;
        fill(now);
        flush(now);
        return;
      }
    }
    if (state_ == kHandshaking) {
      int rc = SSL_do_handshake(ssl_);
      if (rc != 1) {
        int e = SSL_get_error(ssl_, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
          failConnect(now);
          return;
        }
        setInterest(e == SSL_ERROR_WANT_WRITE);
        return;
      }
      state_ = kConnected;
      last_progress_ns_ = now;
      fill(now);
      flush(now);
      return;
    }
    if (state_ != kConnected) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      if (!readAll(now)) return;
      now = monotonicNs();
      fill(now);
    }
    flush(now);
  }

  // Periodic checks: connect deadline, stalled replies, reconnect backoff.
  void sweep(uint64_t now) {
    const LoadConfig& c = thread_.config_;
    if (state_ == kIdle && now >= deadline_) {
      startConnect(now);
    } else if ((state_ == kConnecting || state_ == kHandshaking) && now >= deadline_) {
      failConnect(now);
    } else if (state_ == kConnected && count_ > 0 && now - last_progress_ns_ > c.timeout_ns) {
      thread_.stats_.timeouts += count_;
      reset(now);
    }
  }

 private:
  enum State { kIdle, kConnecting, kHandshaking, kConnected };

  // recv/send, or SSL_read/SSL_write with the same conventions (-1 and EAGAIN when it would
  // block; 0 when the peer closed).
  ssize_t recvSome(char* buf, size_t len) {
    if (ssl_ == nullptr) return ::recv(fd_, buf, len, 0);
    int n = SSL_read(ssl_, buf, static_cast<int>(len));
    return n > 0 ? n : sslFailure(n);
  }
  ssize_t sendSome(const char* buf, size_t len) {
    if (ssl_ == nullptr) return ::send(fd_, buf, len, MSG_NOSIGNAL);
    int n = SSL_write(ssl_, buf, static_cast<int>(len));
    return n > 0 ? n : sslFailure(n);
  }
  ssize_t sslFailure(int n) {
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      errno = EAGAIN;
      return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = EPROTO;
    return -1;
  }
  void setInterest(bool want_out) {
    want_out_ = want_out;
    epoll_event ev{};
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
    ev.data.ptr = this;
    epoll_ctl(thread_.epoll_fd_, EPOLL_CTL_MOD, fd_, &ev);
  }

  void failConnect(uint64_t now) {
    thread_.stats_.connect_errors++;
    closeSocket();
    state_ = kIdle;
    deadline_ = now + 100000000ull;  // retry in 100 ms.
  }

  // Drops the socket and everything outstanding, then reconnects soon.
  void reset(uint64_t now) {
    closeSocket();
    state_ = kIdle;
    deadline_ = now + 10000000ull;
  }

  void closeSocket() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    if (fd_ >= 0) {
      epoll_ctl(thread_.epoll_fd_, EPOLL_CTL_DEL, fd_, nullptr);
      ::close(fd_);
    }
    fd_ = -1;
    head_ = count_ = 0;
    in_head_ = in_tail_ = 0;
    out_.clear();
    out_off_ = 0;
    scanner_ = ReplyScanner();
  }

  // Reads until EAGAIN, completing replies as they arrive. False if the connection was reset.
  bool readAll(uint64_t now) {
    while (true) {
      if (in_head_ == in_tail_) in_head_ = in_tail_ = 0;
      if (in_tail_ == in_.size()) {
        if (in_head_ > 0) {
          std::memmove(in_.data(), in_.data() + in_head_, in_tail_ - in_head_);
          in_tail_ -= in_head_;
          in_head_ = 0;
        } else {
          in_.resize(in_.size() * 2);
        }
      }
      ssize_t n = recvSome(in_.data() + in_tail_, in_.size() - in_tail_);
      if (n > 0) {
        in_tail_ += static_cast<size_t>(n);
        thread_.stats_.bytes_in += static_cast<uint64_t>(n);
        now = monotonicNs();
        last_progress_ns_ = now;
        if (!completeReplies(now)) return false;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n < 0 && errno == EINTR) continue;
      if (count_ > 0) thread_.stats_.disconnects++;
      reset(now);
      return false;
    }
  }

  bool completeReplies(uint64_t now) {
    const LoadConfig& c = thread_.config_;
    LoadStats& s = thread_.stats_;
    while (in_head_ < in_tail_) {
      if (count_ == 0) {  // bytes nobody asked for: the stream is broken.
        s.disconnects++;
        reset(now);
        return false;
      }
      Outstanding& o = ring_[head_];
      ScanStatus st = scanner_.scan(in_.data() + in_head_, in_tail_ - in_head_, o.kind);
      if (st == ScanStatus::kNeedMore) return true;
      if (st == ScanStatus::kBroken) {
        s.disconnects++;
        reset(now);
        return false;
      }
      in_head_ += scanner_.consumed();
      if (now >= c.warm_end_ns && now <= c.end_ns) {
        s.ops++;
        s.latency.record(now - o.sent_ns);
        if (o.kind == ReplyKind::kRetrieval) {
          s.gets++;
          s.keys += o.keys;
          s.hits += scanner_.hits();
          if (scanner_.ok() && scanner_.hits() < o.keys) s.misses += o.keys - scanner_.hits();
        } else {
          s.sets++;
        }
        if (!scanner_.ok()) s.reply_errors++;
      }
      head_ = (head_ + 1) % ring_.size();
      count_--;
    }
    return true;
  }

  // Tops the pipeline up to its depth (all new requests share one send timestamp).
  void fill(uint64_t now) {
    const LoadConfig& c = thread_.config_;
    if (now >= c.end_ns) return;
    while (count_ < ring_.size()) {
      Outstanding& o = ring_[(head_ + count_) % ring_.size()];
      o.sent_ns = now;
      double u = static_cast<double>(thread_.rng_() >> 11) * (1.0 / 9007199254740992.0);
      if (u < c.get_ratio) {
        o.kind = ReplyKind::kRetrieval;
        o.keys = static_cast<uint32_t>(c.multiget);
        out_.append("get");
        for (int k = 0; k < c.multiget; ++k) {
          out_.push_back(' ');
          appendKey(c.key_prefix, thread_.rng_() % c.keyspace, &out_);
        }
        out_.append("\r\n");
      } else {
        o.kind = ReplyKind::kStorage;
        o.keys = 1;
        out_.append("set ");
        appendKey(c.key_prefix, thread_.rng_() % c.keyspace, &out_);
        out_.append(" 0 0 ");
        out_.append(std::to_string(c.value_size));
        out_.append("\r\n");
        out_.append(thread_.value_);
        out_.append("\r\n");
      }
      count_++;
    }
  }

  void flush(uint64_t now) {
    while (out_off_ < out_.size()) {
      ssize_t n = sendSome(out_.data() + out_off_, out_.size() - out_off_);
      if (n > 0) {
        out_off_ += static_cast<size_t>(n);
        thread_.stats_.bytes_out += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (count_ > 0) thread_.stats_.disconnects++;
      reset(now);
      return;
    }
    if (out_off_ == out_.size()) {
      out_.clear();
      out_off_ = 0;
    }
    bool want_out = out_off_ < out_.size();
    if (want_out != want_out_) setInterest(want_out);
  }

  LoadThread& thread_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  State state_ = kIdle;
  uint64_t deadline_ = 0;  // connect deadline (kConnecting) or retry time (kIdle).
  uint64_t last_progress_ns_ = 0;
  bool want_out_ = false;
  std::vector<Outstanding> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
  std::vector<char> in_;
  size_t in_head_ = 0;
  size_t in_tail_ = 0;
  std::string out_;
  size_t out_off_ = 0;
  ReplyScanner scanner_;
};

LoadThread::LoadThread(const LoadConfig& config, int connections, uint64_t seed)
    : config_(config), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), rng_(seed),
      value_(config.value_size, 'v') {
  if (!config.tls_ca.empty()) {
    tls_ = SSL_CTX_new(TLS_client_method());
    // SSL_write may take part of a buffer and be called again with the rest (out_ moves).
    SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_load_verify_locations(tls_, config.tls_ca.c_str(), nullptr) != 1) {
      std::fprintf(stderr, "mcbench: cannot load CA %s\n", config.tls_ca.c_str());
    }
    SSL_CTX_set_verify(tls_, SSL_VERIFY_PEER, nullptr);
  }
  for (int i = 0; i < connections; ++i) {
    connections_.push_back(std::make_unique<LoadConnection>(*this));
  }
}

LoadThread::~LoadThread() {
  connections_.clear();
  if (tls_ != nullptr) SSL_CTX_free(tls_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void LoadThread::sweep(uint64_t now) {
  for (auto& c : connections_) c->sweep(now);
}

void LoadThread::run() {
  uint64_t now = monotonicNs();
  for (auto& c : connections_) c->startConnect(now);
  epoll_event events[256];
  uint64_t next_sweep = now;
  while (true) {
    now = monotonicNs();
    if (now >= config_.end_ns) break;
    if (now >= next_sweep) {
      sweep(now);
      next_sweep = now + 10000000ull;
    }
    uint64_t left_ms = (config_.end_ns - now) / 1000000ull + 1;
    int wait_ms = static_cast<int>(left_ms < 10 ? left_ms : 10);
    int n = epoll_wait(epoll_fd_, events, 256, wait_ms);
    for (int i = 0; i < n; ++i) {
      static_cast<LoadConnection*>(events[i].data.ptr)->onEvents(events[i].events);
    }
  }
}

}  // namespace mcmesh::bench
