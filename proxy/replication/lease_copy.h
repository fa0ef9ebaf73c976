// LeasedCopy: copies one key from a source server to a target server so that the copy can never
// undo a write, whichever proxy made that write (docs/consistency.md, "The safe copy").
//
//   1. lease on the target: `mg <key> s v f t c N<ttl>`. If the key is missing, memcached leaves
//      a placeholder and answers W with its cas to this caller only (Z to later ones).
//   2. read the source (`mg <key> s v f t c`, or the client's own gat).
//   3. `cas <key> <flags> <exptime> <len> <lease cas>` on the target: any set or delete that
//      reached the target after step 1 changed or removed the placeholder, so the copy fails
//      (EXISTS / NOT_FOUND) instead of overwriting it. If the source missed, `md <key> C<cas>`
//      removes the placeholder the same way.
// The read-repair path hands the source's answer to the client between steps 2 and 3; warm-up
// copies and rehydration use the same object without a reader.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "proxy/message.h"
#include "proxy/replication/upstreams.h"

namespace mcmesh::replication {

enum class CopyKind { kRepair, kWarm, kRehydrate };

enum class CopyOutcome {
  kCopied,       // stored on the target.
  kPresent,      // the target already held the key (or got it meanwhile): nothing to do.
  kSourceMiss,   // the source had nothing to copy.
  kLostRace,     // a write reached the target during the copy and won (the safe outcome).
  kBusy,         // another copier holds the lease; the source was read but nothing stored.
  kFailed,       // a server did not answer.
};

struct CopyPlan {
  upstream::ClusterSnapshotConstSharedPtr snapshot;  // pins target and source.
  const upstream::HostConfig* target = nullptr;      // null: read the source only.
  const upstream::HostConfig* source = nullptr;
  std::string key;
  uint64_t affinity = 0;
  CopyKind kind = CopyKind::kRepair;
  // A gat/gats read: the source is read with the client's command (it touches), and the copy
  // expires per the client's exptime.
  bool touch = false;
  Command touch_command = Command::kGat;
  int64_t touch_exptime = 0;
};

// What a reader gets: kValues with the item (key set, ttl -1) or without it, or a failure.
using CopyReadCallback = std::function<void(Response&&)>;
using CopyDoneCallback = std::function<void(CopyOutcome)>;

/**
 * Starts a copy. `on_read` (may be empty) runs once with what a client should see: the source's
 * item, or a miss when the target turned out to hold the key (its own reply stands). `on_done`
 * (may be empty) runs once at the end. The copy owns itself and always finishes, so a placeholder
 * is never left behind by a client that went away.
 * @return a handle whose cancel() drops `on_read` only, or null if `on_read` already ran.
 */
upstream::Cancellable* startLeasedCopy(Upstreams& upstreams, CopyPlan plan,
                                       CopyReadCallback on_read, CopyDoneCallback on_done = {});

/** Whether a server's item is a lease placeholder or stale (mg flags W, Z, X): not data. */
bool isPlaceholder(const Item& item);
/** Whether a meta reply's item is a lease placeholder (W or Z): a copy in progress. */
bool isLeasePlaceholder(const Item& item);

/** The exptime that gives a copy `ttl` remaining seconds (memcached reads > 30 days as a date). */
int64_t exptimeForRemainingTtl(int64_t ttl, absl::Time now);

}  // namespace mcmesh::replication
