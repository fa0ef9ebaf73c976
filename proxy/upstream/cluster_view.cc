// ClusterView: snapshot swaps, host state lifetime and health-aware routing.
#include "proxy/upstream/cluster_view.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "proxy/log.h"

namespace mcmesh::upstream {
namespace {
struct DeferredHost : public DeferredDeletable {
  explicit DeferredHost(std::unique_ptr<HostState> s) : state(std::move(s)) {}
  std::unique_ptr<HostState> state;
};
}  // namespace

HostState::HostState(Dispatcher& d, const HostConfig& host, const PoolOptions& pool_options,
                     const HealthOptions& health_options)
    : dispatcher(d), health(health_options), pool(d, host, pool_options, stats, *this) {}

HostState::~HostState() { on_event = nullptr; }

void HostState::onUpstreamSuccess() {
  if (health.recordSuccess()) {
    stats.recoveries.inc();
    if (on_event) on_event(HostEvent::kRecovered);
  }
}

void HostState::onUpstreamFailure() {
  if (health.recordFailure(dispatcher.now())) {
    stats.ejections.inc();
    if (on_event) on_event(HostEvent::kEjected);
  }
}

ClusterView::~ClusterView() { shutdown(); }

void ClusterView::shutdown() {
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  for (auto& entry : hosts_) entry.second->on_event = nullptr;
  state_cache_ = {};
  hosts_.clear();
}

void ClusterView::forEachHost(
    const std::function<void(const std::string&, const HostState&)>& visit) const {
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  for (const auto& entry : hosts_) visit(entry.first, *entry.second);
}

ClusterView::ClusterView(Dispatcher& dispatcher, PoolOptions pool_options,
                         HealthOptions health_options)
    : dispatcher_(dispatcher), pool_options_(pool_options), health_options_(health_options) {}

void ClusterView::setSnapshot(ClusterSnapshotConstSharedPtr snapshot) {
  snapshot_ = std::move(snapshot);
  counters_.topology_updates.inc();
  std::set<std::string> listed;
  for (const HostConfig* h : snapshot_->allHosts()) listed.insert(h->address);
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    if (listed.count(it->first) == 0) {
      // In-flight requests on a removed host still complete; the pool closes when idle.
      it->second->on_event = nullptr;
      std::unique_ptr<HostState> removed = std::move(it->second);
      state_cache_ = {};  // entries may point at the removed host.
      {
        std::lock_guard<std::mutex> lock(hosts_mutex_);
        hosts_.erase(it++);
      }
      dispatcher_.deferredDelete(std::make_unique<DeferredHost>(std::move(removed)));
    } else {
      ++it;
    }
  }
}

HostState& ClusterView::stateFor(const HostConfig& host) {
  for (const StateCacheEntry& entry : state_cache_) {
    if (entry.config == &host && entry.state->pool.host().address == host.address) {
      return *entry.state;
    }
  }
  auto it = hosts_.find(host.address);
  if (it != hosts_.end()) {
    state_cache_[state_cache_next_++ % state_cache_.size()] = {&host, it->second.get()};
    return *it->second;
  }
  auto state = std::make_unique<HostState>(dispatcher_, host, pool_options_, health_options_);
  std::string address = host.address;
  HostState* raw = state.get();
  state->on_event = [this, address, raw](HostEvent event) {
    if (event == HostEvent::kRecovered) invalidateDirty(*raw);
    if (host_event_handler_) host_event_handler_(address, event);
  };
  HostState& ref = *state;
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  hosts_.emplace(host.address, std::move(state));
  return ref;
}

void ClusterView::markDirty(const HostConfig& primary, const std::string& key) {
  HostState& state = stateFor(primary);
  if (state.dirty_keys.size() >= kMaxDirtyKeysPerHost) {
    if (!state.dirty_overflow) {
      logLine(LogLevel::kWarn, absl::StrCat("more than ", kMaxDirtyKeysPerHost,
                                            " keys written to the backup while ", primary.address,
                                            " is down; older copies on it may be stale"));
    }
    state.dirty_overflow = true;
    return;
  }
  state.dirty_keys.insert(key);
}

void ClusterView::setProbeResult(const std::string& address, bool up) {
  auto it = hosts_.find(address);
  if (it == hosts_.end()) return;  // this worker never used the host: nothing to update.
  HostState& state = *it->second;
  if (!up) {
    if (state.health.forceEject(dispatcher_.now())) {
      state.stats.ejections.inc();
      if (state.on_event) state.on_event(HostEvent::kEjected);
    }
    return;
  }
  state.onUpstreamSuccess();  // recovers (and invalidates dirty keys) if it was ejected.
}

void ClusterView::invalidateDirty(HostState& state) {
  if (state.dirty_keys.empty()) return;
  logLine(LogLevel::kInfo, absl::StrCat("server ", state.pool.host().address, " recovered: deleting ",
                                        state.dirty_keys.size(),
                                        " keys written to the backup while it was down"));
  absl::flat_hash_set<std::string> keys;
  keys.swap(state.dirty_keys);
  state.dirty_overflow = false;
  ProxyCounters* counters = &counters_;
  for (const auto& key : keys) {
    Request del;
    del.command = Command::kDelete;
    del.keys.push_back(key);
    state.pool.send(del, [counters](Response&& r) {
      if (r.type == ResponseType::kDeleted || r.type == ResponseType::kNotFound) {
        counters->dirty_invalidations.inc();
      }
    });
  }
}

bool ClusterView::available(const HostConfig& host) {
  return stateFor(host).health.available(dispatcher_.now());
}

const HostConfig* ClusterView::routeFor(absl::string_view key) {
  const HostConfig& primary = snapshot_->primaryFor(key);
  if (available(primary)) return &primary;
  if (snapshot_->config().eject_policy == EjectPolicy::kBackup) return nullptr;
  return rehashedPrimaryFor(key);
}

const HostConfig* ClusterView::rehashedPrimaryFor(absl::string_view key) {
  std::string excluded;
  for (const auto& h : snapshot_->config().primaries) {
    if (h.state == NodeState::kActive && !available(h)) absl::StrAppend(&excluded, h.address, ",");
  }
  if (rehash_snapshot_ != snapshot_.get() || excluded != rehash_excluded_) {
    rehash_snapshot_ = snapshot_.get();
    rehash_excluded_ = excluded;
    rehash_hosts_.clear();
    for (const auto& h : snapshot_->config().primaries) {
      if (h.state == NodeState::kActive && excluded.find(h.address + ",") == std::string::npos) {
        rehash_hosts_.push_back(h);
      }
    }
    rehash_ring_.reset();
    if (!rehash_hosts_.empty()) {
      auto ring = ketama::KetamaRing::build(toRingServers(rehash_hosts_));
      if (ring.ok()) rehash_ring_ = std::make_unique<ketama::KetamaRing>(std::move(*ring));
    }
  }
  if (rehash_ring_ == nullptr) return nullptr;
  // Point into the snapshot (which requests pin), not into this cache (rebuilt at any time).
  const std::string& address = rehash_hosts_[rehash_ring_->serverIndexFor(key)].address;
  for (const auto& h : snapshot_->config().primaries) {
    if (h.address == address) return &h;
  }
  return nullptr;
}

Cancellable* ClusterView::send(const HostConfig& host, const Request& request,
                               ResponseCallback callback, uint64_t affinity) {
  return stateFor(host).pool.send(request, std::move(callback), affinity);
}

}  // namespace mcmesh::upstream
