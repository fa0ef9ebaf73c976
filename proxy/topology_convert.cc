// Topology proto -> ClusterConfig, and text-format bootstrap files.
#include "proxy/topology_convert.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "proxy/server.h"
#include "proxy/tls/tls_context.h"

namespace mcmesh {
namespace {

absl::Status addPool(const v1::Pool& pool, const std::string& what,
                     std::vector<upstream::HostConfig>* out) {
  tls::TlsContextConstSharedPtr context;
  if (pool.has_tls()) {
    tls::ClientTlsSettings settings;
    settings.ca_file = pool.tls().ca_file();
    settings.cert_file = pool.tls().cert_file();
    settings.key_file = pool.tls().key_file();
    settings.server_name = pool.tls().server_name();
    auto created = tls::TlsContext::createClient(settings);
    if (!created.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " tls: ", created.status().message()));
    }
    context = *created;
  }
  for (const auto& node : pool.nodes()) {
    if (node.state() == v1::NODE_STATE_REMOVED) continue;
    auto host = upstream::parseHostAddress(node.address());
    if (!host.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", host.status().message()));
    host->weight = node.weight() == 0 ? 1 : node.weight();
    host->state = node.state() == v1::NODE_STATE_DRAINING ? upstream::NodeState::kDraining
                                                          : upstream::NodeState::kActive;
    host->tls = context;
    out->push_back(*host);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<upstream::ClusterConfig> clusterConfigFromTopology(const v1::Topology& topology,
                                                                  const std::string& name,
                                                                  const Options& defaults) {
  for (const auto& cluster : topology.clusters()) {
    if (cluster.name() != name) continue;
    Options base = defaults;
    base.servers.clear();
    base.backups.clear();
    auto config = clusterConfigFromOptions(base);
    if (!config.ok()) return config.status();
    config->name = name;
    config->version = topology.version();
    if (auto st = addPool(cluster.primary(), "primary pool", &config->primaries); !st.ok()) return st;
    if (auto st = addPool(cluster.backup(), "backup pool", &config->backups); !st.ok()) return st;
    if (cluster.filters_size() > 0) {
      config->filters.clear();
      for (const auto& f : cluster.filters()) {
        upstream::FilterSpec spec;
        spec.name = f.name();
        for (const auto& [k, v] : f.config()) spec.config[k] = v;
        config->filters.push_back(std::move(spec));
      }
    }
    switch (cluster.mirror_mode()) {
      case v1::MIRROR_MODE_SYNC: config->mirror_mode = upstream::MirrorMode::kSync; break;
      case v1::MIRROR_MODE_ASYNC: config->mirror_mode = upstream::MirrorMode::kAsync; break;
      case v1::MIRROR_MODE_NONE: config->mirror_mode = upstream::MirrorMode::kNone; break;
      default: break;
    }
    if (cluster.eject_policy() == v1::EJECT_POLICY_REHASH) {
      config->eject_policy = upstream::EjectPolicy::kRehash;
    } else if (cluster.eject_policy() == v1::EJECT_POLICY_BACKUP) {
      config->eject_policy = upstream::EjectPolicy::kBackup;
    }
    if (cluster.has_miss_failover()) config->miss_failover = cluster.miss_failover().value();
    if (cluster.has_warmup_window()) {
      config->warmup_window = absl::Seconds(cluster.warmup_window().seconds()) +
                              absl::Nanoseconds(cluster.warmup_window().nanos());
    }
    return config;
  }
  return absl::NotFoundError(
      absl::StrCat("cluster '", name, "' is not in topology version ", topology.version()));
}

absl::StatusOr<v1::Topology> readTopologyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  v1::Topology topology;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &topology)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, " is not a text-format mcmesh.v1.Topology"));
  }
  return topology;
}

}  // namespace mcmesh
