// FilterChain (immutable list of factories) and ActiveRequest (one request walking the chain).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "proxy/dispatcher.h"
#include "proxy/filter.h"
#include "proxy/message.h"

namespace mcmesh {

// Built once per topology/config version on the main thread and shared by all workers.
struct FilterChain {
  std::vector<std::string> names;
  std::vector<FilterFactory> factories;
};
using FilterChainConstSharedPtr = std::shared_ptr<const FilterChain>;

class ActiveRequest;

// What an ActiveRequest needs from the connection that owns it.
class RequestOwner {
 public:
  virtual ~RequestOwner() = default;
  virtual replication::Upstreams& cluster() = 0;
  virtual Dispatcher& dispatcher() = 0;
  virtual const std::string& clientAddress() const = 0;
  virtual uint64_t connectionId() const = 0;
  /** The request has its final response (after the reverse filter pass). */
  virtual void onRequestComplete(ActiveRequest& request) = 0;
};

class ActiveRequest : public FilterCallbacks, public DeferredDeletable {
 public:
  /**
   * `started` is when the owner decoded the request, for the latency histogram: a precise
   * monotonic clock, since libevent's cached loop time (Dispatcher::now) ticks only every few ms.
   */
  ActiveRequest(RequestOwner& owner, Request&& request, const FilterChain& chain,
                std::chrono::steady_clock::time_point started = {});
  /** A request answered before any filter saw it (protocol error): already complete. */
  ActiveRequest(RequestOwner& owner, std::string&& encoded_reply);
  ~ActiveRequest() override;

  /**
   * Tears the finished (or abandoned) request down (onDestroy) and asks every filter to reset
   * for reuse. @return whether all agreed, so reuse() may give the object a new request.
   */
  bool recycle();
  /**
   * Starts over with a new request; only after recycle() returned true. `request` is swapped
   * in: it comes back holding the previous request's (cleared-on-parse) buffers for reuse.
   */
  void reuse(RequestOwner& owner, Request&& request,
             std::chrono::steady_clock::time_point started);
  /** The chain this request's filters were built from, kept alive while they may be reused. */
  void pinChain(FilterChainConstSharedPtr chain) { chain_ = std::move(chain); }
  const FilterChain* chain() const { return chain_.get(); }

  /** Starts the forward pass. */
  void start();
  bool complete() const { return complete_; }
  std::chrono::steady_clock::time_point startTime() const { return started_; }
  /** Reply bytes for the client, filled by the owner in onRequestComplete(). */
  std::string& encoded() { return encoded_; }

  // FilterCallbacks
  Request& request() override { return request_; }
  Response& response() override { return response_; }
  void continueRequest() override;
  void sendResponse(Response&& response) override;
  void continueResponse() override;
  replication::Upstreams& cluster() override { return owner_->cluster(); }
  Dispatcher& dispatcher() override { return owner_->dispatcher(); }
  const std::string& clientAddress() const override { return owner_->clientAddress(); }
  uint64_t connectionId() const override { return owner_->connectionId(); }

 private:
  void runRequest();
  void runResponse();

  RequestOwner* owner_;  // a pointer: a reused request may belong to another connection.
  Request request_;
  Response response_;
  absl::InlinedVector<FilterPtr, 8> filters_;  // no heap block for the vector itself.
  size_t request_index_ = 0;    // filter currently (or last) handling the forward pass.
  int response_index_ = -1;     // filter currently handling the reverse pass.
  bool responding_ = false;
  bool complete_ = false;
  std::string encoded_;
  std::chrono::steady_clock::time_point started_;
  bool destroyed_ = false;  // onDestroy() already ran (recycle), the destructor skips it.
  FilterChainConstSharedPtr chain_;
};
using ActiveRequestPtr = std::unique_ptr<ActiveRequest>;

}  // namespace mcmesh
