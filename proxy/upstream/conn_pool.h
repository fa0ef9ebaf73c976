// ConnPool: keep-alive, pipelined connections from one worker to one memcached server.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "codec/text_codec.h"
#include "proxy/dispatcher.h"
#include "proxy/message.h"
#include "proxy/stats.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/host_address.h"
#include "proxy/upstream/host_health.h"

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
  // A request times out when its server has sent nothing for this long since it was sent (a
  // big reply still arriving, or one queued behind it, is not a timeout; see kMaxTimeoutStretch).
  absl::Duration request_timeout = absl::Milliseconds(250);
  // Upstream values longer than this (plus kValueSlackBytes) reset the connection.
  uint64_t max_value_bytes = 1024 * 1024;
  static constexpr uint64_t kValueSlackBytes = 1024;
  // A request waiting behind other replies still arriving may see its deadline moved up to this
  // many timeouts (its own reply, once it arrives, only has to keep coming: see conn_pool.cc).
  static constexpr int kMaxTimeoutStretch = 30;
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
  Counter desyncs;        // replies naming keys the request did not ask for (connection reset).
  Counter local_errors;   // failures of this process (no descriptor, value too large): not health.
  Counter tls_errors;     // TLS handshakes or sessions that failed (also counted in errors).
  Counter unresolved;     // requests failed at once because the host's name had no address.
};

// Why a connection could not be opened; decides whether the host's health pays for it.
enum class ConnectFailure : uint8_t {
  kServer,          // refused, unreachable...: the server's fault.
  kLocal,           // out of descriptors here: not the server's fault.
  kNotResolvedYet,  // the name's first DNS answer has not come: not held against the host.
  kUnresolvable,    // the name does not resolve: counted like a refused connect.
};

// Told about each request's fate so health can eject/recover the host, by class of request
// (see HostHealth). Failures of this process (out of descriptors, a value over our limit) are
// not reported: they say nothing about the server.
class PoolEvents {
 public:
  virtual ~PoolEvents() = default;
  virtual void onUpstreamSuccess(RequestClass c) = 0;
  virtual void onUpstreamFailure(RequestClass c) = 0;
  /** A reply was out of step with the requests (another key's data): eject at once. */
  virtual void onUpstreamDesync() = 0;
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
  /**
   * The resolver's latest answer for a named host (ignored for IP literals). When the address
   * changes, connections to the old one take no new requests and close once answered.
   */
  void setAddress(const HostAddress& address);
  const HostAddress& address() const { return address_; }
  /** Closes all idle connections and fails their pending requests (host removed). */
  void drainAndClose();

 private:
  friend class UpstreamConnection;
  void onConnectionClosed(UpstreamConnection* connection);
  void logTlsError(const std::string& reason);
  UpstreamConnection* pickConnection(uint64_t affinity);

  Dispatcher& dispatcher_;
  HostConfig host_;
  PoolOptions options_;
  HostStats& stats_;
  PoolEvents& events_;
  // Fixed slots (max_connections); a request uses slot affinity % size, so requests with the
  // same affinity (one client) stay in order on one connection.
  std::vector<std::unique_ptr<UpstreamConnection>> connections_;
  // TLS failures repeat on every reconnect: log a reason when it changes, else once a minute.
  std::string last_tls_logged_;
  absl::Time last_tls_logged_at_ = absl::InfinitePast();
  // Connections to an address the host no longer has, finishing their requests (setAddress).
  std::vector<std::unique_ptr<UpstreamConnection>> retiring_;
  // Set by the destructor: a failure callback that sends through this pool again is answered at
  // once instead of opening a connection that would be destroyed with its request unanswered.
  bool closing_ = false;
  HostAddress address_;
  ConnectFailure last_connect_failure_ = ConnectFailure::kServer;
  std::string last_connect_error_;
};

}  // namespace mcmesh::upstream
