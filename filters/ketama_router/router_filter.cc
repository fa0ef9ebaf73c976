// RouterFilter: keyed requests to the replication protocol, broadcast of flush_all.
#include "filters/ketama_router/router_filter.h"
#include "proxy/version.h"

#include "absl/strings/str_cat.h"

namespace mcmesh::router {
namespace {

absl::Status onlyKeys(const FilterConfigMap& config, std::initializer_list<absl::string_view> keys) {
  for (const auto& entry : config) {
    bool known = false;
    for (absl::string_view k : keys) known |= entry.first == k;
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown option '", entry.first, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<upstream::MirrorMode> parseMirrorMode(const std::string& value) {
  if (value == "async") return upstream::MirrorMode::kAsync;
  if (value == "sync") return upstream::MirrorMode::kSync;
  if (value == "none") return upstream::MirrorMode::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("mode must be async, sync or none, got '", value, "'"));
}

}  // namespace

absl::StatusOr<FilterFactory> makeRouterFactory(const FilterConfigMap& config,
                                                const FilterContext&) {
  absl::Status known = onlyKeys(config, {"mirror", "max_inflight", "miss_failover", "repair"});
  if (!known.ok()) return known;
  replication::ChainSettings settings;
  if (auto it = config.find("mirror"); it != config.end()) {
    auto mode = parseMirrorMode(it->second);
    if (!mode.ok()) return mode.status();
    settings.mirror = *mode;
  }
  if (config.count("max_inflight") != 0) {
    auto n = configUint(config, "max_inflight", 0);
    if (!n.ok()) return n.status();
    settings.max_mirror_inflight = *n;
  }
  if (config.count("miss_failover") != 0) {
    auto b = configBool(config, "miss_failover", true);
    if (!b.ok()) return b.status();
    settings.miss_failover = *b;
  }
  auto repair = configBool(config, "repair", true);
  if (!repair.ok()) return repair.status();
  settings.repair = *repair;
  return FilterFactory([settings] { return std::make_unique<RouterFilter>(settings); });
}

absl::StatusOr<FilterConfigMap> backupMirrorSettings(const FilterConfigMap& config) {
  absl::Status known = onlyKeys(config, {"mode", "max_inflight"});
  if (!known.ok()) return known;
  FilterConfigMap out;
  if (auto it = config.find("mode"); it != config.end()) {
    auto mode = parseMirrorMode(it->second);
    if (!mode.ok()) return mode.status();
    out["mirror"] = it->second;
  }
  if (config.count("max_inflight") != 0) {
    auto n = configUint(config, "max_inflight", 0);
    if (!n.ok()) return n.status();
    out["max_inflight"] = config.at("max_inflight");
  }
  return out;
}

absl::StatusOr<FilterConfigMap> failoverReaderSettings(const FilterConfigMap& config) {
  absl::Status known = onlyKeys(config, {"miss_failover", "repair"});
  if (!known.ok()) return known;
  for (const auto& [key, value] : config) {
    auto b = configBool(config, key, true);
    if (!b.ok()) return b.status();
  }
  return config;
}

FilterStatus RouterFilter::onRequest(Request& request) {
  replication::Upstreams& cluster = callbacks_->cluster();
  snapshot_ = cluster.snapshotPtr();
  switch (request.command) {
    case Command::kVersion: {
      Response r = Response::ofType(ResponseType::kVersion);
      r.text = kVersionString;
      callbacks_->sendResponse(std::move(r));
      return FilterStatus::kStopIteration;
    }
    case Command::kVerbosity:
      callbacks_->sendResponse(Response::ofType(ResponseType::kOk));
      return FilterStatus::kStopIteration;
    case Command::kFlushAll:
      broadcast(request);
      return FilterStatus::kStopIteration;
    case Command::kStats:
      // Normally answered by the stats filter; without it, an empty stats reply.
      callbacks_->sendResponse(Response::ofType(ResponseType::kStats));
      return FilterStatus::kStopIteration;
    case Command::kQuit:
      callbacks_->sendResponse(Response::ofType(ResponseType::kOk));
      return FilterStatus::kStopIteration;
    case Command::kMetaDebug:
      routeSingleHost(request);
      return FilterStatus::kStopIteration;
    default:
      break;
  }
  if (isRetrieval(request.command)) {
    read_.start(cluster, request, callbacks_->connectionId(), *this, settings_);
  } else {
    write_.start(cluster, request, callbacks_->connectionId(), *this, settings_);
  }
  return FilterStatus::kStopIteration;
}

void RouterFilter::onReply(Response&& response) { callbacks_->sendResponse(std::move(response)); }

void RouterFilter::routeSingleHost(Request& request) {
  // `me <key>`: a debug line from the server that would answer a read of the key.
  replication::Upstreams& cluster = callbacks_->cluster();
  const upstream::HostConfig* host = cluster.replication().placement().routeOf(cluster, request);
  if (host == nullptr) host = snapshot_->backupFor(request.keys[0]);
  if (host == nullptr) {
    callbacks_->sendResponse(Response::upstreamFailure(absl::StrCat(
        "server ", snapshot_->primaryFor(request.keys[0]).address, " is down (ejected)")));
    return;
  }
  fragments_.addHost(*host);
  sendFragments(request);
}

void RouterFilter::broadcast(Request& request) {
  for (const upstream::HostConfig* host : snapshot_->allHosts()) fragments_.addHost(*host);
  sendFragments(request);
}

void RouterFilter::sendFragments(const Request& request) {
  fragments_.start();
  replication::Upstreams& cluster = callbacks_->cluster();
  std::vector<Fragment>& fragments = fragments_.fragments();
  for (size_t i = 0; i < fragments.size(); ++i) {
    upstream::Cancellable* handle = cluster.send(*fragments[i].host, request, [this, i](Response&& r) {
      onFragmentDone(i, std::move(r));
    }, callbacks_->connectionId());
    if (!fragments[i].done) fragments[i].handle = handle;  // else answered inline.
  }
}

void RouterFilter::onFragmentDone(size_t index, Response&& response) {
  if (!fragments_.complete(index, std::move(response))) return;
  std::vector<Fragment>& fragments = fragments_.fragments();
  callbacks_->sendResponse(fragments.size() == 1 ? std::move(fragments[0].response)
                                                 : fragments_.mergeBroadcast());
}

bool RouterFilter::resetForReuse() {
  snapshot_.reset();  // don't hold an old topology alive while idle.
  read_.reset();
  write_.reset();
  fragments_.clear();
  return true;
}

void RouterFilter::onDestroy() {
  read_.cancel();
  write_.cancel();
  for (Fragment& f : fragments_.fragments()) {
    if (f.handle != nullptr) {
      f.handle->cancel();
      f.handle = nullptr;
    }
  }
}

}  // namespace mcmesh::router
