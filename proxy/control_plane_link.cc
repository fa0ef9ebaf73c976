// ControlPlaneLink: topology proto -> validated ClusterConfig -> Server.
#include "proxy/control_plane_link.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "control_plane/validator.h"
#include "proxy/log.h"
#include "proxy/topology_convert.h"

namespace mcmesh {

ControlPlaneLink::ControlPlaneLink(Server& server, const Options& options)
    : server_(server), options_(options) {
  std::string id = options_.proxy_id;
  if (id.empty()) {
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    id = absl::StrCat(host, ":", getpid(), ":", options_.port);
  }
  client_ = std::make_unique<control_plane::DiscoveryClient>(
      options_.control_plane, id, options_.cluster,
      [this](const v1::Topology& topology) { return apply(topology); });
}

ControlPlaneLink::~ControlPlaneLink() { stop(); }

void ControlPlaneLink::start() {
  logLine(LogLevel::kInfo, absl::StrCat("subscribing to control plane ", options_.control_plane,
                                        " for cluster ", options_.cluster));
  client_->start();
  server_.setControlPlaneState(ControlPlaneState::kConnecting);
  state_timer_ = server_.mainDispatcher().createTimer([this] { publishState(); });
  state_timer_->enable(absl::Milliseconds(500));
}

void ControlPlaneLink::publishState() {
  server_.setControlPlaneState(client_->connected() ? ControlPlaneState::kConnected
                                                    : ControlPlaneState::kConnecting);
  state_timer_->enable(absl::Milliseconds(500));
}

void ControlPlaneLink::stop() {
  state_timer_.reset();
  if (client_ != nullptr) client_->stop();
}

absl::Status ControlPlaneLink::apply(const v1::Topology& topology) {
  // Validate again at the proxy (the control plane already did): a proxy must never install
  // something it cannot serve, whoever sent it.
  absl::Status status = control_plane::validateTopology(topology);
  if (status.ok()) {
    auto config = clusterConfigFromTopology(topology, options_.cluster, options_);
    status = config.ok() ? server_.applyClusterConfig(std::move(*config)) : config.status();
  }
  if (!status.ok()) {
    logLine(LogLevel::kWarn, absl::StrCat("topology version ", topology.version(),
                                          " NACKed: ", status.message()));
  }
  return status;
}

}  // namespace mcmesh
