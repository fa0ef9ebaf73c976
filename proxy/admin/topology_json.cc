// renderTopologyJson: snapshot config plus per-host sums from Server::upstreamReports().
#include "proxy/admin/topology_json.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "proxy/admin/exposition.h"

namespace mcmesh::admin {
namespace {

const char* mirrorModeName(upstream::MirrorMode mode) {
  switch (mode) {
    case upstream::MirrorMode::kAsync: return "async";
    case upstream::MirrorMode::kSync: return "sync";
    case upstream::MirrorMode::kNone: return "none";
  }
  return "unknown";
}

std::string hostsJson(const std::vector<upstream::HostConfig>& hosts,
                      const std::map<std::string, UpstreamReport>& reports) {
  std::vector<std::string> items;
  for (const auto& h : hosts) {
    auto it = reports.find(h.address);
    UpstreamReport r = it != reports.end() ? it->second : UpstreamReport{};
    items.push_back(absl::StrCat(
        "{\"address\":", jsonString(h.address), ",\"weight\":", h.weight,
        ",\"state\":", h.state == upstream::NodeState::kDraining ? "\"draining\"" : "\"active\"",
        ",\"health\":{\"ejected\":", r.ejected_workers > 0 ? "true" : "false",
        ",\"ejected_workers\":", r.ejected_workers, "},\"requests\":", r.requests,
        ",\"errors\":", r.errors, ",\"timeouts\":", r.timeouts, ",\"ejections\":", r.ejections,
        ",\"connections\":", r.connections,
        ",\"resolved\":", r.resolved.empty() ? "null" : jsonString(r.resolved),
        ",\"dns\":{\"state\":", jsonString(r.dns_state), ",\"failures\":", r.dns_failures,
        ",\"error\":", jsonString(r.dns_error), "}}"));
  }
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

}  // namespace

std::string renderTopologyJson(const Server& server) {
  upstream::ClusterSnapshotConstSharedPtr snapshot = server.currentSnapshot();
  if (snapshot == nullptr) {
    return absl::StrCat("{\"applied\":false,\"workers\":", server.workers().size(), "}\n");
  }
  const upstream::ClusterConfig& config = snapshot->config();
  std::map<std::string, UpstreamReport> reports = server.upstreamReports();
  std::vector<std::string> filters;
  for (const auto& name : server.currentFilterNames()) filters.push_back(jsonString(name));
  absl::Time applied = server.lastAppliedTime();
  return absl::StrCat(
      "{\"applied\":true,\"cluster\":", jsonString(config.name), ",\"version\":", config.version,
      ",\"applied_at\":",
      jsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", applied, absl::UTCTimeZone())),
      ",\"mirror_mode\":\"", mirrorModeName(config.mirror_mode), "\",\"eject_policy\":\"",
      config.eject_policy == upstream::EjectPolicy::kRehash ? "rehash" : "backup",
      "\",\"miss_failover\":", config.miss_failover ? "true" : "false", ",\"filters\":[",
      absl::StrJoin(filters, ","), "],\"workers\":", server.workers().size(),
      ",\"primaries\":", hostsJson(config.primaries, reports),
      ",\"backups\":", hostsJson(config.backups, reports), "}\n");
}

}  // namespace mcmesh::admin
