// ClusterView: snapshot swaps, host state lifetime and health-aware routing.
#include "proxy/upstream/cluster_view.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "proxy/log.h"
#include "proxy/replication/dirty_journal.h"

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

void HostState::onUpstreamSuccess(RequestClass c) {
  if (recovering) return;  // recovery decides (ClusterView::onRecoveryDone).
  if (readmit_by_recovery_only && health.ejected()) return;
  if (health.recordSuccess(c)) {
    stats.recoveries.inc();
    if (on_event) on_event(HostEvent::kRecovered);
  }
}

void HostState::onRecovered() {
  if (recovering) return;
  if (health.recover()) {
    stats.recoveries.inc();
    if (on_event) on_event(HostEvent::kRecovered);
  }
}

void HostState::onUpstreamDesync() {
  if (health.forceEject(dispatcher.now())) {
    stats.ejections.inc();
    if (on_event) on_event(HostEvent::kEjected);
  }
}

void HostState::onUpstreamFailure(RequestClass c) {
  if (health.recordFailure(dispatcher.now(), c)) {
    stats.ejections.inc();
    if (on_event) on_event(HostEvent::kEjected);
  }
}

ClusterView::~ClusterView() { shutdown(); }

void ClusterView::shutdown() {
  closing_ = true;
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
                         HealthOptions health_options,
                         replication::ReplicationOptions replication_options)
    : dispatcher_(dispatcher), pool_options_(pool_options), health_options_(health_options),
      replication_(replication_options) {}

void ClusterView::setSnapshot(ClusterSnapshotConstSharedPtr snapshot) {
  snapshot_ = std::move(snapshot);
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
      it->second->readmit_by_recovery_only =
          health_options_.readmit_primaries_by_recovery && needsRecovery(it->second->pool.host());
      ++it;
    }
  }
}

void ClusterView::setAddresses(AddressTableConstSharedPtr addresses) {
  addresses_ = std::move(addresses);
  for (auto& [address, state] : hosts_) {
    auto it = addresses_->find(address);
    if (it != addresses_->end()) state->pool.setAddress(it->second);
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
  if (addresses_ != nullptr) {
    auto named = addresses_->find(host.address);
    if (named != addresses_->end()) state->pool.setAddress(named->second);
  }
  state->readmit_by_recovery_only =
      health_options_.readmit_primaries_by_recovery && needsRecovery(host);
  std::string address = host.address;
  state->on_event = [this, address](HostEvent event) {
    if (event == HostEvent::kRecovered) replication_.missPolicy().openWindow(address, now());
    if (host_event_handler_) host_event_handler_(address, event);
  };
  HostState& ref = *state;
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  hosts_.emplace(host.address, std::move(state));
  return ref;
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
  if (!state.health.ejected()) return;
  const HostConfig& host = state.pool.host();
  if (needsRecovery(host)) {
    startRecovery(state, host);
  } else {
    state.onRecovered();
  }
}

bool ClusterView::needsRecovery(const HostConfig& host) const {
  // Only a primary whose keys fail over to a backup can hold copies that a failover write made
  // stale (EjectPolicy::kRehash moves its keys to other primaries, as twemproxy does).
  return snapshot_ != nullptr && snapshot_->hasBackup() && !snapshot_->isBackup(host.address) &&
         snapshot_->config().eject_policy == EjectPolicy::kBackup;
}

void ClusterView::startRecovery(HostState& state, const HostConfig& host) {
  if (state.recovering) return;
  state.recovering = true;
  std::string address = host.address;
  replication::journalDrain(*this, snapshot_, host, replication::DrainMode::kRecover,
                            [this, address](bool ok, size_t) { onRecoveryDone(address, ok); });
}

void ClusterView::onRecoveryDone(const std::string& address, bool ok) {
  if (closing_) return;
  auto it = hosts_.find(address);
  if (it == hosts_.end()) return;  // removed from the topology meanwhile.
  HostState& state = *it->second;
  state.recovering = false;
  if (ok) {
    state.onRecovered();
  } else if (state.health.forceEject(dispatcher_.now())) {
    state.stats.ejections.inc();
    if (state.on_event) state.on_event(HostEvent::kEjected);
  }
}

bool ClusterView::available(const HostConfig& host) {
  HostState& state = stateFor(host);
  if (!state.health.ejected()) return true;
  if (dispatcher_.now() < state.health.retryAt()) return false;
  if (!needsRecovery(host)) return true;  // half-open: the next request is the probe.
  startRecovery(state, host);
  return false;
}

Cancellable* ClusterView::send(const HostConfig& host, const Request& request,
                               ResponseCallback callback, uint64_t affinity) {
  if (closing_) {
    callback(Response::upstreamFailure("shutting down"));
    return nullptr;
  }
  return stateFor(host).pool.send(request, std::move(callback), affinity);
}

}  // namespace mcmesh::upstream
