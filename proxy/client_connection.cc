// ClientConnection: parse loop, reply ordering, backpressure and teardown.
#include "proxy/client_connection.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "absl/strings/match.h"
#include "proxy/buffer_policy.h"
#include "proxy/log.h"
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
  BufferedSocket::Callbacks& callbacks = *this;  // private base: convert here, not in make_unique.
  socket_ = std::make_unique<BufferedSocket>(worker_.dispatcher(), fd, callbacks);
  // Reading stops at the cap; processInput() then closes if no request can complete.
  socket_->setReadLimit(worker_.limits().max_read_buffer);
  last_activity_ = worker_.dispatcher().now();
  if (worker_.limits().idle_timeout > absl::ZeroDuration()) {
    idle_timer_ = worker_.dispatcher().createTimer([this] { onIdleTimer(); });
    idle_timer_->enable(worker_.limits().idle_timeout);
  }
}

void ClientConnection::onIdleTimer() {
  // Activity is a request received whole or a reply sent: bytes of an unfinished request are
  // not (a client trickling a byte a second must not stay open forever).
  absl::Duration idle = dispatcher().now() - std::max(last_activity_, last_reply_at_);
  if (queue_.empty() && idle >= worker_.limits().idle_timeout) {
    worker_.counters().idle_closed.inc();
    close();
    return;
  }
  idle_timer_->enable(std::max(worker_.limits().idle_timeout - idle, absl::Milliseconds(10)));
}

ClientConnection::~ClientConnection() {
  queue_.clear();  // ~ActiveRequest cancels upstream work.
  if (pending_counted_ > 0) worker_.budget().pending_request_bytes.fetch_sub(pending_counted_);
}

size_t ClientConnection::unsentBytes() const {
  return evbuffer_get_length(socket_->output()) + queued_reply_bytes_;
}

bool ClientConnection::accountPending(size_t held) {
  ConnectionBudget& budget = worker_.budget();
  if (held <= pending_counted_) {
    budget.pending_request_bytes.fetch_sub(pending_counted_ - held);
    pending_counted_ = held;
    return true;
  }
  uint64_t total = budget.pending_request_bytes.fetch_add(held - pending_counted_) +
                   (held - pending_counted_);
  pending_counted_ = held;
  if (total <= budget.max_pending_request_bytes) return true;
  // Over the process-wide cap: the connection whose unfinished request grows is refused, as
  // memcached refuses an item it has no memory for.
  worker_.counters().pending_bytes_refusals.inc();
  evbuffer_drain(socket_->input(), evbuffer_get_length(socket_->input()));
  accountPending(0);
  incomplete_ = false;
  queue_.push_back(std::make_unique<ActiveRequest>(
      *this, std::string("SERVER_ERROR out of memory for unfinished requests\r\n")));
  close_after_flush_ = true;
  flush();
  return false;
}

size_t ClientConnection::stalledOutputSince(absl::Time now, absl::Time cutoff) {
  size_t unsent = closed_ ? 0 : unsentBytes();
  if (unsent < worker_.limits().max_output_bytes) {
    stall_unsent_ = 0;
    return 0;
  }
  if (stall_unsent_ == 0 || unsent < stall_unsent_) stall_since_ = now;  // over, or progress.
  stall_unsent_ = unsent;
  return stall_since_ <= cutoff ? unsent : 0;
}

void ClientConnection::closeWhenAnswered() {
  if (closed_) return;
  close_after_flush_ = true;
  socket_->enableReading(false);
  flush();
}

replication::Upstreams& ClientConnection::cluster() { return worker_.cluster(); }
size_t ClientConnection::workerIndex() const { return worker_.index(); }
Dispatcher& ClientConnection::dispatcher() { return worker_.dispatcher(); }

void ClientConnection::onWriteDrained() {
  if (closed_) return;
  if (close_after_flush_ && queue_.empty()) {
    close();
    return;
  }
  if (processing_) return;  // processInput() is on the stack and goes on by itself.
  updateReading();
  processInput();  // bytes may be waiting while reading was paused.
}

namespace {
constexpr int kMaxExtraReads = 16;  // 256 KiB per read event, then let other connections run.
}  // namespace

void ClientConnection::processInput(bool may_read) {
  if (closed_ || processing_ || close_after_flush_) return;
  processing_ = true;
  evbuffer* input = socket_->input();
  const ConnectionLimits& limits = worker_.limits();
  int extra_reads = 0;
  bool parsed_any = false;  // since the last read: extra reads are for one large request only.
  while (!closed_ && !close_after_flush_ && held_ == nullptr &&
         queue_.size() < limits.max_inflight && unsentBytes() < limits.max_output_bytes) {
    size_t len = evbuffer_get_length(input);
    if (len == 0) {
      incomplete_ = false;
      break;
    }
    const char* data = reinterpret_cast<const char*>(evbuffer_pullup(input, -1));
    if (codec_ == nullptr) {
      codec_ = codec::makeClientCodec(static_cast<uint8_t>(data[0]), limits.parse);
    }
    // Parsed into the worker's scratch Request, which then trades buffers with the pooled
    // ActiveRequest (see ActiveRequest::reuse): the key vector and value are reused, not
    // allocated per request. Nothing below reads it after acquire().
    Request& request = worker_.parseScratch();
    size_t consumed = 0;
    codec::ParseStatus status = codec_->parse(absl::string_view(data, len), &request, &consumed);
    if (consumed > 0) evbuffer_drain(input, consumed);
    if (status == codec::ParseStatus::kNeedMore) {
      if (!incomplete_ && evbuffer_get_length(input) > 0) {
        incomplete_ = true;
        incomplete_since_ = dispatcher().now();
      }
      if (evbuffer_get_length(input) >= limits.max_read_buffer) {
        worker_.counters().read_buffer_overflows.inc();
        queue_.push_back(std::make_unique<ActiveRequest>(
            *this, std::string("SERVER_ERROR request too large for this proxy\r\n")));
        close_after_flush_ = true;
        flush();
      } else if (may_read && !parsed_any && extra_reads < kMaxExtraReads && socket_->readMore()) {
        // A value larger than one read: take the rest now rather than a loop turn later. A
        // stream of small requests waits for the next read event instead, so one client
        // cannot keep the loop to itself.
        ++extra_reads;
        continue;
      }
      break;
    }
    parsed_any = true;
    incomplete_ = false;
    last_activity_ = dispatcher().now();
    if (status == codec::ParseStatus::kError) {
      worker_.counters().protocol_errors.inc();
      if (codec_->errorKind() == ErrorKind::kTooLarge) {
        worker_.counters().values_too_large.inc();
      }
      queue_.push_back(std::make_unique<ActiveRequest>(*this, std::string(codec_->errorReply())));
      if (codec_->shouldClose()) close_after_flush_ = true;
      flush();
      continue;
    }
    if (request.command == Command::kQuit || request.command == Command::kNoop) {
      // Answered here, in order: noop/mn marks the end of a pipeline; binary quit says OK first.
      // No filter sees them, so they are counted (cmd_noop, cmd_quit) here.
      worker_.counters().commands[static_cast<size_t>(request.command)].inc();
      std::string reply;
      codec_->encode(request, Response::ofType(ResponseType::kOk), &reply);
      queue_.push_back(std::make_unique<ActiveRequest>(*this, std::move(reply)));
      if (request.command == Command::kQuit) close_after_flush_ = true;
      flush();
      continue;
    }
    const FilterChainConstSharedPtr& chain = worker_.chain();
    if (chain == nullptr || !worker_.hasTopology()) {
      std::string reply;
      Response r = Response::serverError("no topology applied yet");
      codec_->encode(request, r, &reply);
      queue_.push_back(std::make_unique<ActiveRequest>(*this, std::move(reply)));
      flush();
      continue;
    }
    const bool reports_state = request.command == Command::kStats;
    queue_.push_back(
        worker_.requestPool().acquire(*this, std::move(request), chain, Clock::now()));
    if (reports_state && queue_.size() > 1) {
      held_ = queue_.back().get();  // flush() starts it once everything before it is answered.
      continue;
    }
    queue_.back()->start();
  }
  processing_ = false;
  // A request answered here (no topology yet, quit) was not swapped away: drop what it holds.
  releaseLargeBuffers(worker_.parseScratch(), kMaxKeptWorkerBufferBytes);
  if (closed_) return;
  if (!close_after_flush_) {
    size_t held = incomplete_ ? evbuffer_get_length(input) : 0;
    if (held != pending_counted_ && !accountPending(held)) return;
  }
  bool inflight_full = queue_.size() >= limits.max_inflight && evbuffer_get_length(input) > 0;
  if (inflight_full && !paused_by_inflight_) {
    worker_.counters().inflight_limit_pauses.inc();
  }
  paused_by_inflight_ = inflight_full;
  bool output_full = unsentBytes() >= limits.max_output_bytes;
  if (output_full && !paused_by_output_) worker_.counters().output_limit_pauses.inc();
  paused_by_output_ = output_full;
  updateReading();
}

void ClientConnection::onRequestComplete(ActiveRequest& request) {
  // A vDSO clock read, no lock: Dispatcher::now() is too coarse (ms ticks) for 100 us buckets.
  int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(
                       Clock::now() - request.startTime())
                       .count();
  worker_.counters().request_latency.observe(micros > 0 ? micros : 0);
  last_reply_at_ = dispatcher().now();
  if (!closed_ && request.response().type == ResponseType::kValues &&
      !request.response().items.empty() &&
      unsentBytes() >=
          ConnectionLimits::kOutputRefuseFactor * worker_.limits().max_output_bytes) {
    // The client has stopped reading far past the output cap (it may have pipelined many big
    // gets before the cap stopped us parsing): holding more values would grow without bound.
    // A read is safe to refuse; the client may retry it.
    worker_.counters().output_overflows.inc();
    request.response() = Response::serverError("out of memory: client is not reading replies",
                                               ErrorKind::kOutOfMemory);
  }
  if (!closed_ && !queue_.empty() && queue_.front().get() == &request) {
    // The common case: the head of the queue completed. Encode into the worker's reusable
    // buffer and hand the bytes to the socket now, instead of a fresh string per request.
    std::string& reply = worker_.replyScratch();
    reply.clear();
    codec_->encode(request.request(), request.response(), &reply);
    if (!reply.empty()) evbuffer_add(socket_->output(), reply.data(), reply.size());
    shrinkIfLarge(reply, kMaxKeptWorkerBufferBytes);
    request.encoded().clear();  // written: flush() must not write it again.
    flush();
    return;
  }
  request.encoded().clear();
  codec_->encode(request.request(), request.response(), &request.encoded());
  queued_reply_bytes_ += request.encoded().size();
  // The items were copied into the encoding: do not hold the values twice.
  request.response().items.clear();
}

void ClientConnection::flush() {
  if (closed_) return;
  evbuffer* output = socket_->output();
  while (!queue_.empty()) {
    if (!queue_.front()->complete()) {
      if (queue_.front().get() != held_) break;
      held_ = nullptr;
      queue_.front()->start();  // may answer inline, and flush() from there.
      continue;
    }
    std::string& bytes = queue_.front()->encoded();
    // Replies answered before any filter ran were never counted: never go below zero.
    queued_reply_bytes_ -= std::min(queued_reply_bytes_, bytes.size());
    if (!bytes.empty()) evbuffer_add(output, bytes.data(), bytes.size());
    // The request may still be on the call stack (answered inline): the pool recycles it
    // after the current batch of events.
    worker_.requestPool().release(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (close_after_flush_ && queue_.empty()) {
    // Send the last replies now; onWriteDrained() closes (or the socket fails and closes).
    if (evbuffer_get_length(output) > 0) {
      socket_->writeNow();
      if (closed_ || evbuffer_get_length(output) > 0) return;
    }
    close();
    return;
  }
  if (evbuffer_get_length(output) > 0) socket_->scheduleWrite();
  if (!processing_) {
    updateReading();
    // Room freed in the in-flight window: parse what is already buffered.
    if (evbuffer_get_length(socket_->input()) > 0) processInput();
  }
}

void ClientConnection::updateReading() {
  if (closed_) return;
  const ConnectionLimits& limits = worker_.limits();
  bool want = !close_after_flush_ && held_ == nullptr && queue_.size() < limits.max_inflight &&
              unsentBytes() < limits.max_output_bytes;
  reading_ = want;
  socket_->enableReading(want);
}

bool ClientConnection::idleSince(absl::Time cutoff) const {
  return !closed_ && queue_.empty() && last_reply_at_ <= cutoff &&
         evbuffer_get_length(socket_->input()) == 0 &&
         evbuffer_get_length(socket_->output()) == 0;
}

void ClientConnection::startTls(const tls::TlsContextConstSharedPtr& context) {
  auto st = socket_->startTls(context, peer_, "");
  if (!st.ok()) {
    logLine(LogLevel::kWarn, absl::StrCat("TLS client ", peer_, ": ", st.message()));
    close();
  }
}

void ClientConnection::countTlsSession() {
  // The first plaintext arrives after the handshake: whether it resumed is known now.
  tls_counted_ = true;
  if (socket_->tlsTransport()->sessionReused()) {
    worker_.counters().tls_client_resumed.inc();
  }
}

void ClientConnection::onClosed(int error) {
  if (!socket_->tlsError().empty()) {
    // A client's failed handshake is the client's problem (no certificate, wrong CA, plain
    // text on the TLS port): counted, and logged only at debug level so a scanner cannot
    // flood the log.
    worker_.counters().tls_client_errors.inc();
    logLine(LogLevel::kDebug, absl::StrCat("TLS client ", peer_, ": ", socket_->tlsError()));
  }
  (void)error;
  close();
}

void ClientConnection::close() {
  if (closed_) return;
  closed_ = true;
  socket_->shutdownEvents();
  // Cancel in-flight work now; free the memory on a later turn (we may be inside a callback).
  for (auto& request : queue_) worker_.requestPool().release(std::move(request));
  queue_.clear();
  held_ = nullptr;
  worker_.onConnectionClosed(*this);
}

}  // namespace mcmesh
