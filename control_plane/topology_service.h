// TopologyService: the control plane's single source of truth (validate, persist, then publish).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/mcmesh/v1/admin.pb.h"
#include "api/mcmesh/v1/topology.pb.h"
#include "control_plane/store.h"

namespace mcmesh {
namespace control_plane {

using TopologyConstSharedPtr = std::shared_ptr<const mcmesh::v1::Topology>;

/**
 * Owns the current topology. Changes run one at a time: copy the current topology, apply the
 * change, bump the version, validate (INVALID_ARGUMENT and nothing changed on failure), persist
 * to the store only if it still holds the topology the change started from (error and nothing
 * changed on failure), then publish to subscribers. A change that leaves the topology identical
 * is a no-op: no new version, no push.
 *
 * With a store shared by several control planes (etcd), another replica may commit between our
 * read and our save: the store answers ABORTED, and the change is applied again to the newer
 * topology, up to kMaxAttempts times. Commits by other replicas arrive through the store's watch
 * and are published like local ones, so every replica pushes every version.
 */
class TopologyService {
public:
  /** Called with each newly published snapshot, under the service's lock: be quick, and never
   *  call back into the service. */
  using Subscriber = std::function<void(const TopologyConstSharedPtr&)>;
  /** Edits a copy of the topology; returning non-OK abandons the change with that status. */
  using Mutation = std::function<absl::Status(mcmesh::v1::Topology&)>;

  /**
   * Loads the store; if it holds nothing (NOT_FOUND: no file, no key), starts from bootstrap
   * (saved at once, version >= 1) or from an empty topology at version 0. Fails if the store is
   * unreadable, empty, truncated or corrupt (never read as empty), or its content or the
   * bootstrap does not validate.
   */
  static absl::StatusOr<std::unique_ptr<TopologyService>>
  create(TopologyStore& store, const mcmesh::v1::Topology* bootstrap = nullptr);
  /** Stops watching the store. */
  ~TopologyService();

  /** How many times a change is tried against a store that other replicas keep changing. */
  static constexpr int kMaxAttempts = 20;

  /** @return the current snapshot (never null). */
  TopologyConstSharedPtr snapshot() const;

  /** How long the store's watch has been down (TopologyStore::outOfSyncFor()). Thread-safe. */
  absl::Duration storeOutOfSyncFor() const { return store_.outOfSyncFor(); }

  /**
   * Applies a change (see class comment).
   * @param description one line for the log, e.g. "add-node web primary 10.0.0.1:11211".
   * @return the published snapshot (or the unchanged one for a no-op).
   */
  absl::StatusOr<TopologyConstSharedPtr> update(const std::string& description,
                                                const Mutation& mutation);

  // Admin operations, each a Mutation over update(). PoolKind UNSPECIFIED means PRIMARY.
  /** Adds a cluster; its filter chain must pass validateFilterChain() as in setFilters(). */
  absl::StatusOr<TopologyConstSharedPtr> createCluster(const mcmesh::v1::Cluster& cluster);
  absl::StatusOr<TopologyConstSharedPtr> addNode(const std::string& cluster,
                                                 mcmesh::v1::PoolKind pool,
                                                 const std::string& address, uint32_t weight);
  absl::StatusOr<TopologyConstSharedPtr>
  drainNode(const std::string& cluster, mcmesh::v1::PoolKind pool, const std::string& address);
  absl::StatusOr<TopologyConstSharedPtr>
  removeNode(const std::string& cluster, mcmesh::v1::PoolKind pool, const std::string& address);
  absl::StatusOr<TopologyConstSharedPtr> setWeight(const std::string& cluster,
                                                   mcmesh::v1::PoolKind pool,
                                                   const std::string& address, uint32_t weight);
  absl::StatusOr<TopologyConstSharedPtr> setBackup(const std::string& cluster,
                                                   const mcmesh::v1::Pool& backup);
  /**
   * Replaces a cluster's whole filter chain; an empty chain means the proxy's default chain.
   * Names must be identifiers and option keys non-empty (validateFilterChain()); everything else
   * (known filter, valid options, router last) is checked by the proxy, which NACKs.
   */
  absl::StatusOr<TopologyConstSharedPtr>
  setFilters(const std::string& cluster,
             const google::protobuf::RepeatedPtrField<mcmesh::v1::FilterConfig>& filters);

  /**
   * Starts a new epoch (Topology.epoch) so that proxies running a higher version accept this
   * topology (a deliberate reset; see snapshot_order.h).
   * @param epoch the new epoch, above the current one; 0 = the current one + 1.
   * @return INVALID_ARGUMENT if `epoch` is not above the current epoch.
   */
  absl::StatusOr<TopologyConstSharedPtr> resetEpoch(uint64_t epoch);

  /**
   * Registers a subscriber; it is not called with the current snapshot (read snapshot() after
   * subscribing to avoid missing a version).
   * @return an id for unsubscribe().
   */
  uint64_t subscribe(Subscriber subscriber);
  /** After it returns, the subscriber is not running and will not be called again. */
  void unsubscribe(uint64_t id);

private:
  TopologyService(TopologyStore& store, TopologyConstSharedPtr initial, int64_t revision);

  // A topology committed by anyone (watch, or a re-read after losing a race): installs and
  // publishes it if it is newer than the current one, after validating it.
  void adopt(const StoredTopology& stored, const char* source);
  // Installs `next` if `revision` is newer than the current one; calls subscribers.
  // @return false if it was not newer (nothing changed).
  bool installLocked(TopologyConstSharedPtr next, int64_t revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  TopologyStore& store_;
  // Serialises changes (held across store calls, which may take a network round trip), so
  // mutex_ below is never held while waiting on the store.
  absl::Mutex update_mutex_ ABSL_ACQUIRED_BEFORE(mutex_);
  mutable absl::Mutex mutex_;
  TopologyConstSharedPtr current_ ABSL_GUARDED_BY(mutex_);
  // The store's revision of current_.
  int64_t revision_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_subscriber_id_ ABSL_GUARDED_BY(mutex_) = 1;
};

using TopologyServicePtr = std::unique_ptr<TopologyService>;

/** @return "PRIMARY"/"BACKUP" for logs and messages. */
const char* poolName(mcmesh::v1::PoolKind pool);

} // namespace control_plane
} // namespace mcmesh
