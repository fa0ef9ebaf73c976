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
#include "proxy/stats.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/host_health.h"

namespace mcmesh::upstream {

enum class HostEvent { kEjected, kRecovered };

// Everything a worker tracks about one host. Survives snapshot changes while the host is listed,
// so topology updates never drop its connections or health.
struct HostState : public PoolEvents {
  HostState(Dispatcher& dispatcher, const HostConfig& host, const PoolOptions& pool_options,
            const HealthOptions& health_options);
  ~HostState() override;
  void onUpstreamSuccess() override;
  void onUpstreamFailure() override;

  Dispatcher& dispatcher;
  HostStats stats;
  // Keys written to the backup while this (primary) host was down. Its copies may be stale
  // (a stopped, not restarted, server keeps its data), so they are deleted when it recovers.
  absl::flat_hash_set<std::string> dirty_keys;
  bool dirty_overflow = false;
  HostHealth health;
  // Declared before `pool`: the pool's destructor fails pending requests, which reports here.
  std::function<void(HostEvent)> on_event;
  ConnPool pool;
};

class ClusterView {
 public:
  ClusterView(Dispatcher& dispatcher, PoolOptions pool_options, HealthOptions health_options);
  ~ClusterView();

  /** Swaps in a new snapshot; hosts no longer listed are closed on a later loop turn. */
  void setSnapshot(ClusterSnapshotConstSharedPtr snapshot);
  const ClusterSnapshot& snapshot() const { return *snapshot_; }
  const ClusterSnapshotConstSharedPtr& snapshotPtr() const { return snapshot_; }
  bool hasSnapshot() const { return snapshot_ != nullptr; }

  /** @return whether `host` may take requests now (not ejected, or due for a retry). */
  bool available(const HostConfig& host);
  /**
   * Where a request for `key` goes on the primary pool given health: its primary; if that is
   * ejected, the rehashed primary under EjectPolicy::kRehash, or null under kBackup (the
   * failover_reader then uses the backup).
   */
  const HostConfig* routeFor(absl::string_view key);
  /** Sends to `host` (creating its pool on first use). See ConnPool::send. */
  Cancellable* send(const HostConfig& host, const Request& request, ResponseCallback callback,
                    uint64_t affinity = 0);

  /**
   * Remembers that `key` was written to the backup because `primary` was down; on recovery the
   * primary's copy is deleted so reads fall through to the backup and repair it.
   */
  void markDirty(const HostConfig& primary, const std::string& key);
  static constexpr size_t kMaxDirtyKeysPerHost = 100000;
  /** The main thread's prober verdict for `address` (ejects, or recovers at once). */
  void setProbeResult(const std::string& address, bool up);

  ProxyCounters& counters() { return counters_; }
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
  const HostConfig* rehashedPrimaryFor(absl::string_view key);
  void invalidateDirty(HostState& state);

  Dispatcher& dispatcher_;
  PoolOptions pool_options_;
  HealthOptions health_options_;
  ClusterSnapshotConstSharedPtr snapshot_;
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
  // Rehash policy: a ring over the available active primaries, rebuilt only when the set of
  // ejected primaries (or the snapshot) changes, never per request.
  const ClusterSnapshot* rehash_snapshot_ = nullptr;
  std::string rehash_excluded_;
  std::vector<HostConfig> rehash_hosts_;
  std::unique_ptr<ketama::KetamaRing> rehash_ring_;
  ProxyCounters counters_;
  std::function<void(const std::string&, HostEvent)> host_event_handler_;
};

}  // namespace mcmesh::upstream
