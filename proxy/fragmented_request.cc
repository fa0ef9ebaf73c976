// FragmentedRequest: grouping keys per server, sub-requests, key-order merge, broadcast merge.
#include "proxy/fragmented_request.h"

#include "absl/strings/str_cat.h"

namespace mcmesh {

void FragmentedRequest::addKey(uint32_t key_index, const upstream::HostConfig* host,
                               const std::string& address) {
  for (Fragment& f : fragments_) {
    if (f.address == address && (f.host == nullptr) == (host == nullptr)) {
      f.key_indexes.push_back(key_index);
      return;
    }
  }
  Fragment f;
  f.host = host;
  f.address = address;
  f.key_indexes.push_back(key_index);
  fragments_.push_back(std::move(f));
}

void FragmentedRequest::addHost(const upstream::HostConfig& host) {
  for (const Fragment& f : fragments_) {
    if (f.address == host.address) return;
  }
  Fragment f;
  f.host = &host;
  f.address = host.address;
  fragments_.push_back(std::move(f));
}

Request FragmentedRequest::subRequest(const Request& request,
                                              size_t index) const {
  Request sub;
  sub.command = request.command;
  sub.exptime = request.exptime;
  sub.keys.reserve(fragments_[index].key_indexes.size());
  for (uint32_t k : fragments_[index].key_indexes) sub.keys.push_back(request.keys[k]);
  return sub;
}

bool FragmentedRequest::complete(size_t index, Response&& response) {
  Fragment& f = fragments_[index];
  if (f.done) return false;
  f.handle = nullptr;
  f.done = true;
  f.response = std::move(response);
  return --outstanding_ == 0;
}

Response FragmentedRequest::mergeRetrieval(const Request& request) {
  Response merged = Response::ofType(ResponseType::kValues);
  std::vector<size_t> fragment_of(request.keys.size(), 0);
  std::vector<size_t> cursor(fragments_.size(), 0);
  size_t failed_fragments = 0;
  std::string first_failure;
  for (size_t fi = 0; fi < fragments_.size(); ++fi) {
    const Fragment& f = fragments_[fi];
    const bool ok = f.response.type == ResponseType::kValues;
    if (!ok) {
      ++failed_fragments;
      if (first_failure.empty()) first_failure = f.response.text;
    }
    for (uint32_t k : f.key_indexes) {
      fragment_of[k] = fi;
      if (!ok) merged.failed_keys.push_back(request.keys[k]);
    }
  }
  if (failed_fragments == fragments_.size()) {
    Response failure = Response::upstreamFailure(first_failure);
    failure.failed_keys = std::move(merged.failed_keys);
    return failure;
  }
  for (size_t k = 0; k < request.keys.size(); ++k) {
    Fragment& f = fragments_[fragment_of[k]];
    if (f.response.type != ResponseType::kValues) continue;
    size_t& c = cursor[fragment_of[k]];
    if (c < f.response.items.size() && f.response.items[c].key == request.keys[k]) {
      merged.items.push_back(std::move(f.response.items[c]));
      ++c;
    }
  }
  return merged;
}

Response FragmentedRequest::mergeBroadcast() const {
  size_t failed = 0;
  std::string reason;
  for (const Fragment& f : fragments_) {
    if (f.response.type == ResponseType::kOk) continue;
    ++failed;
    if (reason.empty()) {
      reason = absl::StrCat(f.address, ": ", f.response.text.empty() ? "error" : f.response.text);
    }
  }
  if (failed == 0) return Response::ofType(ResponseType::kOk);
  return Response::serverError(absl::StrCat("failed on ", failed, " of ", fragments_.size(),
                                            " servers (", reason, ")"));
}

}  // namespace mcmesh
