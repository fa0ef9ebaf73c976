// Rehydrator: copies back, in the background and rate-limited, the keys a backup holds for a
// primary that restarted empty (what magent users did by hand after a restart).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proxy/dispatcher.h"
#include "proxy/upstream/cluster_view.h"

struct bufferevent;

namespace mcmesh::upstream {

struct RehydrationProgress {
  std::string primary;
  uint64_t total = 0;    // keys on the backup(s) that hash to the primary.
  uint64_t copied = 0;   // stored on the primary (or already there).
  uint64_t failed = 0;
  bool listing = true;   // still reading the backup's key list.
  bool done = false;
};

/** Parses one `lru_crawler metadump` line ("key=<uri-encoded> exp=... ..."); false if not one. */
bool parseMetadumpKey(absl::string_view line, std::string* key);

// One rehydration of one primary. Lists keys on every backup with `lru_crawler metadump all`,
// keeps those the current ring assigns to the primary, then for each: `mg` on the backup (value,
// flags, remaining TTL) and `add` on the primary (never overwriting a newer value).
class Rehydrator {
 public:
  Rehydrator(ClusterView& cluster, HostConfig primary, uint64_t keys_per_second,
             std::function<void(const RehydrationProgress&)> on_progress);
  ~Rehydrator();
  void start();
  const RehydrationProgress& progress() const { return progress_; }

 private:
  class MetadumpReader;
  void onKeysListed(const HostConfig& backup, std::vector<std::string> keys, absl::Status status);
  void pump();
  void copyOne(const HostConfig& backup, const std::string& key);
  void report();

  ClusterView& cluster_;
  HostConfig primary_;
  uint64_t keys_per_second_;
  std::function<void(const RehydrationProgress&)> on_progress_;
  RehydrationProgress progress_;
  std::vector<std::unique_ptr<MetadumpReader>> readers_;
  size_t readers_pending_ = 0;
  std::deque<std::pair<const HostConfig*, std::string>> queue_;
  size_t inflight_ = 0;
  TimerPtr timer_;
  std::shared_ptr<bool> alive_;  // copies in flight check it: the rehydrator may be gone.
};

}  // namespace mcmesh::upstream
