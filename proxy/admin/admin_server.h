// AdminServer: the operator's HTTP endpoint (/metrics, /topology, /healthz, /ready, /drain).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proxy/server.h"

struct evhttp;
struct evhttp_request;

namespace mcmesh::admin {

// libevent's own HTTP server (event2/http.h) on the Server's main loop: handlers run on the main
// thread beside topology application and probing, never on a worker, so a slow scrape cannot
// delay a request. Everything it shows comes from Server's thread-safe readers.
//
//   GET  /metrics   Prometheus text format 0.0.4
//   GET  /topology  the applied topology and host health as JSON
//   GET  /healthz   200 "ok" while the process runs
//   GET  /ready     200 once a topology is applied and a primary answers probes; else 503 + why
//   POST /drain     200, then stop accepting, finish in-flight requests, exit 0
// Other paths answer 404; a known path with the wrong method answers 405 with Allow.
//
// Any method but GET/HEAD (so POST /drain) is refused with 403 unless its Host header names an
// allowed host (--admin_allowed_hosts; default the admin address, localhost, 127.0.0.1, [::1])
// and it carries no Origin naming another host: a web page in a browser on this machine can
// reach 127.0.0.1 (DNS rebinding: its Host is the attacker's name) and may send POSTs (with its
// Origin). GETs stay open to any Host so scrapers can use the machine's name.
class AdminServer {
 public:
  static constexpr absl::Duration kDefaultDrainTimeout = absl::Seconds(30);

  /**
   * Binds `host`:`port` (port 0: an ephemeral port, see port()) on server.mainDispatcher().
   * Call on the main thread before Server::run(). @return an error naming the address on failure.
   */
  static absl::StatusOr<std::unique_ptr<AdminServer>> create(Server& server,
                                                             const std::string& host, int port);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /** The bound port. */
  int port() const { return port_; }

 private:
  AdminServer(Server& server, evhttp* http) : server_(server), http_(http) {}
  // Whether a state-changing request's Host and Origin headers name allowed hosts.
  bool allowedWriter(evhttp_request* request) const;
  bool allowedHost(absl::string_view host_and_port) const;
  static void onRequest(evhttp_request* request, void* arg);
  void handle(evhttp_request* request);

  Server& server_;
  evhttp* http_;
  int port_ = 0;
  std::vector<std::string> allowed_hosts_;  // lower case, without port or brackets.
};

}  // namespace mcmesh::admin
