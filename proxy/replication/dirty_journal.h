// DirtyJournal: the keys written to the backup while their primary was unreachable, kept on the
// backup itself so that every proxy sharing the servers sees them.
//
// A primary that was stopped (not restarted) comes back with the values it had; any key written
// meanwhile (to the backup) is stale there. The journal `mcmesh:dirty:<primary address>` lives on
// the backup that the backup ring gives that name, as a memcached item of entries
// "<key length>:<key>". A failover write appends its key *before* its own write, on the same
// backup connection, so no acknowledged failover write is missing from the journal. Draining the
// journal (journalDrain) deletes the listed keys on the primary and then removes exactly the
// entries it read (md with the cas it read: an append in between makes it try again).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proxy/replication/upstreams.h"

namespace mcmesh::replication {

std::string journalKeyFor(const upstream::HostConfig& primary);
std::string encodeJournalEntry(absl::string_view key);
/** Splits a journal value into keys. @return false if it is not a journal (then: drop it). */
bool decodeJournal(absl::string_view value, std::vector<std::string>* keys);

/**
 * Sends, on `affinity`'s connection to the journal's backup, what records `key` as dirty for
 * `primary` (an add of an empty journal, harmless if it exists, then an append). Requests sent
 * after this on the same connection are applied after it.
 */
void appendToJournal(Upstreams& upstreams, const upstream::ClusterSnapshotConstSharedPtr& snapshot,
                     const upstream::HostConfig& primary, const std::string& key,
                     uint64_t affinity);

enum class DrainMode {
  kRecover,  // the primary is coming back: probe it first, and fail if it does not answer.
  kPoll,     // periodic check while the primary is in use: touch it only if the journal has keys.
};

/**
 * Deletes on `primary` the keys its journal lists and removes them from the journal. `done`
 * gets true when the primary answered everything it was sent (and the journal is empty or was
 * read), false if the primary or the backup failed.
 */
void journalDrain(Upstreams& upstreams, upstream::ClusterSnapshotConstSharedPtr snapshot,
                  const upstream::HostConfig& primary, DrainMode mode,
                  std::function<void(bool ok, size_t keys_deleted)> done);

}  // namespace mcmesh::replication
