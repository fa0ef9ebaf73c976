// ControlPlaneServer: the gRPC server hosting the admin and discovery services.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "absl/status/statusor.h"
#include "control_plane/admin_service.h"
#include "control_plane/discovery_service.h"
#include "control_plane/proxy_registry.h"
#include "control_plane/topology_service.h"
#include "grpcpp/server.h"

namespace mcmesh {
namespace control_plane {

struct ControlPlaneOptions {
  // host:port; port 0 picks a free port (see ControlPlaneServer::port()).
  std::string listen = "127.0.0.1:18000";
  // Bearer token for the admin service; empty disables the check.
  std::string admin_token;
  // PEM certificate chain and private key; both empty = plaintext.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Makes the directory ListProxies answers from, given this server's registry (e.g. an
  // EtcdProxyDirectory shared by replicas). Unset: the registry itself.
  std::function<std::unique_ptr<ProxyDirectory>(ProxyRegistry&)> proxy_directory;
  // When the store's watch has been down this long, stop serving proxies (they move to another
  // replica, which can still follow the store) until it is back. Zero: never (one control plane,
  // nowhere else to go).
  absl::Duration shed_proxies_after = absl::ZeroDuration();
};

/**
 * Owns the gRPC server, the services and the proxy registry; the TopologyService is the caller's
 * and must outlive this object. Destruction (or shutdown()) cancels discovery streams first and
 * then stops the server with a short deadline, so it never waits on a connected proxy.
 */
class ControlPlaneServer {
public:
  static absl::StatusOr<std::unique_ptr<ControlPlaneServer>>
  start(const ControlPlaneOptions& options, TopologyService& topology);
  ~ControlPlaneServer();

  /** @return the bound port. */
  int port() const { return port_; }
  ProxyRegistry& registry() { return registry_; }
  /** Stops serving; idempotent. */
  void shutdown();

private:
  // Watchdog thread body: applies options.shed_proxies_after every 250 ms until shutdown.
  void watchStore(absl::Duration shed_after);

  ControlPlaneServer(TopologyService& topology, const ControlPlaneOptions& options);

  ProxyRegistry registry_;
  // Null when ListProxies reads registry_ directly.
  std::unique_ptr<ProxyDirectory> directory_;
  DiscoveryServiceImpl discovery_;
  AdminServiceImpl admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool stopped_ = false;
  TopologyService& topology_;
  absl::Mutex watchdog_mutex_;
  bool watchdog_stopping_ ABSL_GUARDED_BY(watchdog_mutex_) = false;
  std::thread watchdog_;
};

using ControlPlaneServerPtr = std::unique_ptr<ControlPlaneServer>;

} // namespace control_plane
} // namespace mcmesh
