// FilterCounters: counters a filter (built-in or a plugin) declares by name when its chain is
// built. They appear in `stats` as <filter>_<name> and in /metrics as
// mcmesh_filter_<filter>_<name>_total, summed over workers like the proxy's own counters.
//
// Declaring takes a lock and happens at chain build only; counting is a relaxed store into the
// worker's ProxyCounters::filter slot (no lock, no allocation, no thread_local on the data path).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "proxy/stats.h"

namespace mcmesh {

/** A declared counter: pass the worker's counters (FilterCallbacks::cluster().counters()). */
class FilterCounter {
 public:
  FilterCounter() = default;
  void inc(ProxyCounters& worker_counters, uint64_t n = 1) const {
    worker_counters.filter[slot_].inc(n);
  }
  size_t slot() const { return slot_; }

 private:
  friend class FilterCounterRegistry;
  explicit FilterCounter(size_t slot) : slot_(slot) {}
  size_t slot_ = 0;
};

class FilterCounterRegistry {
 public:
  struct Entry {
    std::string filter;
    std::string name;
    std::string help;
  };

  /**
   * Declares `filter`'s counter `name` (lower-case letters, digits, '_'), or finds it: chains are
   * rebuilt on topology pushes, and the same pair always gets the same slot, so counts survive.
   * @return INVALID_ARGUMENT for a bad name, RESOURCE_EXHAUSTED past kMaxFilterCounters.
   */
  absl::StatusOr<FilterCounter> declare(absl::string_view filter, absl::string_view name,
                                        absl::string_view help);
  /** Declared counters in slot order. Thread-safe. */
  std::vector<Entry> entries() const;

 private:
  mutable absl::Mutex mutex_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace mcmesh
