// ActiveRequestPool: recycle after the batch, reuse per chain.
#include "proxy/active_request_pool.h"

namespace mcmesh {

ActiveRequestPool::ActiveRequestPool(Dispatcher& dispatcher, size_t max_idle)
    : dispatcher_(dispatcher), max_idle_(max_idle) {}

ActiveRequestPool::~ActiveRequestPool() { dispatcher_.cancelEndOfBatch(*this); }

ActiveRequestPtr ActiveRequestPool::acquire(RequestOwner& owner, Request&& request,
                                            const FilterChainConstSharedPtr& chain,
                                            std::chrono::steady_clock::time_point started) {
  if (chain != chain_) {
    // A new chain (config push): instances of the old one must not serve its requests.
    idle_.clear();
    chain_ = chain;
  }
  if (!idle_.empty()) {
    ActiveRequestPtr reused = std::move(idle_.back());
    idle_.pop_back();
    reused->reuse(owner, std::move(request), started);
    return reused;
  }
  auto fresh = std::make_unique<ActiveRequest>(owner, std::move(request), *chain, started);
  fresh->pinChain(chain);
  return fresh;
}

void ActiveRequestPool::release(ActiveRequestPtr request) {
  released_.push_back(std::move(request));
  dispatcher_.scheduleEndOfBatch(*this);
}

void ActiveRequestPool::clear() {
  dispatcher_.cancelEndOfBatch(*this);
  released_.clear();  // ~ActiveRequest runs onDestroy(): upstream work is cancelled.
  idle_.clear();
}

void ActiveRequestPool::runEndOfBatch() {
  // Swap out first: tearing a request down may release others (never today, but cheaply safe).
  std::vector<ActiveRequestPtr> batch;
  batch.swap(released_);
  for (auto& request : batch) {
    bool reusable = request->recycle();
    if (reusable && request->chain() == chain_.get() && chain_ != nullptr &&
        idle_.size() < max_idle_) {
      idle_.push_back(std::move(request));
    }
    request.reset();  // not reusable: freed here, its onDestroy() already ran.
  }
  batch.clear();
  if (released_.empty()) released_.swap(batch);  // keep the vector's capacity.
}

}  // namespace mcmesh
