// Options: mcmesh's command line, accepting magent's flags unchanged plus long options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mcmesh {

struct Options {
  // magent-compatible
  int port = 11211;                     // -p (0 disables TCP)
  std::string listen_host = "0.0.0.0";  // -l
  std::vector<std::string> servers;     // -s host:port[:weight], repeatable
  std::vector<std::string> backups;     // -b host:port[:weight], repeatable
  uint64_t max_connections = 4096;      // -n
  bool foreground = false;              // -D
  std::string unix_socket;              // -f
  // -i. One pipelined connection per server per worker (twemproxy's server_connections: 1):
  // requests from all clients batch into it. bench/ measured 20 (one per client) at ~1.5x the
  // CPU per request; raise it for very large values or heavy head-of-line blocking.
  size_t max_keepalive = 1;
  std::string user;                     // -u
  std::string group;                    // -g
  int verbose = 0;                      // -v (repeatable)
  bool help = false;                    // -h
  // mcmesh
  std::string config_path;              // --config: text-format mcmesh.v1.Topology bootstrap
  std::string cluster = "default";      // --cluster
  std::string mirror = "sync";          // --mirror=async|sync
  std::string eject_policy = "backup";  // --eject_policy=backup|rehash
  bool miss_failover = true;            // --miss_failover
  std::vector<std::string> filter_chain;  // --filter_chain=a,b,c (empty: default chain)
  int admin_port = 0;                   // --admin_port (0: off)
  std::string admin_host = "127.0.0.1"; // --admin_host
  int concurrency = 0;                  // --concurrency (0: number of cores)
  std::string control_plane;            // --control_plane=HOST:PORT
  std::string proxy_id;                 // --proxy_id (default hostname:pid)
  std::string log_level;                // --log_level=error|warn|info|debug
  absl::Duration request_timeout = absl::Milliseconds(250);  // --timeout_ms
  absl::Duration connect_timeout = absl::Milliseconds(250);  // --connect_timeout_ms
  // Servers given by name are looked up in the background (docs/operating.md "DNS").
  absl::Duration dns_refresh = absl::Seconds(30);       // --dns_refresh_ms
  std::string dns_resolv_conf = "/etc/resolv.conf";     // --dns_resolv_conf
  std::string dns_hosts_file = "/etc/hosts";            // --dns_hosts_file
  uint32_t eject_after = 2;             // --eject_after
  absl::Duration retry_after = absl::Seconds(1);  // --retry_ms
  uint64_t max_value_bytes = 1024 * 1024;  // --max_value_bytes
  size_t max_keys_per_get = 4096;       // --max_keys_per_get
  size_t max_inflight = 1024;           // --max_inflight (pipelined requests per connection)
  absl::Duration idle_timeout = absl::ZeroDuration();  // --idle_timeout_s (0: off)
  // Hostile clients and signals (docs/security.md "Limits").
  absl::Duration request_read_timeout = absl::Seconds(10);  // --request_read_timeout_s (0: off)
  uint64_t max_pending_request_bytes = 256ull << 20;  // --max_pending_request_bytes (all conns)
  uint64_t max_client_output_bytes = 4ull << 20;      // --max_client_output_bytes (per conn)
  int64_t reserved_fds = -1;            // --reserved_fds (-1: derived from the fd limit)
  absl::Duration drain_timeout = absl::Seconds(5);  // --drain_timeout_s (SIGTERM/SIGINT)
  // --admin_allowed_hosts=a,b: Host values POSTs may carry (default: admin_host, localhost,
  // 127.0.0.1, [::1]).
  std::vector<std::string> admin_allowed_hosts;
  bool rehydrate = true;                // --rehydrate
  uint64_t rehydrate_rate = 50000;      // --rehydrate_rate (keys per second)
  absl::Duration miss_window = absl::Minutes(10);  // --miss_failover_window_s
  uint64_t backup_read_budget = 1000;   // --backup_read_budget (per second, per backup, per worker)
  // TLS to clients (docs/security.md): a TLS port beside the plain -p port (0: none).
  int tls_port = 0;                     // --tls_port
  std::string tls_cert;                 // --tls_cert (PEM chain)
  std::string tls_key;                  // --tls_key
  std::string tls_client_ca;            // --tls_client_ca (set: mutual TLS, client certs required)
  // TLS to servers given with -s/-b (a --config or control-plane pool carries its own).
  std::string upstream_tls_ca;          // --upstream_tls_ca (set: TLS to every -s/-b server)
  std::string upstream_tls_cert;        // --upstream_tls_cert (optional client certificate)
  std::string upstream_tls_key;         // --upstream_tls_key
  std::string upstream_tls_server_name; // --upstream_tls_server_name (default: each host)
};

/** Parses argv. Errors say which option is wrong and why (callers exit with status 2). */
absl::StatusOr<Options> parseOptions(int argc, char** argv);
std::string usageText();

}  // namespace mcmesh
