// MissPolicy: windows after restarts/recoveries and a token bucket per backup.
#include "proxy/replication/miss_policy.h"

#include <algorithm>

namespace mcmesh::replication {

void MissPolicy::openWindow(const std::string& primary, absl::Time now) {
  window_until_[primary] = now + options_.window;
}

bool MissPolicy::inWindow(const std::string& primary, absl::Time now) const {
  auto it = window_until_.find(primary);
  return it != window_until_.end() && now < it->second;
}

bool MissPolicy::shouldReadBackup(const std::string& primary, const std::string& backup,
                                  absl::Time now) {
  if (inWindow(primary, now)) return true;
  if (options_.budget_per_second <= 0) return false;
  Bucket& b = budgets_[backup];
  const double burst = options_.budget_per_second;
  if (b.last == absl::InfinitePast()) {
    b.tokens = burst;
  } else {
    b.tokens = std::min(burst, b.tokens + absl::ToDoubleSeconds(now - b.last) *
                                               options_.budget_per_second);
  }
  b.last = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace mcmesh::replication
