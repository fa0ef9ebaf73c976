// MetricsHttpServer: the control plane's Prometheus /metrics (pushes, ACKs, NACKs, proxies).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "control_plane/proxy_registry.h"
#include "control_plane/topology_service.h"

struct event_base;
struct evhttp;
struct evhttp_request;

namespace mcmesh {
namespace control_plane {

/** Renders the control plane's metrics in Prometheus text format 0.0.4. */
std::string renderControlPlaneMetrics(const TopologyService& topology,
                                      const ProxyRegistry& registry);

// libevent's HTTP server on its own thread (the control plane has no event loop of its own;
// gRPC runs its own threads). Serves GET /metrics and /healthz; everything else is 404.
class MetricsHttpServer {
 public:
  /** Binds `listen` ("HOST:PORT"; port 0 picks one) and starts serving. */
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> start(
      const std::string& listen, const TopologyService& topology, const ProxyRegistry& registry);
  ~MetricsHttpServer();
  int port() const { return port_; }

 private:
  MetricsHttpServer(const TopologyService& topology, const ProxyRegistry& registry)
      : topology_(topology), registry_(registry) {}
  static void onRequest(::evhttp_request* request, void* arg);

  const TopologyService& topology_;
  const ProxyRegistry& registry_;
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace control_plane
}  // namespace mcmesh
