// Rehydrator: copies back, in the background and rate-limited, the keys a backup holds for a
// primary that restarted empty (what magent users did by hand after a restart). Each key goes
// through the same safe copy as read-repair (lease_copy.h), so a client write during the
// rehydration always wins over the copy.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proxy/dispatcher.h"
#include "proxy/replication/lease_copy.h"
#include "proxy/replication/upstreams.h"


namespace mcmesh::replication {

using upstream::HostConfig;

struct RehydrationProgress {
  std::string primary;
  uint64_t total = 0;    // keys on the backup(s) that hash to the primary.
  uint64_t copied = 0;   // stored on the primary.
  uint64_t skipped = 0;  // nothing to do: already there, gone from the backup, or a client
                         // write got there first.
  uint64_t failed = 0;
  bool listing = true;   // still reading the backup's key list.
  bool done = false;
};

/** Parses one `lru_crawler metadump` line ("key=<uri-encoded> exp=... ..."); false if not one. */
bool parseMetadumpKey(absl::string_view line, std::string* key);

// One rehydration of one primary. Lists keys on every backup with `lru_crawler metadump all`,
// keeps those the current ring assigns to the primary, then copies each with a LeasedCopy, at
// most `keys_per_second` started per second and kMaxInflight in flight (copies are pipelined on
// the main thread's connections, so the rate is reached whatever the round-trip time).
class Rehydrator {
 public:
  static constexpr size_t kMaxInflight = 1024;
  Rehydrator(Upstreams& upstreams, Dispatcher& dispatcher, HostConfig primary,
             uint64_t keys_per_second,
             std::function<void(const RehydrationProgress&)> on_progress);
  ~Rehydrator();
  void start();
  const RehydrationProgress& progress() const { return progress_; }

 private:
  class MetadumpReader;
  void onKeysListed(const HostConfig& backup, std::vector<std::string> keys, absl::Status status);
  void pump();
  // A key waiting to be copied; `retry` once its first copy failed (it gets one more).
  struct Pending {
    const HostConfig* backup;
    std::string key;
    bool retry = false;
  };
  void copyOne(Pending pending);
  void onCopied(CopyOutcome outcome, Pending pending);
  void report();

  Upstreams& upstreams_;
  Dispatcher& dispatcher_;
  upstream::ClusterSnapshotConstSharedPtr snapshot_;  // pins the backups the queue points at.
  HostConfig primary_;
  uint64_t keys_per_second_;
  double tokens_ = 0;
  absl::Time last_refill_ = absl::InfinitePast();
  absl::Time started_copying_ = absl::InfinitePast();
  uint64_t next_affinity_ = 0;
  std::function<void(const RehydrationProgress&)> on_progress_;
  RehydrationProgress progress_;
  std::vector<std::unique_ptr<MetadumpReader>> readers_;
  size_t readers_pending_ = 0;
  std::deque<Pending> queue_;
  uint64_t retried_ = 0;  // copies that failed once and went back in the queue.
  size_t inflight_ = 0;
  TimerPtr timer_;
  std::shared_ptr<bool> alive_;  // copies in flight check it: the rehydrator may be gone.
};

}  // namespace mcmesh::replication
