// AdminServer: evhttp setup, routing by path and method, and the five endpoint handlers.
#include "proxy/admin/admin_server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proxy/admin/metrics.h"
#include "proxy/admin/topology_json.h"
#include "proxy/log.h"

namespace mcmesh::admin {
namespace {

constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";
constexpr char kJsonContentType[] = "application/json";

void reply(evhttp_request* request, int code, const char* reason, const char* content_type,
           absl::string_view body) {
  evkeyvalq* headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", content_type);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evbuffer* buffer = evbuffer_new();
  if (evhttp_request_get_command(request) == EVHTTP_REQ_HEAD) {
    // libevent 2.1 would send the body even for HEAD; announce its size instead.
    evhttp_add_header(headers, "Content-Length", absl::StrCat(body.size()).c_str());
  } else {
    evbuffer_add(buffer, body.data(), body.size());
  }
  evhttp_send_reply(request, code, reason, buffer);
  evbuffer_free(buffer);
}

int boundPort(evhttp_bound_socket* socket) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(evhttp_bound_socket_get_fd(socket), reinterpret_cast<sockaddr*>(&addr), &len) !=
      0) {
    return 0;
  }
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::create(Server& server,
                                                                 const std::string& host,
                                                                 int port) {
  evhttp* http = evhttp_new(server.mainDispatcher().base());
  if (http == nullptr) return absl::InternalError("admin: evhttp_new failed");
  std::unique_ptr<AdminServer> admin(new AdminServer(server, http));
  // Route every method ourselves so a wrong one gets 405, not libevent's 501.
  evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                       EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  // Small limits: admin requests carry no body worth having, and a stuck client must not
  // hold a connection on the main loop forever.
  evhttp_set_max_headers_size(http, 16 * 1024);
  evhttp_set_max_body_size(http, 4 * 1024);
  evhttp_set_timeout(http, 10);
  evhttp_set_gencb(http, &AdminServer::onRequest, admin.get());
  evhttp_bound_socket* socket = evhttp_bind_socket_with_handle(http, host.c_str(), port);
  if (socket == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen for admin HTTP on ", host, ":", port,
                                               ": ", std::strerror(errno)));
  }
  admin->port_ = boundPort(socket);
  std::vector<std::string> allowed = server.options().admin_allowed_hosts;
  if (allowed.empty()) allowed = {host, "localhost", "127.0.0.1", "::1"};
  for (std::string& h : allowed) {
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    admin->allowed_hosts_.push_back(absl::AsciiStrToLower(h));
  }
  logLine(LogLevel::kInfo, absl::StrCat("admin HTTP on ", host, ":", admin->port_,
                                        " (/metrics /topology /healthz /ready /drain)"));
  return admin;
}

AdminServer::~AdminServer() { evhttp_free(http_); }

void AdminServer::onRequest(evhttp_request* request, void* arg) {
  static_cast<AdminServer*>(arg)->handle(request);
}

bool AdminServer::allowedHost(absl::string_view host_and_port) const {
  absl::string_view host = host_and_port;
  if (absl::StartsWith(host, "[")) {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    host = host.substr(1, close - 1);
  } else if (size_t colon = host.find(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string lower = absl::AsciiStrToLower(host);
  for (const std::string& allowed : allowed_hosts_) {
    if (lower == allowed) return true;
  }
  return false;
}

bool AdminServer::allowedWriter(evhttp_request* request) const {
  evkeyvalq* headers = evhttp_request_get_input_headers(request);
  // Tools (curl, scripts) send a Host; browsers always do. A missing Host is not a browser.
  const char* host = evhttp_find_header(headers, "Host");
  if (host != nullptr && !allowedHost(host)) return false;
  const char* origin = evhttp_find_header(headers, "Origin");
  if (origin == nullptr) return true;  // not sent by a web page.
  absl::string_view o = origin;
  size_t scheme = o.find("://");
  if (scheme == absl::string_view::npos) return false;  // "null" (sandboxed, file://) too.
  o = o.substr(scheme + 3);
  o = o.substr(0, o.find('/'));
  return allowedHost(o);
}

void AdminServer::handle(evhttp_request* request) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(request);
  const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  std::string path = raw_path != nullptr && raw_path[0] != '\0' ? raw_path : "/";
  evhttp_cmd_type method = evhttp_request_get_command(request);
  bool get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
  if (!get && !allowedWriter(request)) {
    const char* host = evhttp_find_header(evhttp_request_get_input_headers(request), "Host");
    const char* origin = evhttp_find_header(evhttp_request_get_input_headers(request), "Origin");
    logLine(LogLevel::kWarn, absl::StrCat("admin: refused ", path, " with Host '",
                                          host ? host : "", "' Origin '", origin ? origin : "",
                                          "' (see --admin_allowed_hosts)"));
    reply(request, 403, "Forbidden", kTextContentType,
          "forbidden: Host or Origin not allowed (see --admin_allowed_hosts)\n");
    return;
  }

  bool known = path == "/metrics" || path == "/topology" || path == "/healthz" ||
               path == "/ready" || path == "/drain";
  if (!known) {
    reply(request, 404, "Not Found", kTextContentType,
          "not found; try /metrics /topology /healthz /ready or POST /drain\n");
    return;
  }
  bool post_only = path == "/drain";
  if (post_only ? method != EVHTTP_REQ_POST : !get) {
    evhttp_add_header(evhttp_request_get_output_headers(request), "Allow",
                      post_only ? "POST" : "GET, HEAD");
    reply(request, 405, "Method Not Allowed", kTextContentType,
          post_only ? "use POST\n" : "use GET\n");
    return;
  }

  if (path == "/metrics") {
    reply(request, 200, "OK", kPrometheusContentType, renderMetrics(server_));
  } else if (path == "/topology") {
    reply(request, 200, "OK", kJsonContentType, renderTopologyJson(server_));
  } else if (path == "/healthz") {
    reply(request, 200, "OK", kTextContentType, "ok\n");
  } else if (path == "/ready") {
    absl::Status ready = server_.readiness();
    if (ready.ok()) {
      reply(request, 200, "OK", kTextContentType, "ready\n");
    } else {
      reply(request, 503, "Service Unavailable", kTextContentType,
            absl::StrCat("not ready: ", ready.message(), "\n"));
    }
  } else {
    // POST /drain[?timeout_s=N]
    absl::Duration timeout = kDefaultDrainTimeout;
    evkeyvalq query;
    TAILQ_INIT(&query);
    const char* raw_query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
    if (raw_query != nullptr && evhttp_parse_query_str(raw_query, &query) == 0) {
      const char* value = evhttp_find_header(&query, "timeout_s");
      int seconds = 0;
      if (value != nullptr &&
          (!absl::SimpleAtoi(value, &seconds) || seconds < 0 || seconds > 3600)) {
        evhttp_clear_headers(&query);
        reply(request, 400, "Bad Request", kTextContentType,
              "timeout_s must be an integer from 0 to 3600\n");
        return;
      }
      if (value != nullptr) timeout = absl::Seconds(seconds);
    }
    evhttp_clear_headers(&query);
    bool already = server_.draining();
    logLine(LogLevel::kInfo,
            absl::StrCat("admin: POST /drain (timeout ", absl::FormatDuration(timeout), ")",
                         already ? ": already draining" : ""));
    server_.drain(timeout);
    reply(request, 200, "OK", kTextContentType, already ? "already draining\n" : "draining\n");
  }
}

}  // namespace mcmesh::admin
