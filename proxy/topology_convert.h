// Converts the control plane's mcmesh.v1.Topology (or a --config file) into a ClusterConfig.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "api/mcmesh/v1/topology.pb.h"
#include "proxy/options.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace mcmesh {

/**
 * Picks cluster `name` from `topology`. REMOVED nodes are left out; DRAINING ones are kept (the
 * ring skips them, warm-up reads still use them). Options supply what the topology leaves
 * unspecified. Errors (unknown cluster, bad address) become NACK reasons.
 */
absl::StatusOr<upstream::ClusterConfig> clusterConfigFromTopology(
    const v1::Topology& topology, const std::string& name, const Options& defaults);

/** Reads a text-format mcmesh.v1.Topology file. */
absl::StatusOr<v1::Topology> readTopologyFile(const std::string& path);

}  // namespace mcmesh
