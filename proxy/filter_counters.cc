// FilterCounterRegistry: name checks and stable slots for filters' counters.
#include "proxy/filter_counters.h"

#include "absl/strings/str_cat.h"

namespace mcmesh {
namespace {

// The names become part of `stats` lines and Prometheus family names: keep them to the
// characters both accept.
bool validName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<FilterCounter> FilterCounterRegistry::declare(absl::string_view filter,
                                                            absl::string_view name,
                                                            absl::string_view help) {
  if (!validName(filter) || !validName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter '", filter, "_", name,
                     "': filter and counter names are 1-64 of [a-z0-9_]"));
  }
  absl::MutexLock lock(&mutex_);
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].filter == filter && entries_[i].name == name) return FilterCounter(i);
  }
  if (entries_.size() >= kMaxFilterCounters) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "counter '", filter, "_", name, "': all ", kMaxFilterCounters,
        " filter counter slots are declared"));
  }
  entries_.push_back({std::string(filter), std::string(name), std::string(help)});
  return FilterCounter(entries_.size() - 1);
}

std::vector<FilterCounterRegistry::Entry> FilterCounterRegistry::entries() const {
  absl::MutexLock lock(&mutex_);
  return entries_;
}

}  // namespace mcmesh
