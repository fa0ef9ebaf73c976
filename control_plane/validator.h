// Structural validation of topology snapshots, shared by the control plane and the proxy.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/mcmesh/v1/topology.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace mcmesh {
namespace control_plane {

/**
 * Checks that a topology is well formed: unique non-empty cluster names; every node has a valid
 * "host:port" address (IPv4, bracketed IPv6 or hostname; port 1..65535), a weight > 0 and a set
 * state; no address appears twice in a cluster (across primary and backup); every primary pool
 * has at least one ACTIVE node; warm-up windows are non-negative; filters have names. Filter
 * names are not checked against a registry: the proxy does that and NACKs unknown filters.
 * @param topology the snapshot to check.
 * @return OK, or INVALID_ARGUMENT listing every problem found ("; "-separated).
 */
absl::Status validateTopology(const mcmesh::v1::Topology& topology);

/**
 * Checks a filter chain that an admin call (CreateCluster, SetFilters) is about to store: every
 * filter name is non-empty and an identifier ([a-z0-9_]+) and every option key is non-empty.
 * Kept out of validateTopology() so that stores and bootstrap files written before these rules
 * keep loading. Whether the chain can be built stays the proxy's call (it NACKs).
 * @param cluster the cluster name, for the messages.
 * @return OK, or INVALID_ARGUMENT listing every problem found ("; "-separated).
 */
absl::Status
validateFilterChain(absl::string_view cluster,
                    const google::protobuf::RepeatedPtrField<mcmesh::v1::FilterConfig>& filters);

/** @return true if name is a valid filter name: one or more of [a-z0-9_]. */
bool isFilterName(absl::string_view name);

/**
 * Checks one node address.
 * @param address "host:port"; IPv6 literals must be bracketed ("[::1]:11211").
 * @return OK, or INVALID_ARGUMENT saying what is wrong with it.
 */
absl::Status validateAddress(absl::string_view address);

/**
 * Finds a cluster by name; used by admin calls and by a proxy looking for the cluster it serves.
 * @return the cluster (owned by topology), or INVALID_ARGUMENT "unknown cluster".
 */
absl::StatusOr<const mcmesh::v1::Cluster*> findCluster(const mcmesh::v1::Topology& topology,
                                                       absl::string_view name);

/** @return the address in the form used to detect duplicates (lower-cased host). */
std::string canonicalAddress(absl::string_view address);

} // namespace control_plane
} // namespace mcmesh
