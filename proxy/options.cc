// parseOptions: short magent flags (also glued, as in "-s127.0.0.1:11212") and --long[=value].
#include "proxy/options.h"

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace mcmesh {
namespace {

absl::Status parseInt(absl::string_view flag, absl::string_view value, int64_t min, int64_t max,
                      int64_t* out) {
  if (!absl::SimpleAtoi(value, out) || *out < min || *out > max) {
    return absl::InvalidArgumentError(absl::StrCat("option ", flag, ": expected a number in ", min,
                                                   "..", max, ", got '", value, "'"));
  }
  return absl::OkStatus();
}

absl::Status checkServer(absl::string_view flag, absl::string_view value) {
  // host:port[:weight] -- validate the host:port part here so a typo fails at start-up.
  std::vector<absl::string_view> parts = absl::StrSplit(value, ':');
  absl::string_view address = value;
  if (parts.size() == 3) {
    int64_t weight = 0;
    auto st = parseInt(flag, parts[2], 1, 1000000, &weight);
    if (!st.ok()) return st;
    address = value.substr(0, value.rfind(':'));
  }
  auto parsed = upstream::parseHostAddress(address);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("option ", flag, ": ", parsed.status().message()));
  }
  return absl::OkStatus();
}

absl::Status parseBool(absl::string_view flag, absl::string_view value, bool* out) {
  if (!absl::SimpleAtob(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("option ", flag, ": expected true or false, got '", value, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string usageText() {
  return R"(mcmesh: a memcached proxy (drop-in for magent) with ketama routing, backup mirroring,
failover reads and a live control plane.

Usage: mcmesh [options]
magent-compatible options:
  -h            this message
  -u user       run as this user after binding (when started as root)
  -g group      run as this group after binding
  -p port       TCP port to listen on (default 11211; 0 disables TCP)
  -l ip         address to listen on (default 0.0.0.0)
  -s host:port[:weight]  primary memcached server (repeatable; ketama over these); a host
                name is resolved in the background (see --dns_refresh_ms)
  -b host:port[:weight]  backup memcached server (repeatable): every write is copied here and
                reads fall back here when a primary is down or misses
  -n number     max client connections (default 4096)
  -D            stay in the foreground (default: go to the background, as magent does)
  -k            ketama hashing (always on; accepted for magent scripts)
  -f path       also listen on this unix socket
  -i number     keep-alive connections per server per worker (default 1; a client's
                requests to a server always share one of them, so order is kept)
  -v            verbose logging (repeat for more)
mcmesh options:
  --config=FILE            bootstrap topology (text-format mcmesh.v1.Topology)
  --cluster=NAME           cluster to serve from --config / the control plane (default "default")
  --control_plane=HOST:PORT[,HOST:PORT...]  subscribe to an mcmesh control plane for live
                           topology (several replicas: moves to the next when one fails)
  --proxy_id=ID            this proxy's id at the control plane (default hostname:pid)
  --mirror=sync|async      backup mirroring: sync (default) acknowledges a write once the
                           backup has it too; async acknowledges after the primary
  --eject_policy=backup|rehash  where keys of an ejected primary go (default backup)
  --miss_failover=true|false    retry primary misses on the backup and repair (default true)
  --miss_failover_window_s=N  after a primary restarted or recovered, read all its misses from
                           the backup for N seconds (default 600); outside it see
  --backup_read_budget=N   primary misses read from the backup per second, per backup and
                           worker, outside a window (default 1000; 0: none)
  --filter_chain=a,b,...   filter chain (default stats,ketama_router; the router carries
                           replication: mirror, failover, miss-failover)
  --timeout_ms=N           per-request upstream timeout (default 250)
  --connect_timeout_ms=N   upstream connect timeout (default 250)
  --dns_refresh_ms=N       look up servers given by name again every N ms (default 30000);
                           also soon after a server is ejected
  --dns_resolv_conf=FILE   nameservers and options for those lookups (default /etc/resolv.conf;
                           "nameserver IP:PORT" accepted)
  --dns_hosts_file=FILE    names answered before DNS (default /etc/hosts; empty: none)
  --eject_after=N          consecutive failures before a server is ejected (default 2)
  --retry_ms=N             first retry of an ejected server after N ms (doubles, max 30 s)
  --max_value_bytes=N      largest value accepted (default 1048576)
  --max_keys_per_get=N     most keys in one get (default 4096)
  --max_inflight=N         pipelined requests in flight per connection before reading pauses
                           (default 1024)
  --idle_timeout_s=N       close client connections idle this long (default 0: never);
                           bytes of an unfinished request do not count as activity
  --request_read_timeout_s=N  close a connection whose request stays incomplete this long
                           (slowloris; default 10; 0: never)
  --max_pending_request_bytes=N  bytes of unfinished requests all connections may hold
                           together; past it a growing one is refused and closed (default 256 MiB)
  --max_client_output_bytes=N  unsent reply bytes per connection before reading pauses
                           (default 4 MiB); at 2x, retrieval replies become SERVER_ERROR
  --reserved_fds=N         descriptors kept free for upstreams, admin and control plane: client
                           connections are capped at the fd limit minus these (default: derived)
  --drain_timeout_s=N      SIGTERM/SIGINT drain deadline (default 5)
  --admin_allowed_hosts=H,...  Host header values admin POSTs may carry (default: the admin
                           address, localhost, 127.0.0.1, [::1]); a foreign Origin is refused
  --rehydrate=true|false   copy backup keys back to a restarted empty primary (default true)
  --rehydrate_rate=N       keys per second a rehydration copies (default 50000)
  --concurrency=N          worker threads (default: number of cores)
  --admin_port=N           admin HTTP port on 127.0.0.1 (default off)
  --admin_host=IP          admin HTTP address (default 127.0.0.1)
  --log_level=LEVEL        error|warn|info|debug (default info; -v raises it)
TLS (docs/security.md):
  --tls_port=N             also listen for TLS clients on port N (same -l address); -p stays plain
  --tls_cert=FILE          certificate chain (PEM) the TLS port presents
  --tls_key=FILE           its private key (PEM)
  --tls_client_ca=FILE     mutual TLS: clients must present a certificate signed by this CA
  --upstream_tls_ca=FILE   speak TLS to the -s/-b servers, verifying them against this CA
  --upstream_tls_cert=FILE client certificate for the servers (optional; with --upstream_tls_key)
  --upstream_tls_key=FILE
  --upstream_tls_server_name=NAME  name the servers' certificates must carry (default: each
                           server's host as given, DNS name or IP)
)";
}

absl::StatusOr<Options> parseOptions(int argc, char** argv) {
  Options o;
  // Short options that take a value, as magent's getopt string "hDkp:s:b:l:n:f:i:u:g:v".
  const std::string kWithValue = "psblnfiug";
  const std::string kFlags = "hDkv";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      bool has_value = false;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      auto need = [&]() -> absl::Status {
        if (has_value) return absl::OkStatus();
        if (i + 1 >= argc) {
          return absl::InvalidArgumentError(absl::StrCat("option --", name, " needs a value"));
        }
        value = argv[++i];
        has_value = true;
        return absl::OkStatus();
      };
      int64_t n = 0;
      absl::Status st;
      std::string flag = "--" + name;
      if (name == "help") { o.help = true; continue; }
      if (name == "foreground") { o.foreground = true; continue; }
      if (!(st = need()).ok()) return st;
      if (name == "config") o.config_path = value;
      else if (name == "cluster") o.cluster = value;
      else if (name == "control_plane") {
        if (!(st = checkServer(flag, value)).ok()) return st;
        o.control_plane = value;
      } else if (name == "proxy_id") o.proxy_id = value;
      else if (name == "mirror") {
        if (value != "async" && value != "sync") {
          return absl::InvalidArgumentError("option --mirror: expected async or sync");
        }
        o.mirror = value;
      } else if (name == "eject_policy") {
        if (value != "backup" && value != "rehash") {
          return absl::InvalidArgumentError("option --eject_policy: expected backup or rehash");
        }
        o.eject_policy = value;
      } else if (name == "miss_failover") {
        if (!(st = parseBool(flag, value, &o.miss_failover)).ok()) return st;
      } else if (name == "rehydrate") {
        if (!(st = parseBool(flag, value, &o.rehydrate)).ok()) return st;
      } else if (name == "rehydrate_rate") {
        if (!(st = parseInt(flag, value, 1, 10000000, &n)).ok()) return st;
        o.rehydrate_rate = n;
      } else if (name == "miss_failover_window_s") {
        if (!(st = parseInt(flag, value, 0, 86400 * 30, &n)).ok()) return st;
        o.miss_window = absl::Seconds(n);
      } else if (name == "backup_read_budget") {
        if (!(st = parseInt(flag, value, 0, 100000000, &n)).ok()) return st;
        o.backup_read_budget = n;
      } else if (name == "filter_chain") {
        o.filter_chain = absl::StrSplit(value, ',', absl::SkipEmpty());
      } else if (name == "timeout_ms" || name == "connect_timeout_ms" || name == "retry_ms") {
        if (!(st = parseInt(flag, value, 1, 3600000, &n)).ok()) return st;
        (name == "timeout_ms" ? o.request_timeout
                              : name == "retry_ms" ? o.retry_after : o.connect_timeout) =
            absl::Milliseconds(n);
      } else if (name == "dns_refresh_ms") {
        if (!(st = parseInt(flag, value, 100, 86400000, &n)).ok()) return st;
        o.dns_refresh = absl::Milliseconds(n);
      } else if (name == "dns_resolv_conf") {
        o.dns_resolv_conf = value;
      } else if (name == "dns_hosts_file") {
        o.dns_hosts_file = value;
      } else if (name == "eject_after") {
        if (!(st = parseInt(flag, value, 1, 1000, &n)).ok()) return st;
        o.eject_after = n;
      } else if (name == "max_value_bytes") {
        if (!(st = parseInt(flag, value, 1, 1024LL * 1024 * 1024, &n)).ok()) return st;
        o.max_value_bytes = n;
      } else if (name == "max_keys_per_get" || name == "max_inflight") {
        if (!(st = parseInt(flag, value, 1, 1000000, &n)).ok()) return st;
        (name == "max_inflight" ? o.max_inflight : o.max_keys_per_get) = n;
      } else if (name == "idle_timeout_s") {
        if (!(st = parseInt(flag, value, 0, 86400 * 30, &n)).ok()) return st;
        o.idle_timeout = absl::Seconds(n);
      } else if (name == "request_read_timeout_s" || name == "drain_timeout_s") {
        if (!(st = parseInt(flag, value, 0, 86400, &n)).ok()) return st;
        (name == "drain_timeout_s" ? o.drain_timeout : o.request_read_timeout) = absl::Seconds(n);
      } else if (name == "max_pending_request_bytes" || name == "max_client_output_bytes") {
        if (!(st = parseInt(flag, value, 64 * 1024, int64_t{1} << 40, &n)).ok()) return st;
        (name == "max_client_output_bytes" ? o.max_client_output_bytes
                                           : o.max_pending_request_bytes) = n;
      } else if (name == "reserved_fds") {
        if (!(st = parseInt(flag, value, 0, 1000000, &n)).ok()) return st;
        o.reserved_fds = n;
      } else if (name == "admin_allowed_hosts") {
        o.admin_allowed_hosts = absl::StrSplit(value, ',', absl::SkipEmpty());
      } else if (name == "concurrency") {
        if (!(st = parseInt(flag, value, 1, 256, &n)).ok()) return st;
        o.concurrency = n;
      } else if (name == "admin_port") {
        if (!(st = parseInt(flag, value, 0, 65535, &n)).ok()) return st;
        o.admin_port = n;
      } else if (name == "admin_host") o.admin_host = value;
      else if (name == "tls_port") {
        if (!(st = parseInt(flag, value, 1, 65535, &n)).ok()) return st;
        o.tls_port = n;
      } else if (name == "tls_cert") o.tls_cert = value;
      else if (name == "tls_key") o.tls_key = value;
      else if (name == "tls_client_ca") o.tls_client_ca = value;
      else if (name == "upstream_tls_ca") o.upstream_tls_ca = value;
      else if (name == "upstream_tls_cert") o.upstream_tls_cert = value;
      else if (name == "upstream_tls_key") o.upstream_tls_key = value;
      else if (name == "upstream_tls_server_name") o.upstream_tls_server_name = value;
      else if (name == "log_level") {
        if (value != "error" && value != "warn" && value != "info" && value != "debug") {
          return absl::InvalidArgumentError(
              "option --log_level: expected error, warn, info or debug");
        }
        o.log_level = value;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
      }
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    // Short options may be grouped ("-Dk") and values may be glued ("-s127.0.0.1:11212").
    for (size_t j = 1; j < arg.size(); ++j) {
      char c = arg[j];
      if (kFlags.find(c) != std::string::npos) {
        if (c == 'h') o.help = true;
        if (c == 'D') o.foreground = true;
        if (c == 'v') ++o.verbose;
        continue;
      }
      if (kWithValue.find(c) == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("unknown option -", std::string(1, c)));
      }
      std::string value;
      if (j + 1 < arg.size()) {
        value = arg.substr(j + 1);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("option -", std::string(1, c), " needs a value"));
      }
      std::string flag = absl::StrCat("-", std::string(1, c));
      int64_t n = 0;
      absl::Status st;
      switch (c) {
        case 'p':
          if (!(st = parseInt(flag, value, 0, 65535, &n)).ok()) return st;
          o.port = n;
          break;
        case 's':
        case 'b':
          if (!(st = checkServer(flag, value)).ok()) return st;
          (c == 's' ? o.servers : o.backups).push_back(value);
          break;
        case 'l': o.listen_host = value; break;
        case 'n':
          if (!(st = parseInt(flag, value, 1, 10000000, &n)).ok()) return st;
          o.max_connections = n;
          break;
        case 'f': o.unix_socket = value; break;
        case 'i':
          if (!(st = parseInt(flag, value, 1, 10000, &n)).ok()) return st;
          o.max_keepalive = n;
          break;
        case 'u': o.user = value; break;
        case 'g': o.group = value; break;
      }
      break;  // the value consumed the rest of this argument.
    }
  }
  if (!o.help && o.servers.empty() && o.config_path.empty() && o.control_plane.empty()) {
    return absl::InvalidArgumentError(
        "no servers: give at least one -s host:port, or --config, or --control_plane");
  }
  if (o.tls_port != 0 && (o.tls_cert.empty() || o.tls_key.empty())) {
    return absl::InvalidArgumentError("option --tls_port needs --tls_cert and --tls_key");
  }
  if (o.tls_port == 0 && (!o.tls_cert.empty() || !o.tls_key.empty() || !o.tls_client_ca.empty())) {
    return absl::InvalidArgumentError(
        "options --tls_cert/--tls_key/--tls_client_ca need --tls_port (the port to serve TLS on)");
  }
  if (o.upstream_tls_ca.empty() &&
      (!o.upstream_tls_cert.empty() || !o.upstream_tls_key.empty() ||
       !o.upstream_tls_server_name.empty())) {
    return absl::InvalidArgumentError(
        "options --upstream_tls_* need --upstream_tls_ca (servers are always verified)");
  }
  if (o.port == 0 && o.unix_socket.empty() && o.tls_port == 0) {
    return absl::InvalidArgumentError("nothing to listen on: -p 0 and no -f socket");
  }
  return o;
}

}  // namespace mcmesh
