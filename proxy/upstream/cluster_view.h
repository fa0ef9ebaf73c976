// ClusterView: one worker's live view of the cluster: current snapshot, pools, health, counters.
#pragma once

#include <array>
#include <functional>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "proxy/dispatcher.h"
#include "proxy/replication/replication_state.h"
#include "proxy/replication/upstreams.h"
#include "proxy/stats.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/host_address.h"
#include "proxy/upstream/host_health.h"

namespace mcmesh::upstream {

enum class HostEvent { kEjected, kRecovered };

// Everything a worker tracks about one host. Survives snapshot changes while the host is listed,
// so topology updates never drop its connections or health.
struct HostState : public PoolEvents {
  HostState(Dispatcher& dispatcher, const HostConfig& host, const PoolOptions& pool_options,
            const HealthOptions& health_options);
  ~HostState() override;
  void onUpstreamSuccess(RequestClass c) override;
  void onUpstreamFailure(RequestClass c) override;
  void onUpstreamDesync() override;
  // Readmits the host whatever class ejected it (a good probe, a drained journal).
  void onRecovered();

  Dispatcher& dispatcher;
  HostStats stats;
  HostHealth health;
  // An ejected primary being brought back (its dirty journal drained): its replies must not
  // recover it before that is done.
  bool recovering = false;
  // A primary with a backup comes back only through a recovery (ClusterView::startRecovery):
  // a reply to a request sent before it was ejected (a server that was stopped, then
  // continued) must not readmit it with the journal undrained, or reads would see values the
  // backup has replaced. Kept up to date by ClusterView from each snapshot.
  bool readmit_by_recovery_only = false;
  // Declared before `pool`: the pool's destructor fails pending requests, which reports here.
  std::function<void(HostEvent)> on_event;
  ConnPool pool;
};

// Implements replication::Upstreams: the replication protocol (proxy/replication/) decides where
// requests go; this class owns the pools, health and the worker's replication state.
class ClusterView : public replication::Upstreams {
 public:
  ClusterView(Dispatcher& dispatcher, PoolOptions pool_options, HealthOptions health_options,
              replication::ReplicationOptions replication_options = {});
  ~ClusterView() override;

  /** Swaps in a new snapshot; hosts no longer listed are closed on a later loop turn. */
  void setSnapshot(ClusterSnapshotConstSharedPtr snapshot);
  const ClusterSnapshot& snapshot() const { return *snapshot_; }
  const ClusterSnapshotConstSharedPtr& snapshotPtr() const override { return snapshot_; }
  bool hasSnapshot() const { return snapshot_ != nullptr; }

  /**
   * @return whether `host` may take requests now. An ejected host is due for a retry after its
   * backoff; a primary with a backup is then first recovered (its dirty journal drained, see
   * replication/dirty_journal.h) and stays unavailable until that is done.
   */
  bool available(const HostConfig& host) override;
  /** Sends to `host` (creating its pool on first use). See ConnPool::send. */
  Cancellable* send(const HostConfig& host, const Request& request, ResponseCallback callback,
                    uint64_t affinity = 0) override;
  absl::Time now() const override { return dispatcher_.now(); }
  replication::ReplicationState& replication() override { return replication_; }

  /**
   * The resolver's latest addresses for named hosts (posted by the main thread like snapshots).
   * Pools of hosts whose address changed connect to the new one and drain the old connections.
   */
  void setAddresses(AddressTableConstSharedPtr addresses);

  /** Whether `host` is a name still waiting for its first DNS answer (probes skip it). */
  bool awaitingAddress(const HostConfig& host) {
    return stateFor(host).pool.address().state == HostAddress::State::kPending;
  }

  /** The main thread's prober verdict for `address` (ejects, or starts its recovery). */
  void setProbeResult(const std::string& address, bool up);

  ProxyCounters& counters() override { return counters_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  /** Visits every host; safe from any thread (stats readers). */
  void forEachHost(const std::function<void(const std::string&, const HostState&)>& visit) const;
  /** Closes every pool now (worker shutdown). */
  void shutdown();
  /** Called on the worker thread when a host is ejected or recovers (e.g. to rehydrate it). */
  void setHostEventHandler(std::function<void(const std::string&, HostEvent)> handler) {
    host_event_handler_ = std::move(handler);
  }
  const PoolOptions& poolOptions() const { return pool_options_; }

 private:
  HostState& stateFor(const HostConfig& host);
  bool needsRecovery(const HostConfig& host) const;
  void startRecovery(HostState& state, const HostConfig& host);
  void onRecoveryDone(const std::string& address, bool ok);

  Dispatcher& dispatcher_;
  PoolOptions pool_options_;
  HealthOptions health_options_;
  ClusterSnapshotConstSharedPtr snapshot_;
  AddressTableConstSharedPtr addresses_;
  // Mutated only on the worker thread, under hosts_mutex_; other threads read under it.
  absl::flat_hash_map<std::string, std::unique_ptr<HostState>> hosts_;
  // stateFor() runs for every key routed and every send: remember the last few lookups by
  // HostConfig address (checked against the host's address, since a config may be freed and its
  // memory reused) instead of hashing the address string each time. Cleared when hosts go.
  struct StateCacheEntry {
    const HostConfig* config = nullptr;
    HostState* state = nullptr;
  };
  std::array<StateCacheEntry, 8> state_cache_{};
  size_t state_cache_next_ = 0;
  mutable std::mutex hosts_mutex_;
  ProxyCounters counters_;
  replication::ReplicationState replication_;
  // Set by shutdown(): replies failed by closing pools may start follow-up sends, which must
  // not create new pools while the hosts are being destroyed.
  bool closing_ = false;
  std::function<void(const std::string&, HostEvent)> host_event_handler_;
};

}  // namespace mcmesh::upstream
