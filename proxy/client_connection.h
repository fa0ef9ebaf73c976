// ClientConnection: one client socket: decode, one ActiveRequest per command, in-order replies.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "filters/decode/text_codec.h"
#include "proxy/dispatcher.h"
#include "proxy/filter_chain.h"

struct bufferevent;

namespace mcmesh {

class Worker;

struct ConnectionLimits {
  size_t max_inflight = 1024;                  // pipelined requests awaiting replies.
  size_t max_output_bytes = 16 * 1024 * 1024;  // unsent reply bytes before we stop reading.
  decode::ParseLimits parse;
};

// Replies are queued in request order and flushed only from the head, so a pipelined client
// sees them in order even when upstreams answer out of order. Reading pauses while too many
// requests are in flight or too many reply bytes are unsent (the client isn't reading).
class ClientConnection : public RequestOwner, public DeferredDeletable {
 public:
  ClientConnection(Worker& worker, int fd, std::string peer);
  ~ClientConnection() override;

  /** Closes now: cancels everything in flight; the object is deleted on a later loop turn. */
  void close();

  // RequestOwner
  upstream::ClusterView& cluster() override;
  Dispatcher& dispatcher() override;
  const std::string& clientAddress() const override { return peer_; }
  uint64_t connectionId() const override { return id_; }
  void onRequestComplete(ActiveRequest& request) override;

 private:
  static void onReadCb(bufferevent*, void* arg);
  static void onWriteCb(bufferevent*, void* arg);
  static void onEventCb(bufferevent*, short what, void* arg);
  void processInput();
  void flush();
  void updateReading();

  Worker& worker_;
  bufferevent* bev_;
  std::string peer_;
  uint64_t id_;
  decode::TextRequestParser parser_;
  std::deque<ActiveRequestPtr> queue_;
  bool closed_ = false;
  bool close_after_flush_ = false;  // quit, or a protocol error memcached closes on.
  bool processing_ = false;         // re-entrancy guard for processInput().
  bool reading_ = true;
};

}  // namespace mcmesh
