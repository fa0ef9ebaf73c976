// ConnPool and its pipelined UpstreamConnection (libevent bufferevents, FIFO reply matching).
#include "proxy/upstream/conn_pool.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace mcmesh::upstream {

// One request waiting for its reply on a connection, in send order.
class PendingRequest : public Cancellable {
 public:
  PendingRequest(ResponseCallback callback, absl::Time deadline)
      : callback_(std::move(callback)), deadline_(deadline) {}
  void cancel() override { callback_ = nullptr; }

  decode::ReplyContext reply_;  // how the request was sent, so how to read its reply.
  ResponseCallback callback_;
  absl::Time deadline_;
};

// A single TCP connection to the host. Replies arrive in request order (memcached guarantees it),
// so the head of pending_ owns the next reply. A timeout of the head poisons the stream (later
// bytes could belong to it), so the connection is closed and everything pending fails.
class UpstreamConnection {
 public:
  UpstreamConnection(ConnPool& pool) : pool_(pool) {
    timer_ = pool_.dispatcher_.createTimer([this] { onTimer(); });
  }
  ~UpstreamConnection() {
    if (bev_ != nullptr) bufferevent_free(bev_);
  }

  bool connect() {
    sockaddr_storage addr;
    int addr_len = sizeof(addr);
    std::string target = pool_.host_.address;
    if (evutil_parse_sockaddr_port(target.c_str(), reinterpret_cast<sockaddr*>(&addr),
                                   &addr_len) != 0) {
      // Not a numeric address: resolve the name (hosts are few and long-lived).
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      std::string port = std::to_string(pool_.host_.port);
      if (getaddrinfo(pool_.host_.host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
        error_ = "cannot resolve " + pool_.host_.host;
        return false;
      }
      std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
      addr_len = res->ai_addrlen;
      freeaddrinfo(res);
    }
    bev_ = bufferevent_socket_new(pool_.dispatcher_.base(), -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev_, &UpstreamConnection::onRead, nullptr, &UpstreamConnection::onEvent,
                      this);
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
    connect_deadline_ = pool_.dispatcher_.now() + pool_.options_.connect_timeout;
    if (bufferevent_socket_connect(bev_, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
      error_ = absl::StrCat("connect to ", pool_.host_.address, " failed");
      return false;
    }
    // Pipelined requests must not wait for the server's delayed ACK (Nagle): ~40 ms stalls.
    int one = 1;
    setsockopt(bufferevent_getfd(bev_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    connecting_ = true;
    pool_.stats_.connects.inc();
    pool_.stats_.active_connections.inc();
    counted_ = true;
    return true;
  }

  size_t pendingCount() const { return pending_.size(); }
  bool usable() const { return bev_ != nullptr && !closed_; }

  Cancellable* send(const Request& request, ResponseCallback callback) {
    absl::Time deadline = pool_.dispatcher_.now() + pool_.options_.request_timeout;
    if (connecting_) deadline = std::max(deadline, connect_deadline_);
    auto pending = std::make_unique<PendingRequest>(std::move(callback), deadline);
    scratch_.clear();
    decode::encodeRequest(request, &scratch_, &pending->reply_);
    evbuffer_add(bufferevent_get_output(bev_), scratch_.data(), scratch_.size());
    pending_.push_back(std::move(pending));
    if (pending_.size() == 1) armTimer();
    return pending_.back().get();
  }

  /** Fails everything pending and closes; the pool forgets this connection afterwards. */
  void fail(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    timer_->disable();
    if (bev_ != nullptr) {
      bufferevent_free(bev_);
      bev_ = nullptr;
    }
    if (counted_) pool_.stats_.active_connections.dec();
    counted_ = false;
    pool_.stats_.errors.inc();
    // Detach first: callbacks may send new requests through the pool.
    std::deque<std::unique_ptr<PendingRequest>> failed;
    failed.swap(pending_);
    ConnPool& pool = pool_;
    pool.onConnectionClosed(this);  // `this` is now owned by the deferred-delete list.
    pool.events_.onUpstreamFailure();
    for (auto& p : failed) {
      if (p->callback_) p->callback_(Response::upstreamFailure(reason));
    }
  }

 private:
  static void onRead(bufferevent*, void* arg) { static_cast<UpstreamConnection*>(arg)->readReplies(); }

  static void onEvent(bufferevent*, short what, void* arg) {
    auto* self = static_cast<UpstreamConnection*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
      self->connecting_ = false;
      return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
      int err = EVUTIL_SOCKET_ERROR();
      std::string reason =
          (what & BEV_EVENT_EOF)
              ? absl::StrCat("connection to ", self->pool_.host_.address, " closed")
              : absl::StrCat(self->connecting_ ? "connect to " : "connection to ",
                             self->pool_.host_.address, " failed: ",
                             evutil_socket_error_to_string(err));
      self->fail(reason);
    }
  }

  void readReplies() {
    evbuffer* input = bufferevent_get_input(bev_);
    int extra_reads = 0;
    while (!closed_) {
      size_t len = evbuffer_get_length(input);
      if (len == 0) return;
      if (pending_.empty()) {
        fail(absl::StrCat("unexpected bytes from ", pool_.host_.address));
        return;
      }
      const char* data = reinterpret_cast<const char*>(evbuffer_pullup(input, -1));
      Response response;
      size_t consumed = 0;
      auto status = parser_.parse(absl::string_view(data, len), pending_.front()->reply_,
                                  &response, &consumed);
      if (status == decode::ParseStatus::kNeedMore) {
        // libevent 2.1 reads at most 4 KiB per read event, so a 4 KiB value would wait a whole
        // loop turn (epoll_wait, FIONREAD, readv) for its last bytes: read what is there now.
        if (extra_reads < kMaxExtraReads && readMoreNow(input)) {
          ++extra_reads;
          continue;
        }
        return;
      }
      if (status == decode::ParseStatus::kError) {
        fail(absl::StrCat("unparseable reply from ", pool_.host_.address));
        return;
      }
      evbuffer_drain(input, consumed);
      std::unique_ptr<PendingRequest> done = std::move(pending_.front());
      pending_.pop_front();
      if (pending_.empty()) {
        timer_->disable();
      } else {
        armTimer();
      }
      pool_.events_.onUpstreamSuccess();
      if (done->callback_) done->callback_(std::move(response));
    }
  }

  // Appends what the socket holds now to the bufferevent's input, which bufferevent_socket keeps
  // frozen at its end between its own reads. EOF and errors are left to the next read event.
  bool readMoreNow(evbuffer* input) {
    evbuffer_unfreeze(input, 0);
    int n = evbuffer_read(input, bufferevent_getfd(bev_), -1);
    evbuffer_freeze(input, 0);
    return n > 0;
  }

  void armTimer() {
    timer_->enable(pending_.front()->deadline_ - pool_.dispatcher_.now());
  }

  void onTimer() {
    if (pending_.empty()) return;
    if (pool_.dispatcher_.now() < pending_.front()->deadline_) {
      armTimer();
      return;
    }
    pool_.stats_.timeouts.inc();
    fail(absl::StrCat(connecting_ ? "connect to " : "request to ", pool_.host_.address,
                      " timed out"));
  }

 public:
  std::string error_;

 private:
  ConnPool& pool_;
  bufferevent* bev_ = nullptr;
  bool connecting_ = false;
  bool closed_ = false;
  bool counted_ = false;
  absl::Time connect_deadline_;
  TimerPtr timer_;
  std::deque<std::unique_ptr<PendingRequest>> pending_;
  static constexpr int kMaxExtraReads = 64;  // 256 KiB per read event, then yield to others.
  decode::TextResponseParser parser_;
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
      events_(events) {}

ConnPool::~ConnPool() { drainAndClose(); }

void ConnPool::drainAndClose() {
  for (auto& slot : connections_) {
    if (slot != nullptr) slot->fail(absl::StrCat("server ", host_.address, " removed"));
  }
}

void ConnPool::onConnectionClosed(UpstreamConnection* connection) {
  for (auto& slot : connections_) {
    if (slot.get() == connection) {
      dispatcher_.deferredDelete(std::make_unique<DeferredConnection>(std::move(slot)));
      slot = nullptr;
      return;
    }
  }
}

UpstreamConnection* ConnPool::pickConnection(uint64_t affinity) {
  if (connections_.empty()) connections_.resize(std::max<size_t>(1, options_.max_connections));
  std::unique_ptr<UpstreamConnection>& slot = connections_[affinity % connections_.size()];
  if (slot != nullptr && slot->usable()) return slot.get();
  auto connection = std::make_unique<UpstreamConnection>(*this);
  if (!connection->connect()) return nullptr;
  slot = std::move(connection);
  return slot.get();
}

Cancellable* ConnPool::send(const Request& request, ResponseCallback callback,
                           uint64_t affinity) {
  stats_.requests.inc();
  UpstreamConnection* connection = pickConnection(affinity);
  if (connection == nullptr || connection->pendingCount() >= options_.max_pending_per_connection) {
    stats_.errors.inc();
    events_.onUpstreamFailure();
    callback(Response::upstreamFailure(
        connection == nullptr ? absl::StrCat("cannot connect to ", host_.address)
                              : absl::StrCat("too many requests queued for ", host_.address)));
    return nullptr;
  }
  return connection->send(request, std::move(callback));
}

}  // namespace mcmesh::upstream
