// The TopologyStore interface: where the control plane persists its topology between restarts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/mcmesh/v1/topology.pb.h"

namespace mcmesh {
namespace control_plane {

/** A topology as the store holds it, with the store's revision of it. */
struct StoredTopology {
  mcmesh::v1::Topology topology;
  // Opaque to callers except for ordering: a later commit has a larger revision. 0 = absent.
  int64_t revision = 0;
};

/**
 * Durable storage for the whole topology. Implementations: FileTopologyStore (embedded default,
 * one writer) and EtcdTopologyStore (shared by several control-plane replicas). Not required to
 * be thread-safe except for the watch callback: TopologyService serialises its calls.
 *
 * The revision-checked calls (read, saveIfRevision, watch) are what several writers need; their
 * defaults suit a store with exactly one writer, which can never lose a race.
 */
class TopologyStore {
public:
  /** Called from the store's own thread with each topology another writer committed. */
  using ChangeCallback = std::function<void(const StoredTopology&)>;

  virtual ~TopologyStore() = default;

  /**
   * @return the last saved topology, NOT_FOUND if nothing was ever saved, or another error if the
   *         stored data cannot be read (never silently an empty topology).
   */
  virtual absl::StatusOr<mcmesh::v1::Topology> load() = 0;

  /**
   * Saves the topology durably and atomically: after OK a crash keeps this version; after an
   * error, load() still returns the previous one.
   */
  virtual absl::Status save(const mcmesh::v1::Topology& topology) = 0;

  /** load() with the revision to base a saveIfRevision() on. NOT_FOUND as load(). */
  virtual absl::StatusOr<StoredTopology> read() {
    absl::StatusOr<mcmesh::v1::Topology> topology = load();
    if (!topology.ok()) {
      return topology.status();
    }
    const int64_t revision = static_cast<int64_t>(topology->version());
    return StoredTopology{*std::move(topology), revision};
  }

  /**
   * Saves only if the stored topology is still the one read at `revision` (0: only if nothing is
   * stored), as save() otherwise.
   * @return the new revision; ABORTED if another writer committed first (nothing saved);
   *         UNAVAILABLE if the store cannot be reached.
   */
  virtual absl::StatusOr<int64_t> saveIfRevision(const mcmesh::v1::Topology& topology,
                                                 int64_t revision) {
    (void)revision; // Nobody else writes: the stored topology is always the one read.
    absl::Status status = save(topology);
    if (!status.ok()) {
      return status;
    }
    // As read() does: with one writer, the version itself orders the commits.
    return static_cast<int64_t>(topology.version());
  }

  /**
   * Reports, through `callback`, every topology committed after `revision` by any writer (the
   * caller's own commits included; it ignores those it already has), until stopWatching(). A
   * store with one writer has nothing to report.
   */
  virtual void watch(int64_t revision, ChangeCallback callback) {
    (void)revision;
    (void)callback;
  }
  /** After it returns the callback is not running and will not be called again. */
  virtual void stopWatching() {}

  /**
   * How long the watch has been unable to follow the store (zero while it follows it): for that
   * long this control plane may have missed others' commits. Thread-safe. A store with one
   * writer is always in sync.
   */
  virtual absl::Duration outOfSyncFor() const { return absl::ZeroDuration(); }
};

using TopologyStorePtr = std::unique_ptr<TopologyStore>;

} // namespace control_plane
} // namespace mcmesh
