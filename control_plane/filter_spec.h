// Parses and prints mcmeshctl's filter syntax: "<name>[:<key>=<value>[,<key>=<value>...]]".
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/mcmesh/v1/topology.pb.h"

namespace mcmesh {
namespace control_plane {

/**
 * Parses one filter of a chain as typed on the command line, e.g. "stats" or
 * "backup_mirror:mode=sync,max_inflight=64". The name ends at the first ':', each option at the
 * next ',' and its key at its first '=', so values may hold ':' and '=' but not ','. The name must
 * be an identifier ([a-z0-9_]+, as the control plane requires), each option needs a non-empty key
 * and an '=', and a key may appear once. Whether the filter exists and accepts the options is the
 * proxy's call, not the parser's.
 * @return the filter, or INVALID_ARGUMENT saying what is wrong with spec.
 */
absl::StatusOr<mcmesh::v1::FilterConfig> parseFilterSpec(absl::string_view spec);

/**
 * @return the filter in parseFilterSpec()'s syntax with options sorted by key (protobuf maps have
 * no order), e.g. "backup_mirror:max_inflight=64,mode=sync".
 */
std::string formatFilterSpec(const mcmesh::v1::FilterConfig& filter);

} // namespace control_plane
} // namespace mcmesh
