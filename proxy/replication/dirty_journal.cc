// DirtyJournal: journal encoding, appends and drains (see dirty_journal.h).
#include "proxy/replication/dirty_journal.h"

#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proxy/log.h"

namespace mcmesh::replication {
namespace {

constexpr int kMaxDrainRounds = 4;
// A journal value that decodeJournal refuses: the primary's stale keys are no longer all known.
constexpr char kJournalOverflow[] = "overflow";

// One drain: [probe the primary and] read the journal, delete its keys on the primary, remove
// the entries read. Owns itself; every step waits for the previous one's replies.
class Drain {
 public:
  Drain(Upstreams& up, upstream::ClusterSnapshotConstSharedPtr snapshot,
        const upstream::HostConfig& primary, DrainMode mode,
        std::function<void(bool, size_t)> done)
      : up_(up), snapshot_(std::move(snapshot)), primary_(primary), mode_(mode),
        done_(std::move(done)), journal_key_(journalKeyFor(primary)),
        backup_(snapshot_->backupFor(journal_key_)) {}

  void start() {
    if (backup_ == nullptr) {
      finish(true);
      return;
    }
    pending_ = 1;
    if (mode_ == DrainMode::kRecover && round_ == 0) {
      ++pending_;
      Request version;
      version.command = Command::kVersion;
      up_.send(primary_, version, [this](Response&& r) {
        if (r.type != ResponseType::kVersion) ok_ = false;
        step();
      }, kAffinity);
    }
    ++pending_;
    Request read;
    read.command = Command::kMetaGet;
    read.keys.push_back(journal_key_);
    up_.send(*backup_, read, [this](Response&& r) {
      if (r.type != ResponseType::kValues) {
        ok_ = false;
      } else if (!r.items.empty()) {
        journal_cas_ = r.items.front().cas;
        if (!decodeJournal(r.items.front().value, &keys_)) {
          logLine(LogLevel::kWarn, absl::StrCat("dropping unreadable dirty journal ",
                                                journal_key_));
          keys_.clear();
          flush_primary_ = true;  // its keys are unknown: none of the primary's copies is sure.
        }
        has_journal_ = true;
      }
      step();
    }, kAffinity);
    step();
  }

 private:
  static constexpr uint64_t kAffinity = 0;

  // Counts down the replies of the current phase; the initial call balances the 1 in pending_.
  void step() {
    if (--pending_ != 0) return;
    if (!ok_) {
      finish(false);
      return;
    }
    switch (phase_) {
      case Phase::kRead:
        if (!has_journal_) {
          finish(true);
          return;
        }
        deleteKeys();
        return;
      case Phase::kDelete:
        clearJournal();
        return;
      case Phase::kClear:
        return;
    }
  }

  void deleteKeys() {
    phase_ = Phase::kDelete;
    pending_ = 1;
    if (flush_primary_) {
      ++pending_;
      Request flush;
      flush.command = Command::kFlushAll;
      up_.send(primary_, flush, [this](Response&& r) {
        if (r.type != ResponseType::kOk) ok_ = false;
        step();
      }, kAffinity);
    }
    for (const std::string& key : keys_) {
      ++pending_;
      Request del;
      del.command = Command::kDelete;
      del.keys.push_back(key);
      up_.send(primary_, del, [this](Response&& r) {
        if (r.type != ResponseType::kDeleted && r.type != ResponseType::kNotFound) ok_ = false;
        step();
      }, kAffinity);
    }
    deleted_ += keys_.size();
    step();
  }

  void clearJournal() {
    phase_ = Phase::kClear;
    Request del;
    del.command = Command::kDelete;
    del.keys.push_back(journal_key_);
    del.cas_unique = journal_cas_;
    up_.send(*backup_, del, [this](Response&& r) {
      if (r.type == ResponseType::kExists && ++round_ < kMaxDrainRounds) {
        // Appended to since we read it: the new entries need the primary too.
        keys_.clear();
        has_journal_ = false;
        flush_primary_ = false;
        phase_ = Phase::kRead;
        start();
        return;
      }
      // kExists after the last round: the rest waits for the next poll.
      finish(r.type == ResponseType::kDeleted || r.type == ResponseType::kNotFound ||
             r.type == ResponseType::kExists);
    }, kAffinity);
  }

  void finish(bool ok) {
    auto done = std::move(done_);
    const size_t deleted = ok ? deleted_ : 0;
    up_.counters().dirty_invalidations.inc(deleted);
    delete this;
    if (done) done(ok, deleted);
  }

  enum class Phase { kRead, kDelete, kClear };
  Upstreams& up_;
  upstream::ClusterSnapshotConstSharedPtr snapshot_;
  upstream::HostConfig primary_;  // a copy: the host may leave the topology meanwhile.
  DrainMode mode_;
  std::function<void(bool, size_t)> done_;
  std::string journal_key_;
  const upstream::HostConfig* backup_;
  Phase phase_ = Phase::kRead;
  int pending_ = 0;
  int round_ = 0;
  bool ok_ = true;
  bool has_journal_ = false;
  bool flush_primary_ = false;
  uint64_t journal_cas_ = 0;
  std::vector<std::string> keys_;
  size_t deleted_ = 0;
};

}  // namespace

std::string journalKeyFor(const upstream::HostConfig& primary) {
  return absl::StrCat("mcmesh:dirty:", primary.address);
}

std::string encodeJournalEntry(absl::string_view key) {
  return absl::StrCat(key.size(), ":", key);
}

bool decodeJournal(absl::string_view value, std::vector<std::string>* keys) {
  keys->clear();
  // A key written around the primary many times is listed many times; delete it once.
  absl::flat_hash_set<absl::string_view> seen;
  while (!value.empty()) {
    size_t colon = value.find(':');
    uint64_t length = 0;
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(value.substr(0, colon), &length) ||
        length == 0 || length > value.size() - colon - 1) {
      return false;
    }
    absl::string_view key = value.substr(colon + 1, length);
    if (seen.insert(key).second) keys->emplace_back(key);
    value.remove_prefix(colon + 1 + length);
  }
  return true;
}

void appendToJournal(Upstreams& upstreams, const upstream::ClusterSnapshotConstSharedPtr& snapshot,
                     const upstream::HostConfig& primary, const std::string& key,
                     uint64_t affinity) {
  const std::string journal_key = journalKeyFor(primary);
  const upstream::HostConfig* backup = snapshot->backupFor(journal_key);
  if (backup == nullptr) return;
  ProxyCounters* counters = &upstreams.counters();
  counters->journal_appends.inc();
  // memcached 1.6.18 has no append-or-create (ms MA N answers NS): add an empty journal first.
  Request add;
  add.command = Command::kAdd;
  add.keys.push_back(journal_key);
  upstreams.send(*backup, add, [](Response&&) {}, affinity);
  Request append;
  append.command = Command::kAppend;
  append.keys.push_back(journal_key);
  append.value = encodeJournalEntry(key);
  Upstreams* up = &upstreams;
  upstream::HostConfig backup_copy = *backup;
  upstream::ClusterSnapshotConstSharedPtr pinned = snapshot;
  upstreams.send(*backup, append, [counters, up, backup_copy, journal_key, pinned,
                                   affinity](Response&& r) {
    if (r.type == ResponseType::kStored) return;
    // NOT_STORED: a drain removed the journal between our add and append; the key is then only
    // caught if that drain ran after the primary was reachable. Counted.
    counters->journal_errors.inc();
    if (r.type == ResponseType::kServerError) {
      // Full (memcached's item size limit): the journal can no longer name every stale key, so
      // make it unreadable; the next drain then flushes the primary instead (see Drain).
      Request overflow;
      overflow.command = Command::kSet;
      overflow.keys.push_back(journal_key);
      overflow.value = kJournalOverflow;
      up->send(backup_copy, overflow, [](Response&&) {}, affinity);
    }
  }, affinity);
}

void journalDrain(Upstreams& upstreams, upstream::ClusterSnapshotConstSharedPtr snapshot,
                  const upstream::HostConfig& primary, DrainMode mode,
                  std::function<void(bool ok, size_t keys_deleted)> done) {
  (new Drain(upstreams, std::move(snapshot), primary, mode, std::move(done)))->start();
}

}  // namespace mcmesh::replication
