// RouterFilter: per-host fragmentation, ordered merge, broadcast of flush_all.
#include "filters/ketama_router/router_filter.h"

#include "absl/strings/str_cat.h"

namespace mcmesh::router {

FilterStatus RouterFilter::onRequest(Request& request) {
  snapshot_ = callbacks_->cluster().snapshotPtr();
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
    case Command::kStats: {
      // Normally answered by the stats filter; without it, an empty stats reply.
      callbacks_->sendResponse(Response::ofType(ResponseType::kStats));
      return FilterStatus::kStopIteration;
    }
    case Command::kQuit:
      callbacks_->sendResponse(Response::ofType(ResponseType::kOk));
      return FilterStatus::kStopIteration;
    default:
      break;
  }
  if (isRetrieval(request.command) && request.keys.size() > 1) {
    routeRetrieval(request);
  } else {
    routeSingle(request);
  }
  return FilterStatus::kStopIteration;
}

void RouterFilter::routeSingle(Request& request) {
  fragments_.resize(1);
  fragments_[0].host = callbacks_->cluster().routeFor(request.keys[0]);
  fragments_[0].key_indexes.push_back(0);
  dispatchFragments(request);
}

void RouterFilter::routeRetrieval(Request& request) {
  upstream::ClusterView& cluster = callbacks_->cluster();
  for (uint32_t i = 0; i < request.keys.size(); ++i) {
    const upstream::HostConfig* host = cluster.routeFor(request.keys[i]);
    Fragment* target = nullptr;
    for (auto& f : fragments_) {
      if (f.host == host) target = &f;
    }
    if (target == nullptr) {
      fragments_.emplace_back();
      target = &fragments_.back();
      target->host = host;
    }
    target->key_indexes.push_back(i);
  }
  dispatchFragments(request);
}

void RouterFilter::broadcast(Request& request) {
  broadcast_ = true;
  for (const upstream::HostConfig* host : callbacks_->cluster().snapshot().allHosts()) {
    fragments_.emplace_back();
    fragments_.back().host = host;
  }
  dispatchFragments(request);
}

void RouterFilter::dispatchFragments(const Request& request) {
  outstanding_ = fragments_.size();
  upstream::ClusterView& cluster = callbacks_->cluster();
  for (size_t i = 0; i < fragments_.size(); ++i) {
    Fragment& f = fragments_[i];
    if (f.host == nullptr) {
      const auto& primary = cluster.snapshot().primaryFor(request.keys[f.key_indexes[0]]);
      onFragmentDone(i, Response::upstreamFailure(
                            absl::StrCat("server ", primary.address, " is down (ejected)")));
      continue;
    }
    auto callback = [this, i](Response&& r) { onFragmentDone(i, std::move(r)); };
    if (fragments_.size() == 1 || broadcast_) {
      f.handle = cluster.send(*f.host, request, std::move(callback), callbacks_->connectionId());
    } else {
      Request sub;
      sub.command = request.command;
      sub.exptime = request.exptime;
      sub.keys.reserve(f.key_indexes.size());
      for (uint32_t k : f.key_indexes) sub.keys.push_back(request.keys[k]);
      f.handle = cluster.send(*f.host, sub, std::move(callback), callbacks_->connectionId());
    }
    if (f.done) f.handle = nullptr;  // answered inline
  }
}

void RouterFilter::onFragmentDone(size_t index, Response&& response) {
  Fragment& f = fragments_[index];
  f.handle = nullptr;
  f.done = true;
  if (fragments_.size() == 1 && !broadcast_) {
    // The common case, one server: the reply goes straight on, without a stop in the fragment.
    outstanding_ = 0;
    callbacks_->sendResponse(std::move(response));
    return;
  }
  f.response = std::move(response);
  if (--outstanding_ != 0) return;
  if (broadcast_) {
    callbacks_->sendResponse(mergeBroadcast());
  } else {
    callbacks_->sendResponse(mergeRetrieval());
  }
}

Response RouterFilter::mergeRetrieval() {
  const Request& request = callbacks_->request();
  Response merged = Response::ofType(ResponseType::kValues);
  absl::InlinedVector<uint32_t, 16> fragment_of(request.keys.size());
  absl::InlinedVector<size_t, 4> cursor(fragments_.size(), 0);
  size_t failed_fragments = 0;
  size_t hits = 0;
  for (size_t fi = 0; fi < fragments_.size(); ++fi) {
    const Fragment& f = fragments_[fi];
    bool ok = f.response.type == ResponseType::kValues;
    if (!ok) {
      ++failed_fragments;
      if (merged.text.empty()) merged.text = f.response.text;
    } else {
      hits += f.response.items.size();
    }
    for (uint32_t k : f.key_indexes) {
      fragment_of[k] = static_cast<uint32_t>(fi);
      if (!ok) merged.failed_keys.push_back(request.keys[k]);
    }
  }
  if (failed_fragments == fragments_.size()) {
    Response failure = Response::upstreamFailure(merged.text);
    failure.failed_keys = std::move(merged.failed_keys);
    return failure;
  }
  merged.items.reserve(hits);
  // Servers return hits in the order asked, so one cursor per fragment restores key order.
  for (size_t k = 0; k < request.keys.size(); ++k) {
    Fragment& f = fragments_[fragment_of[k]];
    if (f.response.type != ResponseType::kValues) continue;
    size_t& c = cursor[fragment_of[k]];
    if (c < f.response.items.size() && f.response.items[c].key == request.keys[k]) {
      merged.items.push_back(std::move(f.response.items[c]));
      ++c;
    }
  }
  merged.text.clear();
  return merged;
}

Response RouterFilter::mergeBroadcast() {
  size_t failed = 0;
  std::string reason;
  for (const auto& f : fragments_) {
    if (f.response.type != ResponseType::kOk) {
      ++failed;
      if (reason.empty()) {
        reason = absl::StrCat(f.host->address, ": ",
                              f.response.text.empty() ? "error" : f.response.text);
      }
    }
  }
  if (failed == 0) return Response::ofType(ResponseType::kOk);
  return Response::serverError(absl::StrCat("failed on ", failed, " of ", fragments_.size(),
                                            " servers (", reason, ")"));
}

bool RouterFilter::resetForReuse() {
  snapshot_.reset();  // don't hold an old topology alive while idle.
  fragments_.clear();
  outstanding_ = 0;
  broadcast_ = false;
  return true;
}

void RouterFilter::onDestroy() {
  for (auto& f : fragments_) {
    if (f.handle != nullptr) {
      f.handle->cancel();
      f.handle = nullptr;
    }
  }
}

}  // namespace mcmesh::router
