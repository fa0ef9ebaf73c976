// Implements topology validation: addresses, weights, states, duplicates, non-empty primaries.
#include "control_plane/validator.h"

#include <arpa/inet.h>

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mcmesh {
namespace control_plane {
namespace {

using mcmesh::v1::Cluster;
using mcmesh::v1::Node;
using mcmesh::v1::Pool;
using mcmesh::v1::Topology;

// Protobuf's documented Duration range (about 10,000 years).
constexpr int64_t kMaxDurationSeconds = 315576000000;

bool isAllDigits(absl::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

// RFC 1123 hostname: dot-separated labels of letters, digits and '-', 1..63 chars each, not
// starting or ending with '-', 253 chars at most. A trailing dot (FQDN) is accepted.
absl::Status validateHostname(absl::string_view host) {
  if (host.back() == '.') {
    host.remove_suffix(1);
  }
  if (host.empty() || host.size() > 253) {
    return absl::InvalidArgumentError(absl::StrCat("host \"", host, "\" is not a valid hostname"));
  }
  bool all_numeric = true;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == absl::string_view::npos) {
      dot = host.size();
    }
    absl::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63) {
      return absl::InvalidArgumentError(
          absl::StrCat("host \"", host, "\" has an empty or over-long label"));
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("host \"", host, "\" has a label starting or ending with '-'"));
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return absl::InvalidArgumentError(absl::StrCat(
            "host \"", host, "\" contains invalid character '", std::string(1, c), "'"));
      }
    }
    all_numeric = all_numeric && isAllDigits(label);
    start = dot + 1;
  }
  // "999.1.1.1" or "10.1" look like IPv4 but are not valid dotted quads; refuse rather than let a
  // resolver guess.
  if (all_numeric) {
    return absl::InvalidArgumentError(
        absl::StrCat("host \"", host, "\" is not a valid IPv4 address"));
  }
  return absl::OkStatus();
}

// Appends one message per problem in the cluster to errors.
void validateCluster(const Cluster& cluster, std::vector<std::string>& errors) {
  const std::string where = absl::StrCat("cluster \"", cluster.name(), "\"");
  // canonical address -> pool it was first seen in.
  absl::flat_hash_map<std::string, const char*> seen;
  bool primary_has_active = false;

  auto check_pool = [&](const Pool& pool, const char* pool_name) {
    for (const Node& node : pool.nodes()) {
      const std::string node_where =
          absl::StrCat(where, " ", pool_name, " node \"", node.address(), "\"");
      absl::Status address_status = validateAddress(node.address());
      if (!address_status.ok()) {
        errors.push_back(absl::StrCat(node_where, ": bad address: ", address_status.message()));
      } else {
        auto inserted = seen.emplace(canonicalAddress(node.address()), pool_name);
        if (!inserted.second) {
          errors.push_back(absl::StrCat(where, ": duplicate node \"", node.address(), "\" (in ",
                                        inserted.first->second, " and ", pool_name, ")"));
        }
      }
      if (node.weight() == 0) {
        errors.push_back(absl::StrCat(node_where, ": weight must be > 0"));
      }
      switch (node.state()) {
      case mcmesh::v1::NODE_STATE_ACTIVE:
        if (&pool == &cluster.primary()) {
          primary_has_active = true;
        }
        break;
      case mcmesh::v1::NODE_STATE_DRAINING:
      case mcmesh::v1::NODE_STATE_REMOVED:
        break;
      case mcmesh::v1::NODE_STATE_UNSPECIFIED:
        errors.push_back(
            absl::StrCat(node_where, ": state is unset (want ACTIVE, DRAINING or REMOVED)"));
        break;
      default:
        errors.push_back(absl::StrCat(node_where, ": unknown state ", node.state()));
        break;
      }
    }
  };
  check_pool(cluster.primary(), "primary");
  check_pool(cluster.backup(), "backup");

  if (!primary_has_active) {
    errors.push_back(absl::StrCat(where, ": primary pool has no ACTIVE node"));
  }
  if (cluster.has_warmup_window()) {
    const auto& d = cluster.warmup_window();
    if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 ||
        d.seconds() > kMaxDurationSeconds) {
      errors.push_back(absl::StrCat(where, ": warmup_window must be a non-negative duration"));
    }
  }
  if (!mcmesh::v1::MirrorMode_IsValid(cluster.mirror_mode())) {
    errors.push_back(absl::StrCat(where, ": unknown mirror_mode ", cluster.mirror_mode()));
  }
  for (int i = 0; i < cluster.filters_size(); ++i) {
    if (cluster.filters(i).name().empty()) {
      errors.push_back(absl::StrCat(where, ": filter #", i, " has no name"));
    }
  }
}

} // namespace

absl::Status validateAddress(absl::string_view address) {
  if (address.empty()) {
    return absl::InvalidArgumentError("address is empty (want host:port)");
  }
  absl::string_view host;
  absl::string_view port;
  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("missing ']' after IPv6 address");
    }
    host = address.substr(1, close - 1);
    absl::string_view rest = address.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return absl::InvalidArgumentError("missing port (want [ipv6]:port)");
    }
    port = rest.substr(1);
    if (host.empty()) {
      return absl::InvalidArgumentError("host is empty");
    }
    in6_addr v6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("\"", host, "\" is not a valid IPv6 address"));
    }
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("missing port (want host:port)");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError("IPv6 addresses must be bracketed, e.g. [::1]:11211");
    }
    if (host.empty()) {
      return absl::InvalidArgumentError("host is empty (want host:port)");
    }
    in_addr v4;
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
      absl::Status hostname_status = validateHostname(host);
      if (!hostname_status.ok()) {
        return hostname_status;
      }
    }
  }
  uint32_t port_number = 0;
  if (!isAllDigits(port) || port.size() > 5 || !absl::SimpleAtoi(port, &port_number) ||
      port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port \"", port, "\" is not a number in 1..65535"));
  }
  return absl::OkStatus();
}

std::string canonicalAddress(absl::string_view address) { return absl::AsciiStrToLower(address); }

bool isFilterName(absl::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

absl::Status
validateFilterChain(absl::string_view cluster,
                    const google::protobuf::RepeatedPtrField<mcmesh::v1::FilterConfig>& filters) {
  const std::string where = absl::StrCat("cluster \"", cluster, "\"");
  std::vector<std::string> errors;
  for (int i = 0; i < filters.size(); ++i) {
    const mcmesh::v1::FilterConfig& filter = filters.Get(i);
    if (filter.name().empty()) {
      errors.push_back(absl::StrCat(where, ": filter #", i, " has no name"));
    } else if (!isFilterName(filter.name())) {
      errors.push_back(absl::StrCat(where, ": filter #", i, " name \"", filter.name(),
                                    "\" is not an identifier (want [a-z0-9_]+)"));
    }
    for (const auto& option : filter.config()) {
      if (option.first.empty()) {
        errors.push_back(
            absl::StrCat(where, ": filter #", i, " (", filter.name(), ") has an empty option key"));
      }
    }
  }
  if (errors.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

absl::Status validateTopology(const Topology& topology) {
  std::vector<std::string> errors;
  absl::flat_hash_set<std::string> names;
  for (const Cluster& cluster : topology.clusters()) {
    if (cluster.name().empty()) {
      errors.push_back("a cluster has an empty name");
    } else if (!names.insert(cluster.name()).second) {
      errors.push_back(absl::StrCat("duplicate cluster name \"", cluster.name(), "\""));
    }
    validateCluster(cluster, errors);
  }
  if (errors.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

absl::StatusOr<const mcmesh::v1::Cluster*> findCluster(const Topology& topology,
                                                       absl::string_view name) {
  for (const Cluster& cluster : topology.clusters()) {
    if (cluster.name() == name) {
      return &cluster;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown cluster \"", name, "\""));
}

} // namespace control_plane
} // namespace mcmesh
