// HostHealth: passive outlier detection for one upstream host on one worker.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace mcmesh::upstream {

struct HealthOptions {
  uint32_t eject_after_failures = 2;  // consecutive connect/IO errors or timeouts.
  absl::Duration base_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Kept apart from the ring (rings are immutable per snapshot): a flapping host changes only this.
// After the backoff the host is "half-open": traffic is allowed again and the first success
// recovers it; another failure re-ejects it with a doubled backoff.
class HostHealth {
 public:
  explicit HostHealth(HealthOptions options = {}) : options_(options) {}

  /** @return whether requests may be sent now. */
  bool available(absl::Time now) const { return !ejected_ || now >= retry_at_; }
  bool ejected() const { return ejected_; }
  uint32_t consecutiveFailures() const { return failures_; }
  absl::Time retryAt() const { return retry_at_; }

  /** @return true if this failure ejected the host (or re-ejected a half-open one). */
  bool recordFailure(absl::Time now) {
    ++failures_;
    if (ejected_) {
      if (now < retry_at_) return false;  // failures of requests sent before the ejection.
      backoff_ = std::min(backoff_ * 2, options_.max_backoff);
      retry_at_ = now + backoff_;
      return true;
    }
    if (failures_ < options_.eject_after_failures) return false;
    ejected_ = true;
    backoff_ = options_.base_backoff;
    retry_at_ = now + backoff_;
    return true;
  }

  /** The active prober saw the host fail. @return true if this ejected it. */
  bool forceEject(absl::Time now) {
    if (ejected_ && now < retry_at_) return false;
    bool newly = !ejected_;
    ejected_ = true;
    backoff_ = newly ? options_.base_backoff : std::min(backoff_ * 2, options_.max_backoff);
    retry_at_ = now + backoff_;
    return newly;
  }

  /** @return true if this success recovered an ejected host. */
  bool recordSuccess() {
    failures_ = 0;
    if (!ejected_) return false;
    ejected_ = false;
    return true;
  }

 private:
  HealthOptions options_;
  bool ejected_ = false;
  uint32_t failures_ = 0;
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time retry_at_ = absl::InfinitePast();
};

}  // namespace mcmesh::upstream
