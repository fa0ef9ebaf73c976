// ActiveRequestPool: one worker's finished requests, kept with their filters for reuse.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include "proxy/dispatcher.h"
#include "proxy/filter_chain.h"

namespace mcmesh {

// Building a request's filter instances cost 5 heap allocations per request (the ActiveRequest
// and one per filter of the default chain) and, under pipelining, bursts of allocations and frees
// that miss malloc's per-thread cache. Filters that can reset themselves (Filter::resetForReuse,
// all built-in ones) are reused instead, with the ActiveRequest that holds them.
//
// A released request may still be on the call stack (answered inline), so it is torn down and
// made reusable only after the loop's current batch of events (Dispatcher::scheduleEndOfBatch).
class ActiveRequestPool : private EndOfBatchWork {
 public:
  explicit ActiveRequestPool(Dispatcher& dispatcher, size_t max_idle = 1024);
  ~ActiveRequestPool() override;
  ActiveRequestPool(const ActiveRequestPool&) = delete;
  ActiveRequestPool& operator=(const ActiveRequestPool&) = delete;

  /**
   * A request ready to start(): reused if one built from `chain` is idle, else new. A reused
   * one hands its old buffers back through `request` (see ActiveRequest::reuse).
   */
  ActiveRequestPtr acquire(RequestOwner& owner, Request&& request,
                           const FilterChainConstSharedPtr& chain,
                           std::chrono::steady_clock::time_point started);
  /** The request is complete or abandoned (its client closed). */
  void release(ActiveRequestPtr request);

  /** Frees everything now (worker shutdown, before the upstream pools go). */
  void clear();
  size_t idleCount() const { return idle_.size(); }

 private:
  void runEndOfBatch() override;

  Dispatcher& dispatcher_;
  size_t max_idle_;
  FilterChainConstSharedPtr chain_;  // idle_ were built from this chain.
  std::vector<ActiveRequestPtr> idle_;
  std::vector<ActiveRequestPtr> released_;
};

}  // namespace mcmesh
