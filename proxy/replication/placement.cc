// Placement: health-aware routing of a key to a primary (see placement.h).
#include "proxy/replication/placement.h"

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace mcmesh::replication {

const upstream::HostConfig* Placement::routeFor(Upstreams& upstreams, absl::string_view key) {
  const upstream::ClusterSnapshot& snapshot = *upstreams.snapshotPtr();
  const upstream::HostConfig& primary = snapshot.primaryFor(key);
  if (upstreams.available(primary)) return &primary;
  if (snapshot.config().eject_policy == upstream::EjectPolicy::kBackup) return nullptr;
  return rehashedPrimaryFor(upstreams, key);
}

const upstream::HostConfig* Placement::routeOf(Upstreams& upstreams, Request& request) {
  if (request.keys.size() != 1) return nullptr;
  const uint64_t snapshot_id = upstreams.snapshotPtr()->id();
  // Not md5 (ketama's hash, the costly part of placing a key): a cheap check that keys[0] is
  // still the key that was placed.
  const uint64_t key_hash = absl::HashOf(request.keys[0]);
  RequestRoute& route = request.route;
  if (route.snapshot_id != snapshot_id || route.key_hash != key_hash) {
    route.primary = routeFor(upstreams, request.keys[0]);
    route.snapshot_id = snapshot_id;
    route.key_hash = key_hash;
  }
  return route.primary;
}

const upstream::HostConfig* Placement::rehashedPrimaryFor(Upstreams& upstreams,
                                                          absl::string_view key) {
  const upstream::ClusterSnapshot* snapshot = upstreams.snapshotPtr().get();
  std::string excluded;
  for (const auto& h : snapshot->config().primaries) {
    if (h.state == upstream::NodeState::kActive && !upstreams.available(h)) {
      absl::StrAppend(&excluded, h.address, ",");
    }
  }
  if (rehash_snapshot_ != snapshot || excluded != rehash_excluded_) {
    rehash_snapshot_ = snapshot;
    rehash_excluded_ = excluded;
    rehash_hosts_.clear();
    for (const auto& h : snapshot->config().primaries) {
      if (h.state == upstream::NodeState::kActive &&
          excluded.find(h.address + ",") == std::string::npos) {
        rehash_hosts_.push_back(h);
      }
    }
    rehash_ring_.reset();
    if (!rehash_hosts_.empty()) {
      auto ring = ketama::KetamaRing::build(upstream::toRingServers(rehash_hosts_));
      if (ring.ok()) rehash_ring_ = std::make_unique<ketama::KetamaRing>(std::move(*ring));
    }
  }
  if (rehash_ring_ == nullptr) return nullptr;
  // Point into the snapshot (which requests pin), not into this cache (rebuilt at any time).
  const std::string& address = rehash_hosts_[rehash_ring_->serverIndexFor(key)].address;
  for (const auto& h : snapshot->config().primaries) {
    if (h.address == address) return &h;
  }
  return nullptr;
}

}  // namespace mcmesh::replication
