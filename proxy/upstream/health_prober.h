// HealthProber: active probes of primaries from the main thread; starts a rehydration when a
// primary comes back restarted (new pid) or empty after being down.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "proxy/dispatcher.h"
#include "proxy/upstream/cluster_view.h"
#include "proxy/replication/rehydrator.h"

namespace mcmesh::upstream {

using replication::RehydrationProgress;
using replication::Rehydrator;

struct ProberOptions {
  absl::Duration interval = absl::Seconds(1);
  bool rehydrate = true;
  uint64_t rehydrate_keys_per_second = 50000;
  // How often each primary's dirty journal is read from its backup (and applied). Bounds how long
  // a primary that another proxy wrote around can serve a stale copy (docs/consistency.md).
  absl::Duration journal_poll_interval = absl::Milliseconds(250);
};

class HealthProber {
 public:
  /** `cluster` is the main thread's own view (its pools are separate from the workers'). */
  /** `on_health(address, up)` runs on the main thread when a host's probe verdict changes. */
  /** `on_lost_data(address)` runs when a primary restarted or came back empty. */
  HealthProber(ClusterView& cluster, ProberOptions options,
               std::function<void(const std::string&, bool)> on_health = nullptr,
               std::function<void(const std::string&)> on_lost_data = nullptr);
  ~HealthProber() { *alive_ = false; }
  void start();
  /** Latest rehydration progress per primary; safe from any thread. */
  std::map<std::string, RehydrationProgress> rehydrations() const;

 private:
  struct Probe {
    uint64_t pid = 0;
    int64_t uptime = -1;
    bool up = false;
    bool seen = false;
  };
  void probeAll();
  void pollJournals();
  void onStats(const HostConfig& host, const Response& response);
  void maybeRehydrate(const HostConfig& host, const std::string& why);

  ClusterView& cluster_;
  ProberOptions options_;
  std::function<void(const std::string&, bool)> on_health_;
  std::function<void(const std::string&)> on_lost_data_;
  TimerPtr timer_;
  TimerPtr journal_timer_;
  size_t journal_polls_running_ = 0;
  static constexpr absl::Duration kBusyJournalPoll = absl::Milliseconds(10);
  bool journals_busy_ = false;  // the last poll found (and drained) keys.
  std::map<std::string, bool> quiet_logs_;
  // Drains in flight outlive the prober at shutdown (their pools fail them later).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::string, Probe> probes_;
  std::map<std::string, std::unique_ptr<Rehydrator>> running_;
  mutable std::mutex progress_mutex_;
  std::map<std::string, RehydrationProgress> progress_;
};

}  // namespace mcmesh::upstream
