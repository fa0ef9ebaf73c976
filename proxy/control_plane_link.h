// ControlPlaneLink: subscribes the proxy to an mcmesh control plane and applies pushed topology.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "control_plane/discovery_client.h"
#include "proxy/options.h"
#include "proxy/server.h"

namespace mcmesh {

// Each pushed snapshot is converted, validated and applied through Server::applyClusterConfig;
// any error is returned to the control plane as a NACK and the last good topology keeps serving.
class ControlPlaneLink {
 public:
  ControlPlaneLink(Server& server, const Options& options);
  ~ControlPlaneLink();
  /** Starts the subscription thread (after daemonizing: threads don't survive fork). */
  void start();
  void stop();

 private:
  absl::Status apply(const v1::Topology& topology);

  void publishState();

  Server& server_;
  Options options_;
  std::unique_ptr<control_plane::DiscoveryClient> client_;
  // Polls the client's connection flag on the main loop to feed mcmesh_control_plane_state
  // (the client has no change callback, and a 500 ms view is plenty for a gauge).
  TimerPtr state_timer_;
};

}  // namespace mcmesh
