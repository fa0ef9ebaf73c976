// PrefixRouteTable: key prefix -> server group (each with its own ketama ring), from filter config.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxy/routing/ketama_ring.h"
#include "proxy/filter_registry.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace custom_filter::key_prefix_router {

inline constexpr char kPrefixOption[] = "prefix.";

// The servers for one key prefix and their continuum.
struct PrefixGroup {
  std::string prefix;
  std::vector<mcmesh::upstream::HostConfig> hosts;
  mcmesh::ketama::KetamaRing ring;  // same hashing as the cluster's ring (nutcracker ketama).
};

/**
 * Parses "host:port[:weight],host:port[:weight],..." (IPv6 as "[::1]:port[:weight]").
 * @return INVALID_ARGUMENT for an empty list, a bad entry or a server listed twice.
 */
absl::StatusOr<std::vector<mcmesh::upstream::HostConfig>> parseServerList(absl::string_view list);

/**
 * Immutable after create(): built once per chain on the main thread and read by every worker.
 * Keys that match no prefix go to the cluster's own ring (the caller's job: groupFor is null).
 */
class PrefixRouteTable {
 public:
  /**
   * Builds the table from options "prefix.<key prefix>" = "<server list>".
   * @return INVALID_ARGUMENT naming the option for an unknown option, an empty or unusable
   *         prefix, a bad server list, or a config with no prefix at all.
   */
  static absl::StatusOr<std::shared_ptr<const PrefixRouteTable>> create(
      const mcmesh::FilterConfigMap& config);

  /** @return the group with the longest prefix of `key`, or null (use the cluster's ring). */
  const PrefixGroup* groupFor(absl::string_view key) const;
  /** @return the server owning `key` on `group`'s ring. */
  const mcmesh::upstream::HostConfig& hostFor(const PrefixGroup& group,
                                              absl::string_view key) const;
  /** Groups, longest prefix first. */
  const std::vector<PrefixGroup>& groups() const { return groups_; }

 private:
  PrefixRouteTable() = default;
  // A linear scan, longest first: tables hold a handful of prefixes, and scanning a few short
  // strings beats a trie's pointer chasing at that size.
  std::vector<PrefixGroup> groups_;
};
using PrefixRouteTableConstSharedPtr = std::shared_ptr<const PrefixRouteTable>;

}  // namespace custom_filter::key_prefix_router
