// ClientConnection: parse loop, reply ordering, backpressure and teardown.
#include "proxy/client_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "absl/strings/match.h"
#include "proxy/worker.h"

namespace mcmesh {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

ClientConnection::ClientConnection(Worker& worker, int fd, std::string peer)
    : worker_(worker), peer_(std::move(peer)), id_(worker.nextConnectionId()),
      last_reply_at_(worker.dispatcher().now()) {
  // Replies are small and often pipelined: Nagle would hold one back until the client's delayed
  // ACK (~40 ms). memcached and twemproxy set TCP_NODELAY too (fails harmlessly on unix sockets).
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  bev_ = bufferevent_socket_new(worker_.dispatcher().base(), fd, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_setcb(bev_, &ClientConnection::onReadCb, &ClientConnection::onWriteCb,
                    &ClientConnection::onEventCb, this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  // libevent stops reading at the cap; processInput() then closes if no request can complete.
  bufferevent_setwatermark(bev_, EV_READ, 0, worker_.limits().max_read_buffer);
  last_activity_ = worker_.dispatcher().now();
  if (worker_.limits().idle_timeout > absl::ZeroDuration()) {
    idle_timer_ = worker_.dispatcher().createTimer([this] { onIdleTimer(); });
    idle_timer_->enable(worker_.limits().idle_timeout);
  }
}

void ClientConnection::onIdleTimer() {
  absl::Duration idle = dispatcher().now() - last_activity_;
  if (queue_.empty() && idle >= worker_.limits().idle_timeout) {
    worker_.cluster().counters().idle_closed.inc();
    close();
    return;
  }
  idle_timer_->enable(std::max(worker_.limits().idle_timeout - idle, absl::Milliseconds(10)));
}

ClientConnection::~ClientConnection() {
  queue_.clear();  // ~ActiveRequest cancels upstream work.
  if (bev_ != nullptr) bufferevent_free(bev_);
}

upstream::ClusterView& ClientConnection::cluster() { return worker_.cluster(); }
Dispatcher& ClientConnection::dispatcher() { return worker_.dispatcher(); }

void ClientConnection::onReadCb(bufferevent*, void* arg) {
  static_cast<ClientConnection*>(arg)->processInput();
}

void ClientConnection::onWriteCb(bufferevent*, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  if (self->close_after_flush_ && self->queue_.empty()) {
    self->close();
    return;
  }
  self->updateReading();
  self->processInput();  // bytes may be waiting while reading was paused.
}

void ClientConnection::onEventCb(bufferevent*, short what, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) self->close();
}

namespace {
constexpr int kMaxExtraReads = 64;  // 256 KiB per read event, then let other connections run.

// Appends what the socket holds now to the bufferevent's input, which bufferevent_socket keeps
// frozen at its end between its own reads. EOF and errors are left to the next read event.
bool readMoreNow(bufferevent* bev, evbuffer* input) {
  evbuffer_unfreeze(input, 0);
  int n = evbuffer_read(input, bufferevent_getfd(bev), -1);
  evbuffer_freeze(input, 0);
  return n > 0;
}
}  // namespace

void ClientConnection::processInput() {
  if (closed_ || processing_ || close_after_flush_) return;
  processing_ = true;
  evbuffer* input = bufferevent_get_input(bev_);
  const ConnectionLimits& limits = worker_.limits();
  if (evbuffer_get_length(input) > 0) last_activity_ = dispatcher().now();
  int extra_reads = 0;
  while (!closed_ && !close_after_flush_ && queue_.size() < limits.max_inflight &&
         evbuffer_get_length(bufferevent_get_output(bev_)) < limits.max_output_bytes) {
    size_t len = evbuffer_get_length(input);
    if (len == 0) break;
    const char* data = reinterpret_cast<const char*>(evbuffer_pullup(input, -1));
    if (codec_ == nullptr) {
      codec_ = decode::makeClientCodec(static_cast<uint8_t>(data[0]), limits.parse);
    }
    Request request;
    size_t consumed = 0;
    decode::ParseStatus status = codec_->parse(absl::string_view(data, len), &request, &consumed);
    if (consumed > 0) evbuffer_drain(input, consumed);
    if (status == decode::ParseStatus::kNeedMore) {
      if (evbuffer_get_length(input) >= limits.max_read_buffer) {
        worker_.cluster().counters().read_buffer_overflows.inc();
        queue_.push_back(std::make_unique<ActiveRequest>(
            *this, std::string("SERVER_ERROR request too large for this proxy\r\n")));
        close_after_flush_ = true;
        flush();
      } else if (extra_reads < kMaxExtraReads && readMoreNow(bev_, input)) {
        // libevent 2.1 reads at most 4 KiB per read event: a 4 KiB value would wait a whole loop
        // turn (epoll_wait, FIONREAD, readv) for its last bytes. Read what is there now.
        ++extra_reads;
        continue;
      }
      break;
    }
    if (status == decode::ParseStatus::kError) {
      worker_.cluster().counters().protocol_errors.inc();
      if (absl::StartsWith(codec_->errorReply(), "SERVER_ERROR object too large")) {
        worker_.cluster().counters().values_too_large.inc();
      }
      queue_.push_back(std::make_unique<ActiveRequest>(*this, std::string(codec_->errorReply())));
      if (codec_->shouldClose()) close_after_flush_ = true;
      flush();
      continue;
    }
    if (request.command == Command::kQuit || request.command == Command::kNoop) {
      // Answered here, in order: noop/mn marks the end of a pipeline; binary quit says OK first.
      std::string reply;
      codec_->encode(request, Response::ofType(ResponseType::kOk), &reply);
      queue_.push_back(std::make_unique<ActiveRequest>(*this, std::move(reply)));
      if (request.command == Command::kQuit) close_after_flush_ = true;
      flush();
      continue;
    }
    const FilterChainConstSharedPtr& chain = worker_.chain();
    if (chain == nullptr || !worker_.cluster().hasSnapshot()) {
      std::string reply;
      Response r = Response::serverError("no topology applied yet");
      codec_->encode(request, r, &reply);
      queue_.push_back(std::make_unique<ActiveRequest>(*this, std::move(reply)));
      flush();
      continue;
    }
    queue_.push_back(
        std::make_unique<ActiveRequest>(*this, std::move(request), *chain, Clock::now()));
    queue_.back()->start();
  }
  processing_ = false;
  bool inflight_full = queue_.size() >= limits.max_inflight && evbuffer_get_length(input) > 0;
  if (inflight_full && !paused_by_inflight_) worker_.cluster().counters().inflight_limit_pauses.inc();
  paused_by_inflight_ = inflight_full;
  updateReading();
}

void ClientConnection::onRequestComplete(ActiveRequest& request) {
  // A vDSO clock read, no lock: Dispatcher::now() is too coarse (ms ticks) for 100 us buckets.
  int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(
                       Clock::now() - request.startTime())
                       .count();
  worker_.cluster().counters().request_latency.observe(micros > 0 ? micros : 0);
  last_reply_at_ = dispatcher().now();
  if (!closed_ && !queue_.empty() && queue_.front().get() == &request) {
    // The common case: the head of the queue completed. Encode into the connection's reusable
    // buffer and hand the bytes to the socket now, instead of a fresh string per request.
    reply_scratch_.clear();
    codec_->encode(request.request(), request.response(), &reply_scratch_);
    if (!reply_scratch_.empty()) {
      evbuffer_add(bufferevent_get_output(bev_), reply_scratch_.data(), reply_scratch_.size());
    }
    request.encoded().clear();  // written: flush() must not write it again.
    flush();
    return;
  }
  request.encoded().clear();
  codec_->encode(request.request(), request.response(), &request.encoded());
}

void ClientConnection::flush() {
  if (closed_) return;
  evbuffer* output = bufferevent_get_output(bev_);
  while (!queue_.empty() && queue_.front()->complete()) {
    std::string& bytes = queue_.front()->encoded();
    if (!bytes.empty()) evbuffer_add(output, bytes.data(), bytes.size());
    // The request may still be on the call stack (answered inline): delete it later.
    dispatcher().deferredDelete(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (close_after_flush_ && queue_.empty() && evbuffer_get_length(output) == 0) {
    close();
    return;
  }
  if (!processing_) {
    updateReading();
    // Room freed in the in-flight window: parse what is already buffered.
    if (evbuffer_get_length(bufferevent_get_input(bev_)) > 0) processInput();
  }
}

void ClientConnection::updateReading() {
  if (closed_) return;
  const ConnectionLimits& limits = worker_.limits();
  bool want = !close_after_flush_ && queue_.size() < limits.max_inflight &&
              evbuffer_get_length(bufferevent_get_output(bev_)) < limits.max_output_bytes;
  if (want != reading_) {
    reading_ = want;
    if (want) {
      bufferevent_enable(bev_, EV_READ);
    } else {
      bufferevent_disable(bev_, EV_READ);
    }
  }
}

bool ClientConnection::idleSince(absl::Time cutoff) const {
  return !closed_ && queue_.empty() && last_reply_at_ <= cutoff &&
         evbuffer_get_length(bufferevent_get_input(bev_)) == 0 &&
         evbuffer_get_length(bufferevent_get_output(bev_)) == 0;
}

void ClientConnection::close() {
  if (closed_) return;
  closed_ = true;
  bufferevent_disable(bev_, EV_READ | EV_WRITE);
  // Cancel in-flight work now; free the memory on a later turn (we may be inside a callback).
  for (auto& request : queue_) dispatcher().deferredDelete(std::move(request));
  queue_.clear();
  worker_.onConnectionClosed(*this);
}

}  // namespace mcmesh
