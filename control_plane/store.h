// The TopologyStore interface: where the control plane persists its topology between restarts.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/mcmesh/v1/topology.pb.h"

namespace mcmesh {
namespace control_plane {

/**
 * Durable storage for the whole topology. Implementations: FileTopologyStore (embedded default);
 * a replicated store (etcd) can implement the same interface later. Not required to be
 * thread-safe: TopologyService serialises calls.
 */
class TopologyStore {
public:
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
};

using TopologyStorePtr = std::unique_ptr<TopologyStore>;

} // namespace control_plane
} // namespace mcmesh
