// HostHealth: passive outlier detection for one upstream host on one worker.
#pragma once

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"

namespace mcmesh::upstream {

// Health counts failures per class of request: a success of one class does not clear the
// other's streak. A server that fails every get but stores every set is therefore ejected after
// eject_after failed gets, and only a successful read readmits it (a write cannot).
enum class RequestClass : uint8_t { kRead = 0, kWrite = 1 };

struct HealthOptions {
  uint32_t eject_after_failures = 2;  // consecutive connect/IO errors or timeouts.
  absl::Duration base_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  // Data-path views: an ejected primary with a backup is readmitted only by the recovery that
  // drains its journal, never by a reply (see HostState::readmit_by_recovery_only). The main
  // thread's probe view drains nothing and turns this off: its probes' replies say "up".
  bool readmit_primaries_by_recovery = true;
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
  /** The longer of the two classes' streaks of consecutive failures. */
  uint32_t consecutiveFailures() const { return std::max(failures_[0], failures_[1]); }
  absl::Time retryAt() const { return retry_at_; }

  /** @return true if this failure ejected the host (or re-ejected a half-open one). */
  bool recordFailure(absl::Time now, RequestClass c = RequestClass::kWrite) {
    uint32_t& failures = failures_[static_cast<int>(c)];
    ++failures;
    if (ejected_) {
      if (now < retry_at_) return false;  // failures of requests sent before the ejection.
      backoff_ = std::min(backoff_ * 2, options_.max_backoff);
      retry_at_ = now + backoff_;
      ejected_by_ = static_cast<int>(c);
      return true;
    }
    if (failures < options_.eject_after_failures) return false;
    ejected_ = true;
    ejected_by_ = static_cast<int>(c);
    backoff_ = options_.base_backoff;
    retry_at_ = now + backoff_;
    return true;
  }

  /** The active prober saw the host fail. @return true if this ejected it. */
  bool forceEject(absl::Time now) {
    if (ejected_ && now < retry_at_) return false;
    bool newly = !ejected_;
    ejected_ = true;
    ejected_by_ = kAnyClass;
    backoff_ = newly ? options_.base_backoff : std::min(backoff_ * 2, options_.max_backoff);
    retry_at_ = now + backoff_;
    return newly;
  }

  /**
   * A request of class `c` succeeded: clears that class's streak. @return true if this recovered
   * an ejected host (only a success of the class that ejected it does).
   */
  bool recordSuccess(RequestClass c = RequestClass::kWrite) {
    failures_[static_cast<int>(c)] = 0;
    if (!ejected_) return false;
    if (ejected_by_ != kAnyClass && ejected_by_ != static_cast<int>(c)) return false;
    ejected_ = false;
    failures_[0] = failures_[1] = 0;
    return true;
  }

  /** Readmits the host whatever ejected it (a good probe, a finished recovery). */
  bool recover() {
    ejected_by_ = kAnyClass;
    return recordSuccess();
  }

 private:
  HealthOptions options_;
  static constexpr int kAnyClass = -1;
  bool ejected_ = false;
  int ejected_by_ = kAnyClass;  // the RequestClass whose success readmits the host.
  uint32_t failures_[2] = {0, 0};  // by RequestClass.
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time retry_at_ = absl::InfinitePast();
};

}  // namespace mcmesh::upstream
