// Implements ControlPlaneServer: builder setup (TLS, keepalive, no port sharing) and shutdown.
#include "control_plane/server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "control_plane/log.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace mcmesh {
namespace control_plane {

ControlPlaneServer::ControlPlaneServer(TopologyService& topology,
                                       const ControlPlaneOptions& options)
    : directory_(options.proxy_directory ? options.proxy_directory(registry_) : nullptr),
      discovery_(topology, registry_),
      admin_(topology,
             directory_ != nullptr ? *directory_ : static_cast<ProxyDirectory&>(registry_),
             options.admin_token),
      topology_(topology) {}

void ControlPlaneServer::watchStore(absl::Duration shed_after) {
  bool serving = true;
  while (true) {
    {
      absl::MutexLock lock(&watchdog_mutex_);
      watchdog_mutex_.AwaitWithTimeout(absl::Condition(&watchdog_stopping_),
                                       absl::Milliseconds(250));
      if (watchdog_stopping_) {
        return;
      }
    }
    const absl::Duration out_of_sync = topology_.storeOutOfSyncFor();
    if (serving && out_of_sync > shed_after) {
      serving = false;
      const std::string reason =
          absl::StrCat("this control plane has not been able to follow its store for ",
                       absl::FormatDuration(absl::Trunc(out_of_sync, absl::Milliseconds(1))),
                       "; use another replica");
      logLine(absl::StrCat(reason, ": closing proxy streams"));
      discovery_.setServing(false, reason);
    } else if (!serving && out_of_sync == absl::ZeroDuration()) {
      serving = true;
      logLine("following the store again: serving proxies");
      discovery_.setServing(true, "");
    }
  }
}

absl::StatusOr<std::unique_ptr<ControlPlaneServer>>
ControlPlaneServer::start(const ControlPlaneOptions& options, TopologyService& topology) {
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key");
  }
  std::unique_ptr<ControlPlaneServer> cp(new ControlPlaneServer(topology, options));

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options.tls_cert_pem.empty()) {
    credentials = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }

  grpc::ServerBuilder builder;
  // Refuse to share the port with another control plane (gRPC sets SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Notice proxies that vanish without closing their stream, and accept their keepalive pings.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddListeningPort(options.listen, credentials, &cp->port_);
  builder.RegisterService(&cp->discovery_);
  builder.RegisterService(&cp->admin_);
  cp->server_ = builder.BuildAndStart();
  if (cp->server_ == nullptr || cp->port_ == 0) {
    cp->stopped_ = true;
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (options.shed_proxies_after > absl::ZeroDuration()) {
    ControlPlaneServer* raw = cp.get();
    const absl::Duration shed_after = options.shed_proxies_after;
    cp->watchdog_ = std::thread([raw, shed_after] { raw->watchStore(shed_after); });
  }
  logLine(absl::StrCat("listening on ", options.listen, " (bound port ", cp->port_, ", ",
                       options.tls_cert_pem.empty() ? "plaintext" : "TLS", ", admin token ",
                       options.admin_token.empty() ? "off" : "on", ")"));
  return cp;
}

ControlPlaneServer::~ControlPlaneServer() { shutdown(); }

void ControlPlaneServer::shutdown() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  {
    absl::MutexLock lock(&watchdog_mutex_);
    watchdog_stopping_ = true;
  }
  if (watchdog_.joinable()) {
    watchdog_.join();
  }
  discovery_.shutdown();
  // Unary admin calls finish quickly; the deadline cancels anything still running.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  logLine("stopped");
}

} // namespace control_plane
} // namespace mcmesh
