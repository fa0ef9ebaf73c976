// ConnPool and its pipelined UpstreamConnection (BufferedSocket, FIFO reply matching).
#include "proxy/upstream/conn_pool.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "proxy/buffer_policy.h"
#include "proxy/buffered_socket.h"
#include "proxy/log.h"
#include "proxy/tls/tls_context.h"

namespace mcmesh::upstream {
namespace {

bool isTextRetrieval(Command c) {
  return c == Command::kGet || c == Command::kGets || c == Command::kGat || c == Command::kGats;
}

RequestClass classOf(Command c) {
  return isTextRetrieval(c) || c == Command::kMetaGet ? RequestClass::kRead
                                                       : RequestClass::kWrite;
}

uint64_t keyHash(absl::string_view key) { return absl::Hash<absl::string_view>{}(key); }

}  // namespace

// One request waiting for its reply on a connection, in send order.
class PendingRequest : public Cancellable {
 public:
  PendingRequest(ResponseCallback callback, absl::Time deadline)
      : callback_(std::move(callback)), deadline_(deadline) {}
  void cancel() override { callback_ = nullptr; }

  codec::ReplyContext reply_;  // how the request was sent, so how to read its reply.
  ResponseCallback callback_;
  absl::Time deadline_;
  // Text retrievals: a hash of each key asked for, in order. A VALUE line must name them in
  // that order (a subsequence: misses are absent), or the stream is out of step (a server that
  // sent bytes nobody asked for) and the reply belongs to another request. Inline up to 4 keys,
  // so single gets allocate nothing.
  absl::InlinedVector<uint64_t, 4> key_hashes_;
};

// A single TCP connection to the host. Replies arrive in request order (memcached guarantees it),
// so the head of pending_ owns the next reply. A timeout of the head poisons the stream (later
// bytes could belong to it), so the connection is closed and everything pending fails.
class UpstreamConnection : private BufferedSocket::Callbacks {
 public:
  UpstreamConnection(ConnPool& pool) : pool_(pool) {
    timer_ = pool_.dispatcher_.createTimer([this] { onTimer(); });
    parser_.setMaxValueBytes(pool_.options_.max_value_bytes + PoolOptions::kValueSlackBytes);
  }
  ~UpstreamConnection() override = default;

  bool connect() {
    // The address comes from the resolver (host_resolver.h) or an IP literal: never a lookup
    // here, so a slow or dead DNS server cannot stall this worker.
    const HostAddress& address = pool_.address_;
    if (!address.usable()) {
      error_ = absl::StrCat("cannot connect to ", pool_.host_.address, ": ", address.error);
      failure_ = address.state == HostAddress::State::kPending ? ConnectFailure::kNotResolvedYet
                                                                : ConnectFailure::kUnresolvable;
      return false;
    }
    sockaddr_storage addr = address.addr;
    socklen_t addr_len = address.addr_len;
    connect_deadline_ = pool_.dispatcher_.now() + pool_.options_.connect_timeout;
    auto socket = BufferedSocket::connect(pool_.dispatcher_, reinterpret_cast<sockaddr*>(&addr),
                                          addr_len, *this);
    if (!socket.ok()) {
      error_ = absl::StrCat("connect to ", pool_.host_.address, " failed: ",
                            socket.status().message());
      failure_ = absl::IsResourceExhausted(socket.status()) ? ConnectFailure::kLocal
                                                             : ConnectFailure::kServer;
      return false;
    }
    if (pool_.host_.tls != nullptr) {
      // The connect timeout covers the handshake: onConnected() comes after it.
      const tls::TlsContext& context = *pool_.host_.tls;
      auto st = (*socket)->startTls(pool_.host_.tls, pool_.host_.address,
                                    context.verifyNameFor(pool_.host_.host));
      if (!st.ok()) {
        error_ = absl::StrCat("TLS to ", pool_.host_.address, ": ", st.message());
        failure_ = ConnectFailure::kLocal;  // SSL_new failed: out of memory here.
        return false;
      }
    }
    socket_ = std::move(*socket);
    connecting_ = true;
    pool_.stats_.connects.inc();
    pool_.stats_.active_connections.inc();
    counted_ = true;
    return true;
  }

  size_t pendingCount() const { return pending_.size(); }
  bool usable() const { return socket_ != nullptr && !closed_ && !retiring_; }

  /**
   * The host's address changed: this connection (to the old one) takes no new request and
   * closes once the requests already sent are answered, so none of them fails.
   */
  void retire() {
    retiring_ = true;
    if (pending_.empty()) closeRetired();
  }

  Cancellable* send(const Request& request, ResponseCallback callback) {
    absl::Time deadline = pool_.dispatcher_.now() + pool_.options_.request_timeout;
    if (connecting_) deadline = std::max(deadline, connect_deadline_);
    pending_.emplace_back(std::move(callback), deadline);
    PendingRequest& pending = pending_.back();
    scratch_.clear();
    codec::encodeRequestHead(request, &scratch_, &pending.reply_);
    if (!pending.reply_.meta && isTextRetrieval(request.command)) {
      for (const std::string& key : request.keys) pending.key_hashes_.push_back(keyHash(key));
    }
    evbuffer* output = socket_->output();
    const bool storage = isStorage(request.command);
    // memcached -Z (1.6.18) reads a value with an SSL_read of exactly its length, then waits
    // for the socket: bytes after the value in the same TLS record are never read. So a request
    // with a value starts and ends a record (no-ops without TLS); gets share records.
    if (storage) socket_->endTlsRecord();
    if (storage) {
      if (request.value.size() > kInlineValueBytes) {
        // A big value goes straight into the socket buffer: copied once, not twice via scratch_.
        evbuffer_add(output, scratch_.data(), scratch_.size());
        evbuffer_add(output, request.value.data(), request.value.size());
        scratch_.clear();
      } else {
        scratch_.append(request.value);
      }
      scratch_.append("\r\n", 2);
    }
    evbuffer_add(output, scratch_.data(), scratch_.size());
    if (storage) socket_->endTlsRecord();
    shrinkIfLarge(scratch_, kMaxKeptRequestBufferBytes);  // after a get with thousands of keys.
    socket_->scheduleWrite();  // requests queued in this batch of events share one writev.
    // One timer per connection, not one per request: if it is already set for an earlier
    // deadline, onTimer() moves it forward then. A later one (a request sent while connecting
    // waits for the connect deadline) must be pulled in now.
    if (pending_.size() == 1 && (!timer_->enabled() || deadline < armed_deadline_)) armTimer();
    return &pending;
  }

  /**
   * Fails everything pending and closes; the pool forgets this connection afterwards.
   * @param server_fault whether it counts against the server's health (class of the head
   *        request); false for this process's own limits.
   */
  void fail(const std::string& reason, bool server_fault = true) {
    if (closed_) return;
    // The old address of a renamed host failing says nothing about its new one.
    server_fault = server_fault && !retiring_;
    RequestClass c = pending_.empty() ? RequestClass::kWrite
                                      : classOf(pending_.front().reply_.command);
    closed_ = true;
    timer_->disable();
    // The socket goes with this object, on a later loop turn: we may be inside its callback.
    if (socket_ != nullptr) socket_->shutdownEvents();
    if (counted_) pool_.stats_.active_connections.dec();
    counted_ = false;
    (server_fault ? pool_.stats_.errors : pool_.stats_.local_errors).inc();
    // Detach first: callbacks may send new requests through the pool.
    std::deque<PendingRequest> failed;
    failed.swap(pending_);
    ConnPool& pool = pool_;
    pool.onConnectionClosed(this);  // `this` is now owned by the deferred-delete list.
    if (server_fault) pool.events_.onUpstreamFailure(c);
    for (PendingRequest& p : failed) {
      // As in readReplies: the callback is taken out before it runs, so a handle is dead from
      // the moment its callback is invoked, on both paths.
      ResponseCallback callback = std::move(p.callback_);
      p.callback_ = nullptr;
      if (callback) callback(Response::upstreamFailure(reason));
    }
  }

 private:
  // BufferedSocket::Callbacks
  void onReadable() override {
    last_read_at_ = pool_.dispatcher_.now();
    readReplies();
  }
  void onConnected() override { connecting_ = false; }
  void onClosed(int error) override {
    if (!socket_->tlsError().empty()) {
      // A wrong CA, name or client certificate is the operator's to fix: say which server and
      // what OpenSSL said, in the reply and in the log.
      std::string reason = absl::StrCat("TLS to ", pool_.host_.address, " failed: ",
                                        socket_->tlsError());
      pool_.stats_.tls_errors.inc();
      pool_.logTlsError(reason);
      fail(reason);
      return;
    }
    fail(error == 0 ? absl::StrCat("connection to ", pool_.host_.address, " closed")
                    : absl::StrCat(connecting_ ? "connect to " : "connection to ",
                                   pool_.host_.address, " failed: ", std::strerror(error)));
  }

  // A retired connection whose last reply has come: closed without failing anything.
  void closeRetired() {
    if (closed_) return;
    closed_ = true;
    timer_->disable();
    if (socket_ != nullptr) socket_->shutdownEvents();
    if (counted_) pool_.stats_.active_connections.dec();
    counted_ = false;
    pool_.onConnectionClosed(this);  // `this` is now owned by the deferred-delete list.
  }

  void readReplies() {
    evbuffer* input = socket_->input();
    int extra_reads = 0;
    while (!closed_) {
      if (retiring_ && pending_.empty()) {
        closeRetired();
        return;
      }
      size_t len = evbuffer_get_length(input);
      if (len == 0) return;
      if (pending_.empty()) {
        fail(absl::StrCat("unexpected bytes from ", pool_.host_.address));
        return;
      }
      const char* data = reinterpret_cast<const char*>(evbuffer_pullup(input, -1));
      Response response;
      size_t consumed = 0;
      auto status = parser_.parse(absl::string_view(data, len), pending_.front().reply_,
                                  &response, &consumed);
      if (status == codec::ParseStatus::kNeedMore) {
        head_reply_started_ = true;
        // A reply larger than one read: take the rest now rather than a loop turn later.
        if (extra_reads < kMaxExtraReads && socket_->readMore()) {
          ++extra_reads;
          continue;
        }
        return;
      }
      if (status == codec::ParseStatus::kError) {
        if (parser_.tooLarge()) {
          // Our limit, not the server's fault: reset (the data is never read) without ejecting.
          fail(absl::StrCat("object too large for this proxy (a value from ",
                            pool_.host_.address, " exceeds --max_value_bytes)"),
               /*server_fault=*/false);
          return;
        }
        fail(absl::StrCat("unparseable reply from ", pool_.host_.address));
        return;
      }
      if (!keysMatch(pending_.front(), response)) {
        pool_.stats_.desyncs.inc();
        logLine(LogLevel::kWarn,
                absl::StrCat("upstream ", pool_.host_.address,
                             " answered a get with a key it did not ask for (out of step: "
                             "unsolicited bytes?); resetting the connection"));
        ConnPool& pool = pool_;
        fail(absl::StrCat("reply from ", pool_.host_.address, " out of step with requests"));
        // A server caught answering with another key's data is not trusted for a backoff,
        // however many replies it gets right in between (fail() counted one failure).
        pool.events_.onUpstreamDesync();
        return;
      }
      evbuffer_drain(input, consumed);
      RequestClass c = classOf(pending_.front().reply_.command);
      ResponseCallback callback = std::move(pending_.front().callback_);
      pending_.pop_front();  // the timer stays: onTimer() re-aims it at the new head.
      head_reply_started_ = false;
      pool_.events_.onUpstreamSuccess(c);
      if (callback) callback(std::move(response));
    }
  }

  // Whether every VALUE of a text retrieval names a key asked for, in request order.
  static bool keysMatch(const PendingRequest& pending, const Response& response) {
    if (pending.key_hashes_.empty()) return true;
    size_t next = 0;
    for (const Item& item : response.items) {
      uint64_t h = keyHash(item.key);
      while (next < pending.key_hashes_.size() && pending.key_hashes_[next] != h) ++next;
      if (next == pending.key_hashes_.size()) return false;
      ++next;
    }
    return true;
  }

  // The head's deadline, moved later while its server is still sending: a big multi-get, or a
  // request queued behind one, is not a server failure as long as bytes keep arriving. A head
  // whose own reply is arriving is late only when the bytes stop for a timeout (its size is
  // bounded by the keys asked and --max_value_bytes); one still waiting behind other replies
  // gets at most kMaxTimeoutStretch timeouts past its deadline. Capping the head's own reply
  // instead failed a 105 MiB multi-get whenever the server was briefly slower than the proxy
  // after the cap (a busy machine), although every byte was arriving.
  absl::Time effectiveDeadline() const {
    const PendingRequest& head = pending_.front();
    absl::Duration timeout = pool_.options_.request_timeout;
    absl::Time progress = last_read_at_ + timeout;
    absl::Time deadline = std::max(head.deadline_, progress);
    if (head_reply_started_) return deadline;
    return std::min(deadline, head.deadline_ + PoolOptions::kMaxTimeoutStretch * timeout);
  }

  void armTimer() {
    armed_deadline_ = effectiveDeadline();
    timer_->enable(armed_deadline_ - pool_.dispatcher_.now());
  }

  void onTimer() {
    if (pending_.empty()) return;
    if (pool_.dispatcher_.now() < effectiveDeadline()) {
      armTimer();
      return;
    }
    if (!connecting_ && socket_->readMore()) {
      // The reply was waiting in the kernel: this loop was busy (e.g. copying a big reply to
      // a client), the server was not late.
      last_read_at_ = pool_.dispatcher_.now();
      readReplies();
      if (!closed_ && !pending_.empty()) armTimer();
      return;
    }
    absl::Time now = pool_.dispatcher_.now();
    if (!connecting_ && now - last_read_at_ < pool_.options_.request_timeout) {
      // Still receiving, past the stretch: the head waits behind a huge volume of replies (big
      // multi-gets, pipelined big values of some client). The server is answering; the volume
      // is the clients' doing, so this fails the requests without counting against the server.
      fail(absl::StrCat("request to ", pool_.host_.address,
                        " waited too long behind other large replies"),
           /*server_fault=*/false);
      return;
    }
    pool_.stats_.timeouts.inc();
    fail(absl::StrCat(connecting_ ? "connect to " : "request to ", pool_.host_.address,
                      " timed out"));
  }

 public:
  std::string error_;
  ConnectFailure failure_ = ConnectFailure::kServer;  // why connect() failed.

 private:
  ConnPool& pool_;
  BufferedSocketPtr socket_;
  bool connecting_ = false;
  bool closed_ = false;
  bool counted_ = false;
  bool retiring_ = false;  // connected to an address the host no longer has (see retire()).
  absl::Time connect_deadline_;
  TimerPtr timer_;
  absl::Time armed_deadline_;  // what timer_ was last set for.
  absl::Time last_read_at_ = absl::InfinitePast();  // when the server last sent bytes.
  bool head_reply_started_ = false;  // part of the head's reply is buffered (see effectiveDeadline).
  // By value: a deque keeps elements in place as others come and go, so the Cancellable handed
  // out stays valid, and it allocates one block per few requests instead of one per request.
  std::deque<PendingRequest> pending_;
  // Values up to this size travel in scratch_ with their command line (one evbuffer_add); larger
  // ones are added to the socket buffer directly.
  static constexpr size_t kInlineValueBytes = 512;
  static constexpr int kMaxExtraReads = 16;  // 256 KiB per read event, then yield to others.
  codec::TextResponseParser parser_;
  std::string scratch_;
};

namespace {
// Keeps a closed connection alive until the current callback stack has unwound.
struct DeferredConnection : public DeferredDeletable {
  explicit DeferredConnection(std::unique_ptr<UpstreamConnection> c) : connection(std::move(c)) {}
  std::unique_ptr<UpstreamConnection> connection;
};
}  // namespace

ConnPool::ConnPool(Dispatcher& dispatcher, HostConfig host, PoolOptions options,
                   HostStats& stats, PoolEvents& events)
    : dispatcher_(dispatcher), host_(std::move(host)), options_(options), stats_(stats),
      events_(events) {
  auto literal = HostAddress::fromLiteral(host_.host, host_.port);
  address_ = literal.ok() ? *std::move(literal)
                          : HostAddress::pending(absl::StrCat("waiting for the first DNS answer for ",
                                                              host_.host));
}

ConnPool::~ConnPool() { drainAndClose(); }

void ConnPool::setAddress(const HostAddress& address) {
  if (address_.state == HostAddress::State::kLiteral) return;  // nothing to resolve.
  bool moved = !address_.sameAddress(address);
  address_ = address;
  if (!moved || address.state == HostAddress::State::kPending) return;
  // New connections go to the new address; the old ones finish what they carry and close.
  // A name that stopped resolving drains them too: the host is unavailable, not half there.
  for (auto& slot : connections_) {
    if (slot == nullptr) continue;
    UpstreamConnection* connection = slot.get();
    retiring_.push_back(std::move(slot));
    connection->retire();  // may close it at once (nothing pending).
  }
}

void ConnPool::drainAndClose() {
  closing_ = true;
  for (auto& slot : connections_) {
    if (slot != nullptr) slot->fail(absl::StrCat("server ", host_.address, " removed"), false);
  }
  while (!retiring_.empty()) {
    retiring_.back()->fail(absl::StrCat("server ", host_.address, " removed"), false);
  }
}

void ConnPool::logTlsError(const std::string& reason) {
  absl::Time now = dispatcher_.now();
  if (reason == last_tls_logged_ && now - last_tls_logged_at_ < absl::Minutes(1)) return;
  last_tls_logged_ = reason;
  last_tls_logged_at_ = now;
  logLine(LogLevel::kWarn, reason);
}

void ConnPool::onConnectionClosed(UpstreamConnection* connection) {
  for (auto& slot : connections_) {
    if (slot.get() == connection) {
      dispatcher_.deferredDelete(std::make_unique<DeferredConnection>(std::move(slot)));
      slot = nullptr;
      return;
    }
  }
  for (auto it = retiring_.begin(); it != retiring_.end(); ++it) {
    if (it->get() == connection) {
      dispatcher_.deferredDelete(std::make_unique<DeferredConnection>(std::move(*it)));
      retiring_.erase(it);
      return;
    }
  }
}

UpstreamConnection* ConnPool::pickConnection(uint64_t affinity) {
  if (connections_.empty()) connections_.resize(std::max<size_t>(1, options_.max_connections));
  std::unique_ptr<UpstreamConnection>& slot = connections_[affinity % connections_.size()];
  if (slot != nullptr && slot->usable()) return slot.get();
  auto connection = std::make_unique<UpstreamConnection>(*this);
  if (!connection->connect()) {
    last_connect_failure_ = connection->failure_;
    last_connect_error_ = std::move(connection->error_);
    return nullptr;
  }
  slot = std::move(connection);
  return slot.get();
}

Cancellable* ConnPool::send(const Request& request, ResponseCallback callback,
                           uint64_t affinity) {
  stats_.requests.inc();
  if (closing_) {
    stats_.local_errors.inc();
    callback(Response::upstreamFailure(absl::StrCat("server ", host_.address, " removed")));
    return nullptr;
  }
  UpstreamConnection* connection = pickConnection(affinity);
  if (connection == nullptr || connection->pendingCount() >= options_.max_pending_per_connection) {
    if (connection == nullptr && last_connect_failure_ == ConnectFailure::kLocal) {
      // No descriptor left in this process: the server is not at fault.
      stats_.local_errors.inc();
      callback(Response::upstreamFailure(
          absl::StrCat("cannot connect to ", host_.address, ": out of file descriptors")));
      return nullptr;
    }
    if (connection == nullptr && last_connect_failure_ != ConnectFailure::kServer) {
      // No address: fail at once (never wait for DNS). A name still waiting for its first
      // answer is not held against the host; one that does not resolve is, like a refused
      // connect, so it is ejected and its keys fail over.
      stats_.unresolved.inc();
      if (last_connect_failure_ == ConnectFailure::kUnresolvable) {
        stats_.errors.inc();
        events_.onUpstreamFailure(classOf(request.command));
      }
      callback(Response::upstreamFailure(last_connect_error_));
      return nullptr;
    }
    stats_.errors.inc();
    events_.onUpstreamFailure(classOf(request.command));
    callback(Response::upstreamFailure(
        connection == nullptr ? absl::StrCat("cannot connect to ", host_.address)
                              : absl::StrCat("too many requests queued for ", host_.address)));
    return nullptr;
  }
  return connection->send(request, std::move(callback));
}

}  // namespace mcmesh::upstream
