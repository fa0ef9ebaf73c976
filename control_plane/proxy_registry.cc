// Implements ProxyRegistry: per-proxy applied version, last NACK and connection state.
#include "control_plane/proxy_registry.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mcmesh {
namespace control_plane {
namespace {

void touch(mcmesh::v1::ProxyStatus& status) {
  const int64_t nanos = absl::ToUnixNanos(absl::Now());
  status.mutable_last_seen()->set_seconds(nanos / 1000000000);
  status.mutable_last_seen()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

} // namespace

uint64_t ProxyRegistry::connected(const std::string& id, const std::string& cluster,
                                  const std::string& peer, uint64_t applied_version) {
  absl::MutexLock lock(&mutex_);
  Entry& entry = proxies_[id];
  ++totals_.streams;
  entry.generation = next_generation_++;
  entry.status.set_id(id);
  entry.status.set_cluster(cluster);
  entry.status.set_peer(peer);
  entry.status.set_connected(true);
  entry.status.set_applied_version(applied_version);
  touch(entry.status);
  return entry.generation;
}

ProxyRegistry::Entry* ProxyRegistry::ownedEntry(const std::string& id, uint64_t generation) {
  auto it = proxies_.find(id);
  if (it == proxies_.end() || it->second.generation != generation) {
    return nullptr;
  }
  touch(it->second.status);
  return &it->second;
}

void ProxyRegistry::sent(const std::string& id, uint64_t generation, uint64_t version) {
  absl::MutexLock lock(&mutex_);
  ++totals_.pushes;
  if (Entry* entry = ownedEntry(id, generation)) {
    entry->status.set_sent_version(version);
  }
}

void ProxyRegistry::acked(const std::string& id, uint64_t generation, uint64_t version) {
  absl::MutexLock lock(&mutex_);
  ++totals_.acks;
  if (Entry* entry = ownedEntry(id, generation)) {
    entry->status.set_applied_version(version);
  }
}

void ProxyRegistry::nacked(const std::string& id, uint64_t generation, uint64_t applied_version,
                           uint64_t nacked_version, const std::string& reason) {
  absl::MutexLock lock(&mutex_);
  ++totals_.nacks;
  if (Entry* entry = ownedEntry(id, generation)) {
    entry->status.set_applied_version(applied_version);
    entry->status.set_last_nack_version(nacked_version);
    entry->status.set_last_nack_reason(reason);
  }
}

void ProxyRegistry::disconnected(const std::string& id, uint64_t generation) {
  absl::MutexLock lock(&mutex_);
  if (Entry* entry = ownedEntry(id, generation)) {
    entry->status.set_connected(false);
  }
}

ProxyRegistry::Totals ProxyRegistry::totals() const {
  absl::MutexLock lock(&mutex_);
  return totals_;
}

std::vector<mcmesh::v1::ProxyStatus> ProxyRegistry::list() const {
  absl::MutexLock lock(&mutex_);
  std::vector<mcmesh::v1::ProxyStatus> result;
  result.reserve(proxies_.size());
  for (const auto& entry : proxies_) {
    result.push_back(entry.second.status);
  }
  return result;
}

} // namespace control_plane
} // namespace mcmesh
