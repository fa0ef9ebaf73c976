// MetricsHttpServer: rendering and serving the control plane's /metrics.
#include "control_plane/metrics_http.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proxy/admin/exposition.h"

namespace mcmesh {
namespace control_plane {

std::string renderControlPlaneMetrics(const TopologyService& topology,
                                      const ProxyRegistry& registry) {
  using admin::PrometheusWriter;
  PrometheusWriter w;
  ProxyRegistry::Totals totals = registry.totals();
  std::vector<v1::ProxyStatus> proxies = registry.list();
  uint64_t version = 0;
  if (auto snapshot = topology.snapshot(); snapshot != nullptr) version = snapshot->version();
  uint64_t subscribed = 0;
  for (const auto& p : proxies) subscribed += p.connected() ? 1 : 0;

  w.family("mcmesh_cp_topology_version", PrometheusWriter::Type::kGauge,
           "Version of the topology the control plane serves.");
  w.value({}, version);
  w.family("mcmesh_cp_pushes_total", PrometheusWriter::Type::kCounter,
           "Snapshots written to proxies.");
  w.value({}, totals.pushes);
  w.family("mcmesh_cp_acks_total", PrometheusWriter::Type::kCounter,
           "Snapshots proxies acknowledged (applied).");
  w.value({}, totals.acks);
  w.family("mcmesh_cp_nacks_total", PrometheusWriter::Type::kCounter,
           "Snapshots proxies refused (they keep their last good topology).");
  w.value({}, totals.nacks);
  w.family("mcmesh_cp_streams_total", PrometheusWriter::Type::kCounter,
           "Discovery streams opened by proxies (subscriptions and reconnects).");
  w.value({}, totals.streams);
  w.family("mcmesh_cp_subscribed_proxies", PrometheusWriter::Type::kGauge,
           "Proxies with an open discovery stream.");
  w.value({}, subscribed);
  w.family("mcmesh_cp_proxy_applied_version", PrometheusWriter::Type::kGauge,
           "Topology version each known proxy last applied.");
  for (const auto& p : proxies) {
    w.value({{"proxy", p.id()}, {"cluster", p.cluster()}}, p.applied_version());
  }
  w.family("mcmesh_cp_proxy_connected", PrometheusWriter::Type::kGauge,
           "1 while the proxy's discovery stream is open.");
  for (const auto& p : proxies) {
    w.value({{"proxy", p.id()}, {"cluster", p.cluster()}}, uint64_t{p.connected() ? 1u : 0u});
  }
  return w.text();
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::start(
    const std::string& listen, const TopologyService& topology, const ProxyRegistry& registry) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen must be HOST:PORT, got '", listen, "'"));
  }
  std::string host = listen.substr(0, colon);
  evthread_use_pthreads();
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(topology, registry));
  server->base_ = event_base_new();
  server->http_ = evhttp_new(server->base_);
  evhttp_set_allowed_methods(server->http_, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(server->http_, &MetricsHttpServer::onRequest, server.get());
  evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(server->http_, host.c_str(), port);
  if (bound == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", listen, ": ", std::strerror(errno)));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&addr), &len);
  server->port_ = ntohs(addr.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  event_base* base = server->base_;
  server->thread_ = std::thread([base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (base_ != nullptr) event_base_loopbreak(base_);
  if (thread_.joinable()) thread_.join();
  if (http_ != nullptr) evhttp_free(http_);
  if (base_ != nullptr) event_base_free(base_);
}

void MetricsHttpServer::onRequest(::evhttp_request* request, void* arg) {
  auto* self = static_cast<MetricsHttpServer*>(arg);
  const char* uri = evhttp_request_get_uri(request);
  std::string path = uri != nullptr ? uri : "";
  path = path.substr(0, path.find('?'));
  evbuffer* body = evbuffer_new();
  if (path == "/metrics") {
    std::string text = renderControlPlaneMetrics(self->topology_, self->registry_);
    evbuffer_add(body, text.data(), text.size());
    evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(request, 200, "OK", body);
  } else if (path == "/healthz") {
    evbuffer_add(body, "ok\n", 3);
    evhttp_send_reply(request, 200, "OK", body);
  } else {
    evbuffer_add(body, "not found\n", 10);
    evhttp_send_reply(request, 404, "Not Found", body);
  }
  evbuffer_free(body);
}

}  // namespace control_plane
}  // namespace mcmesh
