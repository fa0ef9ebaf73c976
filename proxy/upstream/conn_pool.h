// ConnPool: keep-alive, pipelined connections from one worker to one memcached server.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "filters/decode/text_codec.h"
#include "proxy/dispatcher.h"
#include "proxy/message.h"
#include "proxy/stats.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace mcmesh::upstream {

using ResponseCallback = std::function<void(Response&&)>;

// Handle to an in-flight upstream request. Valid until its callback is invoked (it is dead inside
// the callback already: clear stored handles first thing there) or cancel() is called.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  /** The callback will not run. The reply, when it comes, is read and discarded. */
  virtual void cancel() = 0;
};

struct PoolOptions {
  size_t max_connections = 1;  // magent's -i (see Options::max_keepalive).
  size_t max_pending_per_connection = 4096;
  absl::Duration connect_timeout = absl::Milliseconds(250);
  absl::Duration request_timeout = absl::Milliseconds(250);
};

// Per-host counters on one worker (summed across workers when read).
struct HostStats {
  Counter requests;
  Counter errors;  // connect/IO errors and timeouts (not memcached error replies).
  Counter timeouts;
  Counter connects;
  Counter ejections;
  Counter recoveries;
  Counter active_connections;
};

// Told about each request's fate so health can eject/recover the host.
class PoolEvents {
 public:
  virtual ~PoolEvents() = default;
  virtual void onUpstreamSuccess() = 0;
  virtual void onUpstreamFailure() = 0;
};

class UpstreamConnection;

class ConnPool {
 public:
  ConnPool(Dispatcher& dispatcher, HostConfig host, PoolOptions options, HostStats& stats,
           PoolEvents& events);
  ~ConnPool();

  /**
   * Sends `request` and calls `callback` with the reply, or with kUpstreamFailure on a connect
   * error, IO error or timeout. The callback may run inline (e.g. when no connection can be made).
   * @return a handle to cancel, or null if the callback already ran.
   */
  Cancellable* send(const Request& request, ResponseCallback callback, uint64_t affinity = 0);

  const HostConfig& host() const { return host_; }
  /** Closes all idle connections and fails their pending requests (host removed). */
  void drainAndClose();

 private:
  friend class UpstreamConnection;
  void onConnectionClosed(UpstreamConnection* connection);
  UpstreamConnection* pickConnection(uint64_t affinity);

  Dispatcher& dispatcher_;
  HostConfig host_;
  PoolOptions options_;
  HostStats& stats_;
  PoolEvents& events_;
  // Fixed slots (max_connections); a request uses slot affinity % size, so requests with the
  // same affinity (one client) stay in order on one connection.
  std::vector<std::unique_ptr<UpstreamConnection>> connections_;
};

}  // namespace mcmesh::upstream
