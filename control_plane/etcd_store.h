// EtcdTopologyStore: the topology in etcd, shared by every control-plane replica on one prefix.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "control_plane/etcd_client.h"
#include "control_plane/stream_loop.h"
#include "control_plane/store.h"
#include "grpcpp/client_context.h"

namespace mcmesh {
namespace control_plane {

/**
 * Keeps the whole topology as one text-format value at "<prefix>topology". Its mod revision is
 * the store revision: saveIfRevision() is one Txn that puts only if the key's mod revision is
 * still the one read, so two replicas changing the topology at once never lose a change (one
 * commits, the other gets ABORTED and TopologyService retries it on the new state).
 *
 * watch() runs one thread holding a Watch stream on the key from the last revision it saw, so a
 * reconnect (member died, leader lost) misses nothing; if etcd compacted that revision away, it
 * re-reads the key instead. Deletions of the key are logged and ignored: the last good topology
 * stays. outOfSyncFor() says how long no watch stream has been established (a member that lost
 * its leader cancels the stream, so this also covers a replica cut off from the quorum).
 */
class EtcdTopologyStore : public TopologyStore {
public:
  /** @param client shared with other users of the same etcd (e.g. EtcdProxyDirectory). */
  explicit EtcdTopologyStore(std::shared_ptr<EtcdClient> client);
  ~EtcdTopologyStore() override;

  // TopologyStore
  absl::StatusOr<mcmesh::v1::Topology> load() override;
  absl::Status save(const mcmesh::v1::Topology& topology) override;
  absl::StatusOr<StoredTopology> read() override;
  absl::StatusOr<int64_t> saveIfRevision(const mcmesh::v1::Topology& topology,
                                         int64_t revision) override;
  void watch(int64_t revision, ChangeCallback callback) override;
  void stopWatching() override;
  absl::Duration outOfSyncFor() const override;

private:
  void watchLoop();
  // One Watch stream from open to close. @return true if it delivered anything.
  bool watchOnce();
  // After a compaction: reads the key and delivers it if it is newer than what we have.
  void resync();
  void deliver(const std::string& value, int64_t mod_revision);

  const std::shared_ptr<EtcdClient> client_;
  const std::string key_;
  ChangeCallback callback_;
  // The newest revision delivered (or read): the watch restarts after it.
  int64_t last_revision_ = 0;
  // Unix micros since when no watch stream has been established; 0 while one is.
  std::atomic<int64_t> out_of_sync_since_us_{0};
  StreamLoop loop_;
};

/** Serialises a topology as the etcd store keeps it (text format: readable with etcdctl). */
std::string topologyToStoreValue(const mcmesh::v1::Topology& topology);

} // namespace control_plane
} // namespace mcmesh
