// PrefixRouteTable: option parsing, server lists, ring building and longest-prefix lookup.
#include "key_prefix_router/prefix_routes.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace custom_filter::key_prefix_router {
namespace {

using mcmesh::upstream::HostConfig;

// "host:port", "host:port:weight", "[v6]:port" or "[v6]:port:weight".
absl::StatusOr<HostConfig> parseServer(absl::string_view entry) {
  size_t after_host = entry.empty() || entry.front() != '[' ? 0 : entry.find(']');
  if (after_host == absl::string_view::npos) after_host = 0;
  absl::string_view address = entry;
  uint32_t weight = 1;
  size_t colons = std::count(entry.begin() + after_host, entry.end(), ':');
  if (colons == 2) {
    size_t last = entry.rfind(':');
    if (!absl::SimpleAtoi(entry.substr(last + 1), &weight) || weight == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad weight in '", entry, "': expected a positive integer"));
    }
    address = entry.substr(0, last);
  }
  auto host = mcmesh::upstream::parseHostAddress(address);
  if (!host.ok()) return host.status();
  host->weight = weight;
  return host;
}

}  // namespace

absl::StatusOr<std::vector<HostConfig>> parseServerList(absl::string_view list) {
  std::vector<HostConfig> hosts;
  std::set<std::string> seen;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    auto host = parseServer(entry);
    if (!host.ok()) return host.status();
    if (!seen.insert(host->address).second) {
      return absl::InvalidArgumentError(absl::StrCat("server '", host->address, "' listed twice"));
    }
    hosts.push_back(std::move(*host));
  }
  if (hosts.empty()) {
    return absl::InvalidArgumentError("empty server list: expected host:port[:weight],...");
  }
  return hosts;
}

absl::StatusOr<PrefixRouteTableConstSharedPtr> PrefixRouteTable::create(
    const mcmesh::FilterConfigMap& config) {
  std::shared_ptr<PrefixRouteTable> table(new PrefixRouteTable());
  for (const auto& [option, value] : config) {
    if (!absl::StartsWith(option, kPrefixOption)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown option '", option, "' (expected 'prefix.<key prefix>' = 'host:port,...')"));
    }
    std::string prefix = option.substr(sizeof(kPrefixOption) - 1);
    if (prefix.empty()) {
      return absl::InvalidArgumentError(
          "option 'prefix.' has an empty prefix; keys matching no prefix already use the "
          "cluster's servers");
    }
    // memcached keys never contain whitespace or control characters: such a prefix never matches.
    if (std::any_of(prefix.begin(), prefix.end(),
                    [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option '", option, "': a key prefix cannot contain spaces or control characters"));
    }
    auto hosts = parseServerList(value);
    if (!hosts.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("option '", option, "': ", hosts.status().message()));
    }
    auto ring = mcmesh::ketama::KetamaRing::build(mcmesh::upstream::toRingServers(*hosts));
    if (!ring.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("option '", option, "': ", ring.status().message()));
    }
    table->groups_.push_back(PrefixGroup{std::move(prefix), std::move(*hosts), std::move(*ring)});
  }
  if (table->groups_.empty()) {
    return absl::InvalidArgumentError(
        "needs at least one 'prefix.<key prefix>' = 'host:port,...' option (set options through "
        "--config or the control plane; --filter_chain names filters without options)");
  }
  std::stable_sort(table->groups_.begin(), table->groups_.end(),
                   [](const PrefixGroup& a, const PrefixGroup& b) {
                     return a.prefix.size() > b.prefix.size();
                   });
  return PrefixRouteTableConstSharedPtr(std::move(table));
}

const PrefixGroup* PrefixRouteTable::groupFor(absl::string_view key) const {
  for (const PrefixGroup& group : groups_) {
    if (absl::StartsWith(key, group.prefix)) return &group;
  }
  return nullptr;
}

const mcmesh::upstream::HostConfig& PrefixRouteTable::hostFor(const PrefixGroup& group,
                                                              absl::string_view key) const {
  return group.hosts[group.ring.serverIndexFor(key)];
}

}  // namespace custom_filter::key_prefix_router
