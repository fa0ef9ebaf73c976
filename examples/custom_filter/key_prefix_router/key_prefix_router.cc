// KeyPrefixRouterFilter: prefix routing, fan-out, inline-safe completion and cancellation.
#include "key_prefix_router/key_prefix_router.h"

#include "absl/strings/str_cat.h"
#include "proxy/version.h"

namespace custom_filter::key_prefix_router {

using mcmesh::Command;
using mcmesh::FilterStatus;
using mcmesh::Response;
using mcmesh::ResponseType;

absl::StatusOr<mcmesh::FilterFactory> makeKeyPrefixRouterFactory(
    const mcmesh::FilterConfigMap& config, const mcmesh::FilterContext&) {
  auto table = PrefixRouteTable::create(config);
  if (!table.ok()) return table.status();
  PrefixRouteTableConstSharedPtr shared = *table;
  return mcmesh::FilterFactory(
      [shared] { return std::make_unique<KeyPrefixRouterFilter>(shared); });
}

FilterStatus KeyPrefixRouterFilter::onRequest(mcmesh::Request& request) {
  // Pinned for the whole request: default-route host pointers point into it, and a topology
  // push may replace the cluster's current snapshot while replies are outstanding.
  snapshot_ = callbacks_->cluster().snapshotPtr();
  // A terminal filter answers everything, including what needs no server (as ketama_router).
  switch (request.command) {
    case Command::kVersion: {
      Response r = Response::ofType(ResponseType::kVersion);
      r.text = mcmesh::kVersionString;
      callbacks_->sendResponse(std::move(r));
      return FilterStatus::kStopIteration;
    }
    case Command::kVerbosity:
    case Command::kQuit:
      callbacks_->sendResponse(Response::ofType(ResponseType::kOk));
      return FilterStatus::kStopIteration;
    case Command::kStats:
      callbacks_->sendResponse(Response::ofType(ResponseType::kStats));
      return FilterStatus::kStopIteration;
    case Command::kFlushAll:
      broadcast();
      dispatch(request);
      return FilterStatus::kStopIteration;
    default:
      break;
  }
  if (request.keys.empty()) {
    callbacks_->sendResponse(Response::serverError("request has no key"));
    return FilterStatus::kStopIteration;
  }
  routeKeys(request);
  dispatch(request);
  // Always stop: replies may arrive inline (inside dispatch) or later; either way
  // onFragmentDone sends the response.
  return FilterStatus::kStopIteration;
}

void KeyPrefixRouterFilter::routeKeys(const mcmesh::Request& request) {
  mcmesh::replication::Upstreams& cluster = callbacks_->cluster();
  // Only the get family carries several keys; anything else is routed by its one key.
  const size_t routed = mcmesh::isRetrieval(request.command) ? request.keys.size() : 1;
  for (uint32_t i = 0; i < routed; ++i) {
    const std::string& key = request.keys[i];
    if (const PrefixGroup* group = table_->groupFor(key)) {
      const mcmesh::upstream::HostConfig& host = table_->hostFor(*group, key);
      // An ejected group server fails its keys (no rehash inside a group; see the docs).
      fragments_.addKey(i, cluster.available(host) ? &host : nullptr, host.address);
    } else if (const mcmesh::upstream::HostConfig* host =
                   cluster.replication().placement().routeFor(cluster, key)) {
      // The cluster's own placement: its ring, health and eject policy.
      fragments_.addKey(i, host, host->address);
    } else {
      fragments_.addKey(i, nullptr, snapshot_->primaryFor(key).address);
    }
  }
}

void KeyPrefixRouterFilter::broadcast() {
  broadcast_ = true;
  for (const mcmesh::upstream::HostConfig* host : snapshot_->allHosts()) {
    fragments_.addHost(*host);
  }
  for (const PrefixGroup& group : table_->groups()) {
    for (const mcmesh::upstream::HostConfig& host : group.hosts) fragments_.addHost(host);
  }
}

void KeyPrefixRouterFilter::dispatch(const mcmesh::Request& request) {
  fragments_.start();
  std::vector<mcmesh::Fragment>& fragments = fragments_.fragments();
  const bool whole = broadcast_ || fragments.size() == 1;
  mcmesh::replication::Upstreams& cluster = callbacks_->cluster();
  for (size_t i = 0; i < fragments.size(); ++i) {
    if (fragments[i].host == nullptr) {
      onFragmentDone(i, Response::upstreamFailure(
                            absl::StrCat("server ", fragments[i].address, " is down (ejected)")));
      continue;
    }
    auto callback = [this, i](Response&& r) { onFragmentDone(i, std::move(r)); };
    mcmesh::upstream::Cancellable* handle =
        whole ? cluster.send(*fragments[i].host, request, std::move(callback),
                             callbacks_->connectionId())
              : cluster.send(*fragments[i].host, fragments_.subRequest(request, i),
                             std::move(callback), callbacks_->connectionId());
    // A reply that arrived inline already completed the fragment: its handle is spent.
    if (!fragments[i].done) fragments[i].handle = handle;
  }
}

void KeyPrefixRouterFilter::onFragmentDone(size_t index, Response&& response) {
  if (!fragments_.complete(index, std::move(response))) return;
  std::vector<mcmesh::Fragment>& fragments = fragments_.fragments();
  if (broadcast_) {
    callbacks_->sendResponse(fragments_.mergeBroadcast());
  } else if (fragments.size() == 1) {
    callbacks_->sendResponse(std::move(fragments[0].response));
  } else {
    callbacks_->sendResponse(fragments_.mergeRetrieval(callbacks_->request()));
  }
}

void KeyPrefixRouterFilter::onDestroy() {
  for (mcmesh::Fragment& f : fragments_.fragments()) {
    if (f.handle != nullptr) {
      f.handle->cancel();
      f.handle = nullptr;
    }
  }
}

}  // namespace custom_filter::key_prefix_router
