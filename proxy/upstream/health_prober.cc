// HealthProber: `stats` probes, restart detection, rehydration bookkeeping.
#include "proxy/upstream/health_prober.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proxy/log.h"
#include "proxy/replication/dirty_journal.h"

namespace mcmesh::upstream {

HealthProber::HealthProber(ClusterView& cluster, ProberOptions options,
                           std::function<void(const std::string&, bool)> on_health,
                           std::function<void(const std::string&)> on_lost_data)
    : cluster_(cluster), options_(options), on_health_(std::move(on_health)),
      on_lost_data_(std::move(on_lost_data)) {
  timer_ = cluster_.dispatcher().createTimer([this] { probeAll(); });
  journal_timer_ = cluster_.dispatcher().createTimer([this] { pollJournals(); });
}

void HealthProber::start() {
  timer_->enable(absl::ZeroDuration());
  journal_timer_->enable(options_.journal_poll_interval);
}

void HealthProber::pollJournals() {
  // While some proxy is writing around a primary its journal is not empty: poll fast then, so a
  // primary that is back for this proxy serves what that proxy wrote around it within a few ms.
  journal_timer_->enable(journals_busy_ ? kBusyJournalPoll : options_.journal_poll_interval);
  // A slow backup must not pile up polls: the next round waits for this one.
  if (journal_polls_running_ != 0 || !cluster_.hasSnapshot()) return;
  journals_busy_ = false;
  ClusterSnapshotConstSharedPtr snapshot = cluster_.snapshotPtr();
  if (!snapshot->hasBackup() || snapshot->config().eject_policy != EjectPolicy::kBackup) return;
  for (const HostConfig& primary : snapshot->config().primaries) {
    auto probe = probes_.find(primary.address);
    if (probe != probes_.end() && probe->second.seen && !probe->second.up) continue;
    ++journal_polls_running_;
    replication::journalDrain(cluster_, snapshot, primary, replication::DrainMode::kPoll,
                              [this, alive = alive_, address = primary.address](
                                  bool, size_t deleted) {
                                if (!*alive) return;
                                --journal_polls_running_;
                                if (deleted > 0) journals_busy_ = true;
                                if (deleted > 0 && !quiet_logs_[address]) {
                                  logLine(LogLevel::kInfo,
                                          absl::StrCat("deleted ", deleted, " stale key(s) on ",
                                                       address, " listed in its dirty journal"));
                                  // Once per burst: a busy journal is drained many times a second.
                                  quiet_logs_[address] = true;
                                }
                                if (deleted == 0) quiet_logs_[address] = false;
                                if (deleted > 0 && on_lost_data_) on_lost_data_(address);
                              });
  }
}

std::map<std::string, RehydrationProgress> HealthProber::rehydrations() const {
  std::lock_guard<std::mutex> lock(progress_mutex_);
  return progress_;
}

void HealthProber::probeAll() {
  timer_->enable(options_.interval);
  if (!cluster_.hasSnapshot()) return;
  ClusterSnapshotConstSharedPtr snapshot = cluster_.snapshotPtr();
  for (const HostConfig* probed : snapshot->allHosts()) {
    const HostConfig& host = *probed;
    // No address yet is not "down": a probe now would eject a host DNS has not answered for.
    if (cluster_.awaitingAddress(host)) continue;
    Request stats;
    stats.command = Command::kStats;
    HostConfig h = host;
    // The snapshot pointer keeps `host` alive until the reply. A reply can come after the
    // prober is gone: Server::run() turns the main loop once more after freeing it (TSan saw
    // onStats run on a freed prober at exit).
    cluster_.send(host, stats, [this, alive = alive_, h, snapshot](Response&& r) {
      if (*alive) onStats(h, r);
    });
  }
  // Finished rehydrations are dropped (their progress stays visible).
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second->progress().done) {
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
}

void HealthProber::onStats(const HostConfig& host, const Response& response) {
  Probe& probe = probes_[host.address];
  if (response.type != ResponseType::kStats) {
    if (probe.up || !probe.seen) {
      logLine(LogLevel::kWarn, absl::StrCat("probe of ", host.address, " failed: ",
                                            response.text.empty() ? "error" : response.text));
    }
    bool was_up = probe.up || !probe.seen;
    probe.up = false;
    probe.seen = true;
    if (was_up && on_health_) on_health_(host.address, false);
    return;
  }
  uint64_t pid = 0, items = 0;
  int64_t uptime = -1;
  for (const auto& [name, value] : response.stats) {
    if (name == "pid") (void)absl::SimpleAtoi(value, &pid);
    if (name == "uptime") (void)absl::SimpleAtoi(value, &uptime);
    if (name == "curr_items") (void)absl::SimpleAtoi(value, &items);
  }
  bool was_down = probe.seen && !probe.up;
  bool restarted = probe.pid != 0 && (pid != probe.pid || uptime < probe.uptime);
  if (was_down) {
    logLine(LogLevel::kInfo, absl::StrCat("probe of ", host.address, " succeeded again"));
    if (on_health_) on_health_(host.address, true);
  }
  bool is_primary = !cluster_.snapshot().isBackup(host.address);
  probe.pid = pid;
  probe.uptime = uptime;
  probe.up = true;
  probe.seen = true;
  if (!is_primary) return;  // backups are probed for health only.
  if ((restarted || (was_down && items == 0)) && on_lost_data_) on_lost_data_(host.address);
  if (restarted) {
    maybeRehydrate(host, absl::StrCat("restarted (pid ", pid, ")"));
  } else if (was_down && items == 0) {
    maybeRehydrate(host, "back after being down, and empty");
  }
}

void HealthProber::maybeRehydrate(const HostConfig& host, const std::string& why) {
  if (!options_.rehydrate || !cluster_.snapshot().hasBackup()) {
    logLine(LogLevel::kInfo, absl::StrCat("server ", host.address, " ", why,
                                          "; rehydration is off or there is no backup"));
    return;
  }
  if (running_.count(host.address) != 0) return;
  logLine(LogLevel::kInfo, absl::StrCat("server ", host.address, " ", why, ": rehydrating"));
  auto rehydrator = std::make_unique<Rehydrator>(
      cluster_, cluster_.dispatcher(), host, options_.rehydrate_keys_per_second,
      [this](const RehydrationProgress& p) {
        std::lock_guard<std::mutex> lock(progress_mutex_);
        progress_[p.primary] = p;
      });
  Rehydrator* raw = rehydrator.get();
  running_[host.address] = std::move(rehydrator);
  raw->start();
}

}  // namespace mcmesh::upstream
