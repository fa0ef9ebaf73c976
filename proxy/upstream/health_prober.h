// HealthProber: active probes of primaries from the main thread; starts a rehydration when a
// primary comes back restarted (new pid) or empty after being down.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "proxy/dispatcher.h"
#include "proxy/upstream/cluster_view.h"
#include "proxy/upstream/rehydrator.h"

namespace mcmesh::upstream {

struct ProberOptions {
  absl::Duration interval = absl::Seconds(1);
  bool rehydrate = true;
  uint64_t rehydrate_keys_per_second = 5000;
};

class HealthProber {
 public:
  /** `cluster` is the main thread's own view (its pools are separate from the workers'). */
  /** `on_health(address, up)` runs on the main thread when a host's probe verdict changes. */
  HealthProber(ClusterView& cluster, ProberOptions options,
               std::function<void(const std::string&, bool)> on_health = nullptr);
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
  void onStats(const HostConfig& host, const Response& response);
  void maybeRehydrate(const HostConfig& host, const std::string& why);

  ClusterView& cluster_;
  ProberOptions options_;
  std::function<void(const std::string&, bool)> on_health_;
  TimerPtr timer_;
  std::map<std::string, Probe> probes_;
  std::map<std::string, std::unique_ptr<Rehydrator>> running_;
  mutable std::mutex progress_mutex_;
  std::map<std::string, RehydrationProgress> progress_;
};

}  // namespace mcmesh::upstream
