// PerWorker<T>: one T per worker thread, for state a filter keeps across requests (buckets,
// caches) without locks and without thread_local. Keep it in the object your factory builder
// shares with every instance (it lives as long as the chain): each worker only touches its own
// T, at FilterCallbacks::workerIndex(); all Ts are made up front, so reading them from another
// thread (stats) races with nothing but their own contents (use Counters there).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace mcmesh {

template <class T>
class PerWorker {
 public:
  /** @param workers FilterContext::workers; @param make builds one worker's T. */
  PerWorker(size_t workers, const std::function<std::unique_ptr<T>()>& make) {
    slots_.reserve(workers);
    for (size_t i = 0; i < workers; ++i) slots_.push_back(make());
  }
  /** The calling worker's T: pass FilterCallbacks::workerIndex(). */
  T& get(size_t worker) const { return *slots_[worker]; }
  size_t size() const { return slots_.size(); }
  /** Visits every worker's T (for reports; see the note above on what is safe to read). */
  template <class F>
  void forEach(F&& f) const {
    for (const auto& slot : slots_) f(static_cast<const T&>(*slot));
  }

 private:
  std::vector<std::unique_ptr<T>> slots_;
};

}  // namespace mcmesh
