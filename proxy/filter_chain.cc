// ActiveRequest: forward and reverse iteration over one request's filter instances.
#include "proxy/filter_chain.h"

#include "proxy/buffer_policy.h"

namespace mcmesh {

ActiveRequest::ActiveRequest(RequestOwner& owner, Request&& request, const FilterChain& chain,
                             std::chrono::steady_clock::time_point started)
    : owner_(&owner), request_(std::move(request)), started_(started) {
  filters_.reserve(chain.factories.size());
  for (const auto& factory : chain.factories) {
    filters_.push_back(factory());
    filters_.back()->setCallbacks(*this);
  }
}

ActiveRequest::ActiveRequest(RequestOwner& owner, std::string&& encoded_reply)
    : owner_(&owner), complete_(true), encoded_(std::move(encoded_reply)) {}

ActiveRequest::~ActiveRequest() {
  if (destroyed_) return;
  for (auto& filter : filters_) filter->onDestroy();
}

bool ActiveRequest::recycle() {
  if (!destroyed_) {
    for (auto& filter : filters_) filter->onDestroy();
    destroyed_ = true;
  }
  if (filters_.empty()) return false;  // a local reply: nothing worth keeping.
  bool reusable = true;
  for (auto& filter : filters_) reusable = filter->resetForReuse() && reusable;
  if (reusable) {
    response_ = Response();  // its items came from an upstream: nothing to reuse there.
    // Kept for the next request parsed into it (see reuse), but not a big value's or multi-get's.
    releaseLargeBuffers(request_, kMaxKeptRequestBufferBytes);
    shrinkIfLarge(encoded_, kMaxKeptRequestBufferBytes);
  }
  return reusable;
}

void ActiveRequest::reuse(RequestOwner& owner, Request&& request,
                          std::chrono::steady_clock::time_point started) {
  owner_ = &owner;
  // Swapped, not moved: the caller gets this object's old buffers (key vector, value string) to
  // parse its next request into. Keys longer than std::string's inline buffer are still
  // allocated per request: the parser rebuilds the key strings.
  using std::swap;
  swap(request_, request);  // mcmesh::swap (message.h): member-wise.
  request_index_ = 0;
  response_index_ = -1;
  responding_ = false;
  complete_ = false;
  destroyed_ = false;
  encoded_.clear();
  started_ = started;
}

void ActiveRequest::start() { runRequest(); }

void ActiveRequest::runRequest() {
  while (request_index_ < filters_.size()) {
    FilterStatus status = filters_[request_index_]->onRequest(request_);
    if (responding_ || status == FilterStatus::kStopIteration) return;
    ++request_index_;
  }
  // Only reachable when the chain has no terminal filter: answer rather than hang.
  sendResponse(Response::serverError("filter chain has no terminal filter"));
}

void ActiveRequest::continueRequest() {
  if (responding_) return;
  ++request_index_;
  runRequest();
}

void ActiveRequest::sendResponse(Response&& response) {
  if (responding_) return;  // a filter answered twice; the first answer wins.
  responding_ = true;
  response_ = std::move(response);
  response_index_ = static_cast<int>(std::min(request_index_, filters_.size())) - 1;
  runResponse();
}

void ActiveRequest::runResponse() {
  while (response_index_ >= 0) {
    FilterStatus status = filters_[response_index_]->onResponse(response_);
    if (status == FilterStatus::kStopIteration) return;
    --response_index_;
  }
  complete_ = true;
  owner_->onRequestComplete(*this);
}

void ActiveRequest::continueResponse() {
  if (!responding_ || complete_) return;
  --response_index_;
  runResponse();
}

}  // namespace mcmesh
