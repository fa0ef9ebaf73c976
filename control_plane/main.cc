// mcmesh_cp: the control-plane binary (flags, store, bootstrap, server, signal-driven shutdown).
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control_plane/cli_args.h"
#include "control_plane/etcd_client.h"
#include "control_plane/etcd_proxy_directory.h"
#include "control_plane/etcd_store.h"
#include "control_plane/file_store.h"
#include "control_plane/log.h"
#include "control_plane/metrics_http.h"
#include "control_plane/server.h"
#include "control_plane/topology_service.h"

namespace mcmesh {
namespace control_plane {
namespace {

constexpr char kUsage[] =
    "usage: mcmesh_cp [--listen=HOST:PORT] [--store_path=FILE | --store=etcd://...]\n"
    "                 [--bootstrap=FILE] [--token_file=FILE] [--tls_cert=FILE --tls_key=FILE]\n"
    "                 [--port_file=FILE] [--metrics_listen=HOST:PORT]\n"
    "  --listen      address to serve admin and discovery on (default 127.0.0.1:18000; port 0 "
    "picks one)\n"
    "  --store_path  topology store, replaced atomically on every change (default "
    "./mcmesh-topology.pb;\n"
    "                a .textproto/.txtpb/.txt name stores text format)\n"
    "  --store=etcd://HOST:PORT[,HOST:PORT...]/PREFIX  keep the topology in etcd v3 instead, "
    "shared\n"
    "                by every mcmesh_cp on the same PREFIX (run several for high availability)\n"
    "  --etcd_user=U --etcd_password_file=F   etcd authentication\n"
    "  --etcd_tls, --etcd_ca=PEM, --etcd_cert=PEM --etcd_key=PEM   TLS to etcd\n"
    "  --etcd_timeout=DURATION  deadline of each etcd call (default 3s)\n"
    "  --name        this replica's name in ListProxies (default: the --listen address)\n"
    "  --proxy_ttl   etcd lease TTL of this replica's proxy entries (default 10s)\n"
    "  --bootstrap   text-format Topology used only when there is no store yet (a store file\n"
    "                that is empty, truncated or corrupt is refused, bootstrap or not)\n"
    "  --token_file  file holding the admin bearer token (admin calls without it are refused)\n"
    "  --tls_cert, --tls_key  PEM files; serve TLS instead of plaintext\n"
    "  --port_file   write the bound port here once listening (for scripts and tests)\n"
    "  --metrics_listen  HOST:PORT for Prometheus /metrics over HTTP (default off; keep it on\n"
    "                loopback or a management network)\n";

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "mcmesh_cp: %s\n", message.c_str());
  return code;
}

// The etcd client for --store=etcd://..., with the etcd_* flags applied.
absl::StatusOr<std::shared_ptr<EtcdClient>> makeEtcdClient(const CliArgs& args,
                                                           const std::string& url) {
  absl::StatusOr<EtcdConfig> config = parseEtcdUrl(url);
  if (!config.ok()) {
    return config.status();
  }
  config->user = args.get("etcd_user");
  if (args.has("etcd_password_file")) {
    absl::StatusOr<std::string> password = readFile(args.get("etcd_password_file"));
    if (!password.ok()) {
      return password.status();
    }
    config->password = std::string(absl::StripTrailingAsciiWhitespace(*password));
  }
  if (!config->password.empty() && config->user.empty()) {
    return absl::InvalidArgumentError("--etcd_password_file needs --etcd_user");
  }
  config->tls = args.flag("etcd_tls") || args.has("etcd_ca") || args.has("etcd_cert");
  if (args.has("etcd_cert") != args.has("etcd_key")) {
    return absl::InvalidArgumentError("--etcd_cert and --etcd_key go together");
  }
  for (const auto& [flag, pem] : {std::make_pair("etcd_ca", &config->tls_ca_pem),
                                  std::make_pair("etcd_cert", &config->tls_cert_pem),
                                  std::make_pair("etcd_key", &config->tls_key_pem)}) {
    if (args.has(flag)) {
      absl::StatusOr<std::string> text = readFile(args.get(flag));
      if (!text.ok()) {
        return text.status();
      }
      *pem = *text;
    }
  }
  if (args.has("etcd_timeout") &&
      (!absl::ParseDuration(args.get("etcd_timeout"), &config->request_timeout) ||
       config->request_timeout <= absl::ZeroDuration())) {
    return absl::InvalidArgumentError("--etcd_timeout is a positive duration, e.g. 3s");
  }
  logLine(absl::StrCat("store: etcd ", config->endpointList(), " prefix ", config->prefix,
                       config->tls ? " (TLS)" : "",
                       config->user.empty() ? "" : absl::StrCat(" as ", config->user)));
  return std::make_shared<EtcdClient>(*std::move(config));
}

int run(int argc, char** argv) {
  // Block the stop signals before any gRPC thread starts (the etcd client starts some), so only
  // sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CliArgs args({"listen", "store_path", "store", "bootstrap", "token_file", "tls_cert", "tls_key",
                "port_file", "metrics_listen", "etcd_user", "etcd_password_file", "etcd_ca",
                "etcd_cert", "etcd_key", "etcd_timeout", "name", "proxy_ttl"},
               {"help", "etcd_tls"});
  absl::Status parsed = args.parse(argc, argv);
  if (!parsed.ok() || !args.positional().empty() || args.flag("help")) {
    if (!parsed.ok()) {
      std::fprintf(stderr, "mcmesh_cp: %s\n", std::string(parsed.message()).c_str());
    }
    std::fputs(kUsage, stderr);
    return args.flag("help") && parsed.ok() ? 0 : 2;
  }

  ControlPlaneOptions options;
  options.listen = args.get("listen", options.listen);
  if (args.has("token_file")) {
    absl::StatusOr<std::string> token = readFile(args.get("token_file"));
    if (!token.ok()) {
      return fail(std::string(token.status().message()), 2);
    }
    options.admin_token = std::string(absl::StripAsciiWhitespace(*token));
    if (options.admin_token.empty()) {
      return fail(absl::StrCat("token file ", args.get("token_file"), " is empty"), 2);
    }
  }
  if (args.has("tls_cert") != args.has("tls_key")) {
    return fail("--tls_cert and --tls_key go together", 2);
  }
  if (args.has("tls_cert")) {
    absl::StatusOr<std::string> cert = readFile(args.get("tls_cert"));
    absl::StatusOr<std::string> key = readFile(args.get("tls_key"));
    if (!cert.ok() || !key.ok()) {
      return fail(std::string((cert.ok() ? key.status() : cert.status()).message()), 2);
    }
    options.tls_cert_pem = *cert;
    options.tls_key_pem = *key;
  }

  mcmesh::v1::Topology bootstrap;
  const bool has_bootstrap = args.has("bootstrap");
  if (has_bootstrap) {
    absl::StatusOr<std::string> text = readFile(args.get("bootstrap"));
    if (!text.ok()) {
      return fail(std::string(text.status().message()), 2);
    }
    absl::StatusOr<mcmesh::v1::Topology> topology = parseTextTopology(*text);
    if (!topology.ok()) {
      return fail(absl::StrCat(args.get("bootstrap"), ": ", topology.status().message()), 2);
    }
    bootstrap = *std::move(topology);
  }

  const std::string store_flag = args.get("store");
  const bool use_etcd = isEtcdUrl(store_flag);
  if (use_etcd && args.has("store_path")) {
    return fail("--store=etcd://... and --store_path are alternatives; give one", 2);
  }
  std::shared_ptr<EtcdClient> etcd;
  TopologyStorePtr store;
  if (use_etcd) {
    absl::StatusOr<std::shared_ptr<EtcdClient>> client = makeEtcdClient(args, store_flag);
    if (!client.ok()) {
      return fail(std::string(client.status().message()), 2);
    }
    etcd = *client;
    store = std::make_unique<EtcdTopologyStore>(etcd);
  } else {
    store = std::make_unique<FileTopologyStore>(
        args.get("store_path", store_flag.empty() ? "mcmesh-topology.pb" : store_flag));
  }
  absl::Duration proxy_ttl = absl::Seconds(10);
  if (args.has("proxy_ttl") &&
      (!absl::ParseDuration(args.get("proxy_ttl"), &proxy_ttl) || proxy_ttl < absl::Seconds(1))) {
    return fail("--proxy_ttl is a duration of at least 1s, e.g. 10s", 2);
  }

  // A replica started while etcd is unreachable waits for it a little (members often start
  // together) rather than exiting at once.
  const absl::Time give_up = absl::Now() + (use_etcd ? absl::Seconds(30) : absl::ZeroDuration());
  absl::StatusOr<TopologyServicePtr> service =
      TopologyService::create(*store, has_bootstrap ? &bootstrap : nullptr);
  while (!service.ok() &&
         (absl::IsUnavailable(service.status()) || absl::IsDeadlineExceeded(service.status())) &&
         absl::Now() < give_up) {
    logLine(absl::StrCat("waiting for etcd: ", service.status().message()));
    absl::SleepFor(absl::Seconds(1));
    service = TopologyService::create(*store, has_bootstrap ? &bootstrap : nullptr);
  }
  if (!service.ok()) {
    return fail(std::string(service.status().message()), 1);
  }
  if (etcd != nullptr) {
    const std::string replica = args.get("name", options.listen);
    // A replica that cannot follow etcd would serve stale topology: after this long its proxies
    // are sent to other replicas.
    options.shed_proxies_after = absl::Seconds(3);
    options.proxy_directory = [etcd, replica, proxy_ttl](ProxyRegistry& registry) {
      auto directory = std::make_unique<EtcdProxyDirectory>(etcd, registry, replica, proxy_ttl);
      directory->start();
      return std::unique_ptr<ProxyDirectory>(std::move(directory));
    };
  }

  absl::StatusOr<ControlPlaneServerPtr> server = ControlPlaneServer::start(options, **service);
  if (!server.ok()) {
    return fail(std::string(server.status().message()), 1);
  }
  std::unique_ptr<MetricsHttpServer> metrics;
  if (args.has("metrics_listen")) {
    auto started =
        MetricsHttpServer::start(args.get("metrics_listen"), **service, (*server)->registry());
    if (!started.ok()) {
      (*server)->shutdown();
      return fail(std::string(started.status().message()), 1);
    }
    metrics = std::move(*started);
    logLine(
        absl::StrCat("metrics on http://",
                     args.get("metrics_listen").substr(0, args.get("metrics_listen").rfind(':')),
                     ":", metrics->port(), "/metrics"));
  }
  if (args.has("port_file")) {
    const std::string path = args.get("port_file");
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      out << (*server)->port() << "\n";
    }
    std::rename(tmp.c_str(), path.c_str()); // Readers never see a half-written port.
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  logLine(absl::StrCat("got signal ", signal_number, ", shutting down"));
  metrics.reset();
  (*server)->shutdown();
  return 0;
}

} // namespace
} // namespace control_plane
} // namespace mcmesh

int main(int argc, char** argv) { return mcmesh::control_plane::run(argc, argv); }
