// ClientConnection: one client socket: decode, one ActiveRequest per command, in-order replies.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "codec/client_codec.h"
#include "proxy/buffered_socket.h"
#include "proxy/dispatcher.h"
#include "proxy/filter_chain.h"
#include "proxy/tls/tls_context.h"

namespace mcmesh {

class Worker;

struct ConnectionLimits {
  size_t max_inflight = 1024;                  // pipelined requests awaiting replies.
  // Unsent reply bytes (socket buffer plus replies waiting behind an unanswered head) before we
  // stop parsing; at kOutputRefuseFactor times it, retrieval replies become SERVER_ERROR.
  size_t max_output_bytes = 4 * 1024 * 1024;
  static constexpr size_t kOutputRefuseFactor = 2;
  // Unparsed bytes a client may leave buffered; enough for one largest request (value or
  // multiget line). Beyond it the request can never complete: answer and close.
  size_t max_read_buffer = 3 * 1024 * 1024;
  absl::Duration idle_timeout = absl::ZeroDuration();  // zero: never close idle clients.
  // A request incomplete for this long closes the connection (slowloris); zero: never.
  absl::Duration request_read_timeout = absl::Seconds(10);
  codec::ParseLimits parse;
};

// Replies are queued in request order and flushed only from the head, so a pipelined client
// sees them in order even when upstreams answer out of order. Reading pauses while too many
// requests are in flight or too many reply bytes are unsent (the client isn't reading).
class ClientConnection : public RequestOwner,
                         public DeferredDeletable,
                         private BufferedSocket::Callbacks {
 public:
  ClientConnection(Worker& worker, int fd, std::string peer);
  ~ClientConnection() override;

  /** Speaks TLS with `context`'s certificates (a TLS listener's connection); closes on error. */
  void startTls(const tls::TlsContextConstSharedPtr& context);
  /** Closes now: cancels everything in flight; the object is deleted on a later loop turn. */
  void close();
  /**
   * @return whether nothing is in flight or buffered and the last reply (or the accept) was at or
   * before `cutoff`; a drain closes such connections. A client between two back-to-back requests
   * is not idle by this test, so draining never cuts a busy client off mid-stream.
   */
  bool idleSince(absl::Time cutoff) const;
  /**
   * @return whether a request has been arriving since before `cutoff` without completing while
   * we were reading (a pause of ours does not count against the client). A TLS handshake not
   * finished since before `cutoff` (accepted then) counts too: a slowloris of the handshake.
   */
  bool incompleteSince(absl::Time cutoff) const {
    if (closed_) return false;
    const tls::TlsTransport* tls = socket_->tlsTransport();
    if (tls != nullptr && !tls->handshakeDone() && last_reply_at_ <= cutoff) return true;
    return incomplete_ && reading_ && incomplete_since_ <= cutoff;
  }
  /**
   * Sweep for clients that stopped reading: @return the unsent reply bytes if they have been
   * over the output cap without shrinking since `cutoff` (the caller closes it), else 0.
   */
  size_t stalledOutputSince(absl::Time now, absl::Time cutoff);
  /** Stops reading; closes once every request already read has been answered (drain). */
  void closeWhenAnswered();

  // RequestOwner
  replication::Upstreams& cluster() override;
  Dispatcher& dispatcher() override;
  const std::string& clientAddress() const override { return peer_; }
  uint64_t connectionId() const override { return id_; }
  size_t workerIndex() const override;
  void onRequestComplete(ActiveRequest& request) override;

 private:
  // BufferedSocket::Callbacks
  void onReadable() override {
    if (!tls_counted_ && socket_->tlsTransport() != nullptr) countTlsSession();
    processInput(/*may_read=*/true);
  }
  void countTlsSession();
  void onWriteDrained() override;
  void onClosed(int error) override;
  // Parses and starts what the input holds. Only a read event may also read more from the socket
  // (a value larger than one read): from the write path, that could keep a client that streams
  // self-answered commands (noop, version, errors) cycling inside one loop turn forever.
  void processInput(bool may_read = false);
  void flush();
  void updateReading();
  void onIdleTimer();
  // Unsent reply bytes: the socket's output plus replies encoded behind an unanswered head.
  size_t unsentBytes() const;
  // Records what this connection holds for its unfinished request in the process-wide budget;
  // @return false if that budget is exhausted and this connection was answered and closed.
  bool accountPending(size_t held);

  Worker& worker_;
  BufferedSocketPtr socket_;
  std::string peer_;
  uint64_t id_;
  codec::ClientCodecPtr codec_;  // text+meta or binary, chosen from the first byte received.
  std::deque<ActiveRequestPtr> queue_;
  bool closed_ = false;
  bool close_after_flush_ = false;  // quit, or a protocol error memcached closes on.
  bool processing_ = false;         // re-entrancy guard for processInput().
  // A `stats` parsed behind unanswered requests: it starts when it reaches the head of queue_,
  // and nothing after it is parsed before, so its counters include every request sent before
  // it and none sent after it (a pipeline `get k`, `stats` counts the get's hit).
  ActiveRequest* held_ = nullptr;
  bool tls_counted_ = false;        // a TLS session's resumption was counted.
  bool reading_ = true;
  bool paused_by_inflight_ = false;
  absl::Time last_activity_;
  TimerPtr idle_timer_;  // only when an idle timeout is configured.
  absl::Time last_reply_at_;  // for drain: when this connection last completed a request.
  bool incomplete_ = false;     // the input ends in a request not received whole yet.
  absl::Time incomplete_since_;  // when that request's first bytes were seen.
  size_t pending_counted_ = 0;   // its bytes, as counted in ConnectionBudget.
  size_t queued_reply_bytes_ = 0;  // encoded replies waiting behind an unanswered head.
  bool paused_by_output_ = false;
  size_t stall_unsent_ = 0;   // unsent bytes at the last sweep, while over the output cap.
  absl::Time stall_since_;    // when they last shrank (or went over the cap).
};

}  // namespace mcmesh
