// A black-box history checker for a cache: clients record every operation with its start and end
// time (one monotonic clock for the whole test process) and check() says which reads returned a
// value that an acknowledged write had already replaced. It knows nothing about mcmesh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mcmesh::history {

// Nanoseconds on std::chrono::steady_clock: every client thread stamps with the same clock.
int64_t nowNs();

enum class OpKind { kSet, kDelete, kRead };

// A write is acknowledged when the server said it happened (STORED; DELETED or NOT_FOUND for a
// delete). Any other answer (SERVER_ERROR, timeout, closed connection) is uncertain: the write
// may have landed or not, now or later (a request queued to a stopped server lands when it
// resumes). Reads are recorded only when answered.
enum class Outcome { kAcked, kUncertain };

struct Op {
  int client = 0;
  OpKind kind = OpKind::kRead;
  std::string key;
  // kSet: the value written, unique per write (e.g. "c3-1742"), so a read names its write.
  // kRead: the value read, or nullopt for a miss. kDelete: unused.
  std::optional<std::string> value;
  Outcome outcome = Outcome::kAcked;
  int64_t start_ns = 0;  // before the request was sent
  int64_t end_ns = 0;    // after the reply was read (or the client gave up)
};

struct CheckResult {
  size_t ops = 0;                         // operations checked (a multi-get counts once per key)
  size_t reads = 0;                       // answered reads
  size_t hits = 0;                        // reads that returned a value
  size_t violations = 0;                  // reads that broke the rule below
  std::vector<std::string> examples;      // the earliest few violations, explained
  std::vector<int64_t> violation_starts;  // start_ns of every violating read, in time order
};

/**
 * The rule, for every read of key k that returned value v (a miss is always allowed: a cache may
 * lose data):
 *   1. some write w of k wrote v and started before the read ended, and
 *   2. no acknowledged write or delete x of k started after w ended and ended before the read
 *      started (x replaced v for good before the read began).
 * Uncertain writes may be read at any time after they started (their end is unknown) and
 * replace nothing. Operations that overlap are concurrent, so either order is allowed.
 */
CheckResult check(const std::vector<Op>& history, size_t max_examples = 5);

struct FinalStateResult {
  size_t keys = 0;         // keys read after quiescence
  size_t determinate = 0;  // keys whose last acknowledged write overlapped no other write
  size_t mismatches = 0;   // determinate keys not holding that write's result
  std::vector<std::string> examples;
};

/**
 * The stricter check after quiescence: for each final read (one per key, taken when no client is
 * writing), if the key's last acknowledged write or delete L overlapped no other acknowledged
 * write, the read must return L's value (a miss if L was a delete), or the value of an uncertain
 * write of the key (it may have landed after L). Keys whose last writes overlapped are skipped:
 * either order is correct there, and check() covers them.
 */
FinalStateResult checkFinalState(const std::vector<Op>& history, const std::vector<Op>& final_reads,
                                 size_t max_examples = 5);

}  // namespace mcmesh::history
