// ClusterSnapshot construction and key lookups.
#include "proxy/upstream/cluster_snapshot.h"

#include <algorithm>
#include <atomic>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mcmesh::upstream {
namespace {

std::vector<HostConfig> activeOf(const std::vector<HostConfig>& hosts) {
  std::vector<HostConfig> out;
  for (const auto& h : hosts) {
    if (h.state == NodeState::kActive) out.push_back(h);
  }
  return out;
}

bool sameMembers(const std::vector<HostConfig>& a, const std::vector<HostConfig>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].address != b[i].address || a[i].weight != b[i].weight) return false;
  }
  return true;
}

absl::StatusOr<std::shared_ptr<const ketama::KetamaRing>> buildRing(
    const std::vector<HostConfig>& hosts) {
  auto ring = ketama::KetamaRing::build(toRingServers(hosts));
  if (!ring.ok()) return ring.status();
  return std::make_shared<const ketama::KetamaRing>(std::move(*ring));
}

}  // namespace

absl::StatusOr<HostConfig> parseHostAddress(absl::string_view address) {
  HostConfig out;
  out.address = std::string(address);
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad server address '", address, "': expected host:port"));
  }
  absl::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad server address '", address, "': port must be 1..65535"));
  }
  if (host.empty() || host.find_first_of(" \t/") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad server address '", address, "'"));
  }
  out.host = std::string(host);
  out.port = port;
  return out;
}

std::vector<ketama::RingServer> toRingServers(const std::vector<HostConfig>& hosts) {
  std::vector<ketama::RingServer> out;
  out.reserve(hosts.size());
  for (const auto& h : hosts) {
    ketama::RingServer s;
    s.host = h.host;
    s.port = h.port;
    s.weight = h.weight;
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<ClusterSnapshotConstSharedPtr> ClusterSnapshot::create(
    ClusterConfig config, const ClusterSnapshotConstSharedPtr& previous, absl::Time now) {
  std::set<std::string> seen;
  for (const auto* pool : {&config.primaries, &config.backups}) {
    for (const auto& h : *pool) {
      if (!seen.insert(h.address).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("server ", h.address, " is listed twice in cluster ", config.name));
      }
      if (h.weight == 0) {
        return absl::InvalidArgumentError(absl::StrCat("server ", h.address, " has weight 0"));
      }
    }
  }
  std::shared_ptr<ClusterSnapshot> snap(new ClusterSnapshot());
  static std::atomic<uint64_t> last_id{0};  // snapshots are built on several threads.
  snap->id_ = last_id.fetch_add(1, std::memory_order_relaxed) + 1;
  snap->active_primaries_ = activeOf(config.primaries);
  if (snap->active_primaries_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster ", config.name, " has no active primary server"));
  }
  auto primary_ring = buildRing(snap->active_primaries_);
  if (!primary_ring.ok()) return primary_ring.status();
  snap->primary_ring_ = std::move(*primary_ring);
  if (!config.backups.empty()) {
    auto backup_ring = buildRing(config.backups);
    if (!backup_ring.ok()) return backup_ring.status();
    snap->backup_ring_ = std::move(*backup_ring);
  }

  // Warm-up: when the active membership changes, remember the old ring so misses on a key's new
  // owner can be served (and copied) from its old owner. A drain keeps its window open until the
  // drained node is removed; an added node's window lasts warmup_window.
  bool draining = false;
  for (const auto& h : config.primaries) draining |= h.state == NodeState::kDraining;
  if (previous != nullptr) {
    for (const auto& w : previous->warm_rings_) {
      if (now >= w.deadline) continue;
      if (w.deadline == absl::InfiniteFuture() && !draining) continue;  // drained node removed
      snap->warm_rings_.push_back(w);
    }
    if (!sameMembers(previous->active_primaries_, snap->active_primaries_)) {
      WarmRing ring;
      ring.primaries = previous->active_primaries_;
      ring.ring = previous->primary_ring_;
      ring.deadline = draining ? absl::InfiniteFuture() : now + config.warmup_window;
      snap->warm_rings_.insert(snap->warm_rings_.begin(), std::move(ring));
      if (snap->warm_rings_.size() > kMaxWarmRings) snap->warm_rings_.resize(kMaxWarmRings);
    }
  }
  snap->config_ = std::move(config);
  return ClusterSnapshotConstSharedPtr(std::move(snap));
}

const HostConfig& ClusterSnapshot::primaryFor(absl::string_view key) const {
  return active_primaries_[primary_ring_->serverIndexFor(key)];
}

const HostConfig* ClusterSnapshot::backupFor(absl::string_view key) const {
  if (backup_ring_ == nullptr) return nullptr;
  return &config_.backups[backup_ring_->serverIndexFor(key)];
}

const HostConfig* ClusterSnapshot::previousOwnerFor(absl::string_view key, absl::Time now) const {
  if (warm_rings_.empty()) return nullptr;
  const std::string& owner = primaryFor(key).address;
  for (const auto& w : warm_rings_) {
    if (now >= w.deadline) continue;
    const HostConfig& old_owner = w.primaries[w.ring->serverIndexFor(key)];
    if (old_owner.address == owner) continue;
    // Only hosts still in the config (active or draining) can be read from.
    for (const auto& h : config_.primaries) {
      if (h.address == old_owner.address) return &h;
    }
  }
  return nullptr;
}

std::vector<const HostConfig*> ClusterSnapshot::allHosts() const {
  std::vector<const HostConfig*> out;
  for (const auto& h : config_.primaries) out.push_back(&h);
  for (const auto& h : config_.backups) out.push_back(&h);
  return out;
}

bool ClusterSnapshot::isBackup(const std::string& address) const {
  for (const auto& h : config_.backups) {
    if (h.address == address) return true;
  }
  return false;
}

}  // namespace mcmesh::upstream
