// Worker: one event-loop thread with its listeners, client connections and cluster view.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "proxy/active_request_pool.h"
#include "proxy/client_connection.h"
#include "proxy/dispatcher.h"
#include "proxy/filter_chain.h"
#include "proxy/tls/tls_context.h"
#include "proxy/upstream/cluster_view.h"

struct evconnlistener;
struct sockaddr;

namespace mcmesh {

struct WorkerOptions {
  ConnectionLimits limits;
  upstream::PoolOptions pool;
  upstream::HealthOptions health;
  replication::ReplicationOptions replication;
};

// Shared across workers: the -n cap and the unfinished-request byte cap are for the whole
// process.
struct ConnectionBudget {
  std::atomic<uint64_t> open{0};
  uint64_t max = 4096;
  // Bytes held by connections for requests not received whole yet (slowloris, huge lines).
  // Updated only when a connection's partial request changes, never for whole requests.
  std::atomic<uint64_t> pending_request_bytes{0};
  uint64_t max_pending_request_bytes = 256ull << 20;
};

class Worker {
 public:
  Worker(size_t index, WorkerOptions options, ConnectionBudget& budget);
  ~Worker();

  /** Binds a TCP listener (SO_REUSEPORT so every worker can have one on the same port). */
  absl::Status listenTcp(const std::string& host, int port,
                         tls::TlsContextConstSharedPtr tls = nullptr);
  /** Binds a unix-socket listener (only one worker should). */
  absl::Status listenUnix(const std::string& path);
  /** Runs the loop on a new thread. */
  void start();
  /**
   * Drain, on this worker's thread (post it): closes the listeners, so new connections are
   * refused (or go to another process on the same SO_REUSEPORT port), then every `idle_grace`/2
   * closes client connections idleSince(now - idle_grace). Clients that keep pooled
   * connections open would otherwise hold a drain until its deadline.
   */
  void beginDrain(absl::Duration idle_grace);
  /**
   * Drain deadline, on this worker's thread: every connection stops reading and closes once the
   * requests it already read are answered.
   */
  void finishDrain();
  /** Stops the loop and joins the thread; safe from another thread. */
  void stop();

  /** Installs a new routing state; call on this worker's thread (post it). */
  void applyRouting(upstream::ClusterSnapshotConstSharedPtr snapshot,
                    FilterChainConstSharedPtr chain);

  Dispatcher& dispatcher() { return dispatcher_; }
  /** The cluster as filters and connections use it: the narrow upstream interface. */
  replication::Upstreams& cluster() { return cluster_; }
  ProxyCounters& counters() { return cluster_.counters(); }
  /** Whether a topology has been applied (requests before that are refused). */
  bool hasTopology() const { return cluster_.hasSnapshot(); }

  // The cluster's admin side, for the server; filters never see it.
  /** The main thread's prober verdict for `address`; on this worker's thread (post it). */
  void applyProbeResult(const std::string& address, bool up) {
    cluster_.setProbeResult(address, up);
  }
  /** The resolver's latest addresses; on this worker's thread (post it). */
  void applyAddresses(upstream::AddressTableConstSharedPtr addresses) {
    cluster_.setAddresses(std::move(addresses));
  }
  /** Visits every host's state; safe from any thread (stats readers). */
  void forEachHost(
      const std::function<void(const std::string&, const upstream::HostState&)>& visit) const {
    cluster_.forEachHost(visit);
  }
  /** Called on this worker's thread when a host is ejected or recovers. Set before start(). */
  void setHostEventHandler(std::function<void(const std::string&, upstream::HostEvent)> handler) {
    cluster_.setHostEventHandler(std::move(handler));
  }
  const FilterChainConstSharedPtr& chain() const { return chain_; }
  ActiveRequestPool& requestPool() { return request_pool_; }
  /**
   * Scratch buffers shared by this worker's connections: a request is parsed into parseScratch()
   * and swapped into its ActiveRequest right away; a reply is encoded into replyScratch() and
   * copied to its socket right away. One per worker rather than per connection, so idle
   * connections hold no parse or reply buffers (see buffer_policy.h).
   */
  Request& parseScratch() { return parse_scratch_; }
  std::string& replyScratch() { return reply_scratch_; }
  const ConnectionLimits& limits() const { return options_.limits; }
  ConnectionBudget& budget() { return budget_; }
  size_t index() const { return index_; }
  void onConnectionClosed(ClientConnection& connection);
  uint64_t nextConnectionId() { return ++last_connection_id_; }
  /** Accepts an already-connected socket (also used by tests). */
  void acceptSocket(int fd, std::string peer, const tls::TlsContextConstSharedPtr& tls = nullptr);

 private:
  static void onAccept(evconnlistener*, int fd, ::sockaddr* addr, int len, void* arg);
  // accept() failed for another reason than "try again": out of descriptors (EMFILE/ENFILE) or
  // kernel memory. The listener would fire again at once (a busy loop, one log line each), so
  // accepting pauses for kAcceptPause and the failure is logged at most once a second.
  static void onAcceptError(evconnlistener*, void* arg);
  void addListener(evconnlistener* listener);
  // Every second (when a request read timeout is set): closes connections whose request has
  // been incomplete for longer than it (slowloris).
  void sweepSlowRequests();

  size_t index_;
  WorkerOptions options_;
  ConnectionBudget& budget_;
  Dispatcher dispatcher_;
  upstream::ClusterView cluster_;
  FilterChainConstSharedPtr chain_;
  ActiveRequestPool request_pool_{dispatcher_};  // after cluster_: freed before the pools.
  std::vector<evconnlistener*> listeners_;
  // Listeners that speak TLS, with their certificates (absent: plain).
  absl::flat_hash_map<evconnlistener*, tls::TlsContextConstSharedPtr> tls_listeners_;
  absl::flat_hash_map<ClientConnection*, std::unique_ptr<ClientConnection>> connections_;
  std::thread thread_;
  uint64_t last_connection_id_ = 0;
  TimerPtr drain_timer_;  // set once draining.
  TimerPtr accept_resume_timer_;
  uint64_t accept_errors_since_log_ = 0;
  absl::Time accept_error_logged_at_ = absl::InfinitePast();
  TimerPtr sweep_timer_;
  Request parse_scratch_;
  std::string reply_scratch_;
};

}  // namespace mcmesh
