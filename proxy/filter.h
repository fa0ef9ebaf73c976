// The filter API: what a request filter may do and what the proxy offers it.
//
// Model: Envoy's stream filters. Each decoded request gets its own filter instances (built by
// the chain's factories). Requests travel through filters in chain order (onRequest); the reply
// travels back in reverse order (onResponse). A filter may
//   - return kContinue to pass the request/response on,
//   - answer locally with callbacks.sendResponse() and return kStopIteration,
//   - return kStopIteration, do async work, and later call continueRequest()/continueResponse().
// The last filter of a chain is terminal (the router): it always answers.
//
// Async rule: an upstream callback may run inline, before send() returns (e.g. the server cannot
// be connected). Call continueRequest()/continueResponse()/sendResponse() from the callback
// anyway, and return kStopIteration from the hook that started the work: the chain copes with
// being resumed before the hook returns.
//
// Thread model: a filter instance lives on one worker's event loop. It must never block; async
// work goes through upstream() or dispatcher() and is cancelled in onDestroy().
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proxy/message.h"

namespace mcmesh {

class Dispatcher;
namespace replication {
class Upstreams;
}

enum class FilterStatus { kContinue, kStopIteration };

class FilterCallbacks {
 public:
  virtual ~FilterCallbacks() = default;

  /** @return the request being processed (filters may rewrite it before continuing). */
  virtual Request& request() = 0;
  /** @return the response on its way back (valid only during/after onResponse). */
  virtual Response& response() = 0;
  /** Resume the chain after onRequest returned kStopIteration. */
  virtual void continueRequest() = 0;
  /**
   * Answer the request from this filter. The response then passes through the filters *before*
   * this one, in reverse order (their onResponse), and is queued for the client.
   */
  virtual void sendResponse(Response&& response) = 0;
  /** Resume the reverse pass after onResponse returned kStopIteration. */
  virtual void continueResponse() = 0;
  /**
   * @return this worker's cluster through its narrow interface (proxy/replication/upstreams.h):
   * the pinned snapshot, placement and health, sends with callbacks, counters and time. The
   * worker's own management of it (topology swaps, probes, shutdown) is not the filters' business.
   */
  virtual replication::Upstreams& cluster() = 0;
  /** @return this worker's event loop, for timers and deferred work. */
  virtual Dispatcher& dispatcher() = 0;
  /**
   * @return this client connection's id. Pass it as the affinity of upstream sends so one
   * client's requests to a server share a connection and keep their order (read-your-writes).
   */
  virtual uint64_t connectionId() const = 0;
  /** @return a short description of the client ("127.0.0.1:53412"), for logs and limits. */
  virtual const std::string& clientAddress() const = 0;
};

class Filter {
 public:
  virtual ~Filter() = default;

  /** Called once before any other call. The callbacks outlive the filter. */
  virtual void setCallbacks(FilterCallbacks& callbacks) = 0;
  /** Called in chain order. */
  virtual FilterStatus onRequest(Request& request) = 0;
  /** Called in reverse chain order with the reply; the filter may rewrite it. */
  virtual FilterStatus onResponse(Response& response) = 0;
  /** The request is being torn down (done or client gone): cancel anything in flight. */
  virtual void onDestroy() {}
  /**
   * Optional, for speed. Called after onDestroy(): put this instance back in the state it had
   * right after construction and setCallbacks(), and return true; the proxy may then reuse it,
   * with the same callbacks object, for a later request of the same chain instead of building a
   * new one (no allocation per request). The default, false, means the instance is destroyed:
   * a filter that does not override this needs no care.
   */
  virtual bool resetForReuse() { return false; }
};

using FilterPtr = std::unique_ptr<Filter>;

// Makes one filter instance per request. Factories are built once per topology snapshot from
// config and shared by all workers, so they must be immutable after construction.
using FilterFactory = std::function<FilterPtr()>;

// A filter that passes everything through; subclasses override what they need.
class PassThroughFilter : public Filter {
 public:
  void setCallbacks(FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  FilterStatus onRequest(Request&) override { return FilterStatus::kContinue; }
  FilterStatus onResponse(Response&) override { return FilterStatus::kContinue; }

 protected:
  FilterCallbacks* callbacks_ = nullptr;
};

}  // namespace mcmesh
