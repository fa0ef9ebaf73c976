// mcmeshctl: command-line client for the admin service (human or --json output, exit codes).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "api/mcmesh/v1/admin.grpc.pb.h"
#include "control_plane/cli_args.h"
#include "control_plane/file_store.h"
#include "control_plane/filter_spec.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace mcmesh {
namespace control_plane {
namespace {

using mcmesh::v1::AdminService;

// Exit codes (documented in the usage text and docs/control-plane.md).
constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

constexpr char kUsage[] = R"(usage: mcmeshctl [global flags] <command> [args] [flags]

commands:
  topology                                   show the current topology
  proxies                                    show subscribed proxies: applied version, last NACK
  create-cluster <cluster> <addr[=weight]>... [--backup=<addr[=weight]>]...
                 [--mirror=none|async|sync] [--warmup=<duration, e.g. 5m>] [--filter=<filter>]...
  add-node    <cluster> <addr> [--weight=N] [--pool=primary|backup]
  drain-node  <cluster> <addr> [--pool=primary|backup]
  remove-node <cluster> <addr> [--pool=primary|backup]
  set-weight  <cluster> <addr> <weight> [--pool=primary|backup]
  set-backup  <cluster> [<addr[=weight]>...]   replace the backup pool (no address: remove it)
  set-filters <cluster> [<filter>...]          replace the filter chain, in order (no filter:
                                               back to the proxy's default chain)
  reset-epoch [<epoch>]                        deliberate reset: start a new epoch so proxies
                                               that run a higher version accept this topology
                                               (default: current epoch + 1)

  <filter> is <name>[:<key>=<value>[,<key>=<value>...]], e.g. backup_mirror:mode=sync

global flags:
  --control_plane=HOST:PORT[,HOST:PORT...]   (default 127.0.0.1:18000); with several
                              replicas, each is tried in turn until one answers
  --token=T | --token_file=F  admin bearer token (also $MCMESH_TOKEN)
  --tls | --tls_ca=PEM        use TLS (system roots or the given CA)
  --timeout=SECONDS           per call (default 5)
  --json                      print the server's response as JSON (proto3 JSON mapping)

exit codes: 0 ok, 1 refused by the control plane, 2 usage error, 3 control plane unreachable
            or its store (etcd) unavailable: nothing changed, try again later
)";

int usage(const std::string& message) {
  if (!message.empty()) {
    std::fprintf(stderr, "mcmeshctl: %s\n", message.c_str());
  }
  std::fputs(kUsage, stderr);
  return kExitUsage;
}

// Trailing metadata the control plane adds to refusals (control_plane/admin_service.cc).
constexpr char kAnsweredKey[] = "mcmesh-answered-by";

struct Context {
  // One stub per --control_plane address, tried in order.
  std::vector<std::string> targets;
  std::vector<std::unique_ptr<AdminService::Stub>> stubs;
  std::string token;
  absl::Duration timeout = absl::Seconds(5);
  bool json = false;

  void prepare(grpc::ClientContext& context) const {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
  }
};

std::string toJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return "{}";
  }
  return json;
}

std::string jsonEscape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The outcome of one admin call, possibly after trying several control planes.
struct CallResult {
  grpc::Status status;
  // The control plane that gave this answer (the last one tried).
  std::string target;
  // The control plane itself refused (as opposed to a failure on the way to it).
  bool answered = false;
};

// Runs `call` (grpc::Status(AdminService::Stub&, grpc::ClientContext&)) against each control
// plane in turn while they answer UNAVAILABLE: unreachable, shutting down, or their store is
// down, all of which mean nothing was changed there.
template <class Call> CallResult invoke(const Context& ctx, const Call& call) {
  CallResult result;
  for (size_t i = 0; i < ctx.stubs.size(); ++i) {
    grpc::ClientContext context;
    ctx.prepare(context);
    result.status = call(*ctx.stubs[i], context);
    result.target = ctx.targets[i];
    result.answered = context.GetServerTrailingMetadata().count(kAnsweredKey) > 0;
    if (result.status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      break;
    }
  }
  return result;
}

// Prints the error (stderr; also a JSON object on stdout with --json) and maps it to an exit code.
int reportError(const Context& ctx, const CallResult& result) {
  const grpc::Status& status = result.status;
  const bool unavailable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  const bool unreachable = unavailable && !result.answered;
  const std::string code =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  if (unreachable) {
    std::fprintf(stderr, "mcmeshctl: cannot reach the control plane at %s: %s (%s)\n",
                 result.target.c_str(), status.error_message().c_str(), code.c_str());
  } else if (unavailable) {
    std::fprintf(stderr,
                 "mcmeshctl: the control plane at %s cannot change the topology now: %s (%s)\n",
                 result.target.c_str(), status.error_message().c_str(), code.c_str());
  } else {
    std::fprintf(stderr, "mcmeshctl: refused by the control plane: %s: %s\n", code.c_str(),
                 status.error_message().c_str());
  }
  if (ctx.json) {
    std::printf("{\"error\":{\"code\":\"%s\",\"reason\":\"%s\",\"message\":\"%s\"}}\n",
                code.c_str(),
                unreachable ? "unreachable" : (unavailable ? "unavailable" : "refused"),
                jsonEscape(status.error_message()).c_str());
  }
  return unavailable ? kExitUnreachable : kExitRefused;
}

std::string durationText(const google::protobuf::Duration& d) {
  return absl::FormatDuration(absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()));
}

void printTopology(const mcmesh::v1::Topology& topology) {
  std::printf("topology version %llu, %d cluster(s)%s\n",
              static_cast<unsigned long long>(topology.version()), topology.clusters_size(),
              topology.epoch() == 0 ? "" : absl::StrCat(", epoch ", topology.epoch()).c_str());
  for (const mcmesh::v1::Cluster& cluster : topology.clusters()) {
    std::string mirror = mcmesh::v1::MirrorMode_Name(cluster.mirror_mode());
    mirror = cluster.mirror_mode() == mcmesh::v1::MIRROR_MODE_UNSPECIFIED
                 ? "default"
                 : absl::AsciiStrToLower(mirror.substr(std::string("MIRROR_MODE_").size()));
    std::printf("\ncluster %s  mirror=%s  warmup=%s\n", cluster.name().c_str(), mirror.c_str(),
                cluster.has_warmup_window() ? durationText(cluster.warmup_window()).c_str()
                                            : "default");
    std::printf("  %-8s %-40s %6s  %s\n", "POOL", "ADDRESS", "WEIGHT", "STATE");
    auto print_pool = [](const char* name, const mcmesh::v1::Pool& pool) {
      for (const mcmesh::v1::Node& node : pool.nodes()) {
        std::string state = mcmesh::v1::NodeState_Name(node.state());
        if (state.rfind("NODE_STATE_", 0) == 0) {
          state = state.substr(11);
        }
        std::printf("  %-8s %-40s %6u  %s\n", name, node.address().c_str(), node.weight(),
                    state.c_str());
      }
    };
    print_pool("primary", cluster.primary());
    print_pool("backup", cluster.backup());
    if (cluster.filters_size() > 0) {
      std::vector<std::string> specs;
      for (const auto& filter : cluster.filters()) {
        specs.push_back(formatFilterSpec(filter));
      }
      std::printf("  filters: %s\n", absl::StrJoin(specs, ", ").c_str());
    }
  }
}

void printProxies(const mcmesh::v1::ListProxiesResponse& response) {
  if (response.proxies_size() == 0) {
    std::printf("no proxies have subscribed\n");
    return;
  }
  // Replicas sharing an etcd store name the one serving each proxy; a lone control plane does not.
  bool replicas = false;
  for (const mcmesh::v1::ProxyStatus& proxy : response.proxies()) {
    replicas = replicas || !proxy.control_plane().empty();
  }
  std::printf("%-24s %-12s %-9s %7s %7s  %-28s %s%s\n", "PROXY", "CLUSTER", "CONNECTED", "APPLIED",
              "SENT", "PEER", replicas ? "CONTROL PLANE          " : "", "LAST NACK");
  for (const mcmesh::v1::ProxyStatus& proxy : response.proxies()) {
    const std::string nack =
        proxy.last_nack_version() == 0
            ? "-"
            : absl::StrCat("version ", proxy.last_nack_version(), ": ", proxy.last_nack_reason());
    const std::string replica =
        replicas ? absl::StrFormat("%-22s ", proxy.control_plane()) : std::string();
    std::printf("%-24s %-12s %-9s %7llu %7llu  %-28s %s%s\n", proxy.id().c_str(),
                proxy.cluster().c_str(), proxy.connected() ? "yes" : "no",
                static_cast<unsigned long long>(proxy.applied_version()),
                static_cast<unsigned long long>(proxy.sent_version()), proxy.peer().c_str(),
                replica.c_str(), nack.c_str());
  }
}

bool parsePool(const CliArgs& args, mcmesh::v1::PoolKind* pool) {
  const std::string name = absl::AsciiStrToLower(args.get("pool", "primary"));
  if (name == "primary") {
    *pool = mcmesh::v1::POOL_KIND_PRIMARY;
  } else if (name == "backup") {
    *pool = mcmesh::v1::POOL_KIND_BACKUP;
  } else {
    return false;
  }
  return true;
}

bool parseWeight(const std::string& text, uint32_t* weight) {
  return absl::SimpleAtoi(text, weight);
}

// "addr" or "addr=weight" -> an ACTIVE node (weight defaults to 1).
bool parseNode(const std::string& spec, mcmesh::v1::Node* node) {
  const size_t eq = spec.rfind('=');
  uint32_t weight = 1;
  if (eq != std::string::npos && !parseWeight(spec.substr(eq + 1), &weight)) {
    return false;
  }
  node->set_address(spec.substr(0, eq));
  node->set_weight(weight);
  node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  return true;
}

// Runs a mutating call and prints its result. Response has version and topology fields
// (TopologyChangeResponse, SetFiltersResponse).
template <class Request, class Response>
int change(const Context& ctx, const Request& request, const std::string& what,
           grpc::Status (AdminService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                      Response*)) {
  Response response;
  const CallResult result =
      invoke(ctx, [&](AdminService::Stub& stub, grpc::ClientContext& context) {
        return (stub.*method)(&context, request, &response);
      });
  if (!result.status.ok()) {
    return reportError(ctx, result);
  }
  if (ctx.json) {
    std::printf("%s\n", toJson(response).c_str());
  } else {
    const uint64_t epoch = response.topology().epoch();
    std::printf("%s: ok, topology version %llu%s\n", what.c_str(),
                static_cast<unsigned long long>(response.version()),
                epoch == 0 ? "" : absl::StrCat(" (epoch ", epoch, ")").c_str());
  }
  return kExitOk;
}

int run(int argc, char** argv) {
  CliArgs args({"control_plane", "token", "token_file", "tls_ca", "timeout", "pool", "weight",
                "backup", "mirror", "warmup", "filter"},
               {"json", "tls", "help"});
  absl::Status parsed = args.parse(argc, argv);
  if (!parsed.ok()) {
    return usage(std::string(parsed.message()));
  }
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const std::vector<std::string>& pos = args.positional();
  if (pos.empty()) {
    return usage("missing command");
  }
  const std::string& command = pos[0];

  Context ctx;
  ctx.json = args.flag("json");
  ctx.targets =
      absl::StrSplit(args.get("control_plane", "127.0.0.1:18000"), ',', absl::SkipWhitespace());
  if (ctx.targets.empty()) {
    return usage("--control_plane needs at least one HOST:PORT");
  }
  double timeout_seconds = 5;
  if (!absl::SimpleAtod(args.get("timeout", "5"), &timeout_seconds) || timeout_seconds <= 0) {
    return usage("--timeout must be a positive number of seconds");
  }
  ctx.timeout = absl::Seconds(timeout_seconds);
  if (args.has("token")) {
    ctx.token = args.get("token");
  } else if (args.has("token_file")) {
    absl::StatusOr<std::string> token = readFile(args.get("token_file"));
    if (!token.ok()) {
      return usage(std::string(token.status().message()));
    }
    ctx.token = std::string(absl::StripAsciiWhitespace(*token));
  } else if (const char* env = std::getenv("MCMESH_TOKEN")) {
    ctx.token = env;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (args.flag("tls") || args.has("tls_ca")) {
    grpc::SslCredentialsOptions ssl;
    if (args.has("tls_ca")) {
      absl::StatusOr<std::string> ca = readFile(args.get("tls_ca"));
      if (!ca.ok()) {
        return usage(std::string(ca.status().message()));
      }
      ssl.pem_root_certs = *ca;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  for (const std::string& target : ctx.targets) {
    ctx.stubs.push_back(AdminService::NewStub(grpc::CreateChannel(target, credentials)));
  }

  mcmesh::v1::PoolKind pool = mcmesh::v1::POOL_KIND_PRIMARY;
  if (!parsePool(args, &pool)) {
    return usage("--pool is primary or backup");
  }
  const size_t nargs = pos.size() - 1;

  if (command == "topology" || command == "proxies") {
    if (nargs != 0) {
      return usage(absl::StrCat(command, " takes no arguments"));
    }
    CallResult result;
    if (command == "topology") {
      mcmesh::v1::GetTopologyResponse response;
      result = invoke(ctx, [&](AdminService::Stub& stub, grpc::ClientContext& context) {
        return stub.GetTopology(&context, mcmesh::v1::GetTopologyRequest(), &response);
      });
      if (result.status.ok()) {
        ctx.json ? (void)std::printf("%s\n", toJson(response).c_str())
                 : printTopology(response.topology());
      }
    } else {
      mcmesh::v1::ListProxiesResponse response;
      result = invoke(ctx, [&](AdminService::Stub& stub, grpc::ClientContext& context) {
        return stub.ListProxies(&context, mcmesh::v1::ListProxiesRequest(), &response);
      });
      if (result.status.ok()) {
        ctx.json ? (void)std::printf("%s\n", toJson(response).c_str()) : printProxies(response);
      }
    }
    return result.status.ok() ? kExitOk : reportError(ctx, result);
  }

  if (command == "create-cluster") {
    if (nargs < 2) {
      return usage("create-cluster needs a cluster name and at least one primary address");
    }
    mcmesh::v1::CreateClusterRequest request;
    mcmesh::v1::Cluster* cluster = request.mutable_cluster();
    cluster->set_name(pos[1]);
    for (size_t i = 2; i < pos.size(); ++i) {
      if (!parseNode(pos[i], cluster->mutable_primary()->add_nodes())) {
        return usage(absl::StrCat("bad node \"", pos[i], "\" (want addr or addr=weight)"));
      }
    }
    for (const std::string& spec : args.all("backup")) {
      if (!parseNode(spec, cluster->mutable_backup()->add_nodes())) {
        return usage(absl::StrCat("bad backup node \"", spec, "\""));
      }
    }
    if (args.has("mirror")) {
      mcmesh::v1::MirrorMode mode;
      if (!mcmesh::v1::MirrorMode_Parse(
              absl::StrCat("MIRROR_MODE_", absl::AsciiStrToUpper(args.get("mirror"))), &mode)) {
        return usage("--mirror is none, async or sync");
      }
      cluster->set_mirror_mode(mode);
    }
    if (args.has("warmup")) {
      absl::Duration warmup;
      if (!absl::ParseDuration(args.get("warmup"), &warmup) || warmup < absl::ZeroDuration()) {
        return usage("--warmup is a duration such as 300s or 5m");
      }
      const int64_t nanos = absl::ToInt64Nanoseconds(warmup);
      cluster->mutable_warmup_window()->set_seconds(nanos / 1000000000);
      cluster->mutable_warmup_window()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
    }
    for (const std::string& spec : args.all("filter")) {
      absl::StatusOr<mcmesh::v1::FilterConfig> filter = parseFilterSpec(spec);
      if (!filter.ok()) {
        return usage(absl::StrCat("bad --filter: ", filter.status().message()));
      }
      *cluster->add_filters() = std::move(*filter);
    }
    return change(ctx, request, absl::StrCat("create-cluster ", pos[1]),
                  &AdminService::Stub::CreateCluster);
  }

  if (command == "add-node" || command == "drain-node" || command == "remove-node") {
    if (nargs != 2) {
      return usage(absl::StrCat(command, " needs <cluster> <address>"));
    }
    const std::string what =
        absl::StrCat(command, " ", pos[1], " ",
                     pool == mcmesh::v1::POOL_KIND_BACKUP ? "backup" : "primary", " ", pos[2]);
    if (command == "add-node") {
      mcmesh::v1::AddNodeRequest request;
      request.set_cluster(pos[1]);
      request.set_pool(pool);
      request.set_address(pos[2]);
      uint32_t weight = 1;
      if (!parseWeight(args.get("weight", "1"), &weight)) {
        return usage("--weight must be a number");
      }
      request.set_weight(weight);
      return change(ctx, request, what, &AdminService::Stub::AddNode);
    }
    if (command == "drain-node") {
      mcmesh::v1::DrainNodeRequest request;
      request.set_cluster(pos[1]);
      request.set_pool(pool);
      request.set_address(pos[2]);
      return change(ctx, request, what, &AdminService::Stub::DrainNode);
    }
    mcmesh::v1::RemoveNodeRequest request;
    request.set_cluster(pos[1]);
    request.set_pool(pool);
    request.set_address(pos[2]);
    return change(ctx, request, what, &AdminService::Stub::RemoveNode);
  }

  if (command == "set-weight") {
    uint32_t weight = 0;
    if (nargs != 3 || !parseWeight(pos[3], &weight)) {
      return usage("set-weight needs <cluster> <address> <weight>");
    }
    mcmesh::v1::SetWeightRequest request;
    request.set_cluster(pos[1]);
    request.set_pool(pool);
    request.set_address(pos[2]);
    request.set_weight(weight);
    return change(ctx, request, absl::StrCat("set-weight ", pos[1], " ", pos[2], " ", weight),
                  &AdminService::Stub::SetWeight);
  }

  if (command == "set-backup") {
    if (nargs < 1) {
      return usage("set-backup needs <cluster> [<address[=weight]>...]");
    }
    mcmesh::v1::SetBackupRequest request;
    request.set_cluster(pos[1]);
    for (size_t i = 2; i < pos.size(); ++i) {
      if (!parseNode(pos[i], request.mutable_backup()->add_nodes())) {
        return usage(absl::StrCat("bad node \"", pos[i], "\" (want addr or addr=weight)"));
      }
    }
    return change(ctx, request, absl::StrCat("set-backup ", pos[1]),
                  &AdminService::Stub::SetBackup);
  }

  if (command == "set-filters") {
    if (nargs < 1) {
      return usage("set-filters needs <cluster> [<filter>...]");
    }
    mcmesh::v1::SetFiltersRequest request;
    request.set_cluster(pos[1]);
    std::vector<std::string> specs;
    for (size_t i = 2; i < pos.size(); ++i) {
      absl::StatusOr<mcmesh::v1::FilterConfig> filter = parseFilterSpec(pos[i]);
      if (!filter.ok()) {
        return usage(absl::StrCat("set-filters: ", filter.status().message()));
      }
      specs.push_back(formatFilterSpec(*filter));
      *request.add_filters() = std::move(*filter);
    }
    return change(ctx, request,
                  absl::StrCat("set-filters ", pos[1], " ",
                               specs.empty() ? "(default chain)" : absl::StrJoin(specs, " ")),
                  &AdminService::Stub::SetFilters);
  }

  if (command == "reset-epoch") {
    mcmesh::v1::ResetEpochRequest request;
    uint64_t epoch = 0;
    if (nargs > 1 || (nargs == 1 && (!absl::SimpleAtoi(pos[1], &epoch) || epoch == 0))) {
      return usage("reset-epoch takes at most one argument, a positive epoch number");
    }
    request.set_epoch(epoch);
    return change(ctx, request,
                  nargs == 1 ? absl::StrCat("reset-epoch ", epoch) : std::string("reset-epoch"),
                  &AdminService::Stub::ResetEpoch);
  }

  return usage(absl::StrCat("unknown command \"", command, "\""));
}

} // namespace
} // namespace control_plane
} // namespace mcmesh

int main(int argc, char** argv) { return mcmesh::control_plane::run(argc, argv); }
