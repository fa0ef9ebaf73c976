// mcmesh_cp: the control-plane binary (flags, store, bootstrap, server, signal-driven shutdown).
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "control_plane/cli_args.h"
#include "control_plane/file_store.h"
#include "control_plane/log.h"
#include "control_plane/metrics_http.h"
#include "control_plane/server.h"
#include "control_plane/topology_service.h"

namespace mcmesh {
namespace control_plane {
namespace {

constexpr char kUsage[] =
    "usage: mcmesh_cp [--listen=HOST:PORT] [--store_path=FILE] [--bootstrap=FILE]\n"
    "                 [--token_file=FILE] [--tls_cert=FILE --tls_key=FILE] [--port_file=FILE]\n"
    "  --listen      address to serve admin and discovery on (default 127.0.0.1:18000; port 0 "
    "picks one)\n"
    "  --store_path  topology store, replaced atomically on every change (default "
    "./mcmesh-topology.pb;\n"
    "                a .textproto/.txtpb/.txt name stores text format)\n"
    "  --bootstrap   text-format Topology used only when the store is empty\n"
    "  --token_file  file holding the admin bearer token (admin calls without it are refused)\n"
    "  --tls_cert, --tls_key  PEM files; serve TLS instead of plaintext\n"
    "  --port_file   write the bound port here once listening (for scripts and tests)\n"
    "  --metrics_listen  HOST:PORT for Prometheus /metrics over HTTP (default off; keep it on\n"
    "                loopback or a management network)\n";

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "mcmesh_cp: %s\n", message.c_str());
  return code;
}

int run(int argc, char** argv) {
  CliArgs args(
      {"listen", "store_path", "bootstrap", "token_file", "tls_cert", "tls_key", "port_file",
       "metrics_listen"},
      {"help"});
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

  FileTopologyStore store(args.get("store_path", "mcmesh-topology.pb"));
  absl::StatusOr<TopologyServicePtr> service =
      TopologyService::create(store, has_bootstrap ? &bootstrap : nullptr);
  if (!service.ok()) {
    return fail(std::string(service.status().message()), 1);
  }

  // Block the stop signals before gRPC starts its threads, so only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

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
    logLine(absl::StrCat("metrics on http://", args.get("metrics_listen").substr(
                                                   0, args.get("metrics_listen").rfind(':')),
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
