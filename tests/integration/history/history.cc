// The history check: per key, index writes by value and acknowledged writes by start time, so
// each read is checked in O(log n) (a 10 s run records a few hundred thousand operations).
#include "tests/integration/history/history.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mcmesh::history {
namespace {

struct KeyOps {
  std::vector<const Op*> writes;  // sets and deletes, acked or not
  std::vector<const Op*> reads;
};

// Milliseconds since the first operation of the history: readable intervals in the examples.
std::string interval(const Op& op, int64_t origin) {
  return absl::StrFormat("[%.3f, %.3f] ms", (op.start_ns - origin) / 1e6,
                         (op.end_ns - origin) / 1e6);
}

std::string describe(const Op& op, int64_t origin) {
  std::string what = op.kind == OpKind::kDelete ? "delete" : absl::StrCat("set ", *op.value);
  return absl::StrCat("client ", op.client, " ", what,
                      op.outcome == Outcome::kAcked ? " (acked) " : " (uncertain) ",
                      interval(op, origin));
}

std::string readValue(const Op& read) { return read.value.has_value() ? *read.value : "<miss>"; }

std::map<std::string, KeyOps> byKey(const std::vector<Op>& history) {
  std::map<std::string, KeyOps> keys;
  for (const Op& op : history) {
    (op.kind == OpKind::kRead ? keys[op.key].reads : keys[op.key].writes).push_back(&op);
  }
  return keys;
}

int64_t originOf(const std::vector<Op>& history) {
  int64_t origin = std::numeric_limits<int64_t>::max();
  for (const Op& op : history) origin = std::min(origin, op.start_ns);
  return origin;
}

// Answers "did an acknowledged write start after t and end before u?" for one key.
class Overwrites {
 public:
  explicit Overwrites(const std::vector<const Op*>& writes) {
    for (const Op* w : writes) {
      if (w->outcome == Outcome::kAcked) acked_.push_back(w);
    }
    std::sort(acked_.begin(), acked_.end(),
              [](const Op* a, const Op* b) { return a->start_ns < b->start_ns; });
    // earliest_end_[i]: the acked write ending first among acked_[i..]. A suffix minimum turns
    // the question into one binary search.
    earliest_end_.resize(acked_.size());
    for (size_t i = acked_.size(); i-- > 0;) {
      earliest_end_[i] = acked_[i];
      if (i + 1 < acked_.size() && earliest_end_[i + 1]->end_ns < acked_[i]->end_ns) {
        earliest_end_[i] = earliest_end_[i + 1];
      }
    }
  }

  // @return an acked write with start > after and end < before, or nullptr.
  const Op* between(int64_t after, int64_t before) const {
    auto it = std::upper_bound(acked_.begin(), acked_.end(), after,
                               [](int64_t t, const Op* w) { return t < w->start_ns; });
    if (it == acked_.end()) return nullptr;
    const Op* first = earliest_end_[it - acked_.begin()];
    return first->end_ns < before ? first : nullptr;
  }

 private:
  std::vector<const Op*> acked_;
  std::vector<const Op*> earliest_end_;
};

}  // namespace

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

CheckResult check(const std::vector<Op>& history, size_t max_examples) {
  CheckResult result;
  result.ops = history.size();
  const int64_t origin = originOf(history);
  std::vector<std::pair<int64_t, std::string>> violations;  // (read start, explanation)
  for (const auto& [key, ops] : byKey(history)) {
    std::unordered_map<std::string, const Op*> by_value;
    for (const Op* w : ops.writes) {
      if (w->kind == OpKind::kSet) by_value.emplace(*w->value, w);
    }
    const Overwrites overwrites(ops.writes);
    for (const Op* r : ops.reads) {
      ++result.reads;
      if (!r->value.has_value()) continue;
      ++result.hits;
      std::string why;
      auto found = by_value.find(*r->value);
      const Op* w = found == by_value.end() ? nullptr : found->second;
      if (w == nullptr) {
        why = "no write of this key wrote that value";
      } else if (w->start_ns >= r->end_ns) {
        why = absl::StrCat("its write ", describe(*w, origin), " started after the read ended");
      } else if (w->outcome == Outcome::kAcked) {
        if (const Op* x = overwrites.between(w->end_ns, r->start_ns)) {
          why = absl::StrCat("written by ", describe(*w, origin), ", replaced by ",
                             describe(*x, origin), " before the read started");
        }
      }
      if (why.empty()) continue;
      violations.emplace_back(
          r->start_ns, absl::StrCat("key ", key, ": client ", r->client, " read ", readValue(*r),
                                    " ", interval(*r, origin), "; ", why));
    }
  }
  // The earliest violations first: later ones are often consequences of the first.
  std::sort(violations.begin(), violations.end());
  result.violations = violations.size();
  for (const auto& [start, text] : violations) {
    result.violation_starts.push_back(start);
    if (result.examples.size() < max_examples) result.examples.push_back(text);
  }
  return result;
}

FinalStateResult checkFinalState(const std::vector<Op>& history, const std::vector<Op>& final_reads,
                                 size_t max_examples) {
  FinalStateResult result;
  const int64_t origin = originOf(history);
  const std::map<std::string, KeyOps> keys = byKey(history);
  for (const Op& read : final_reads) {
    ++result.keys;
    auto it = keys.find(read.key);
    if (it == keys.end()) continue;
    const Op* last = nullptr;  // the acknowledged write that ended last
    for (const Op* w : it->second.writes) {
      if (w->outcome == Outcome::kAcked && (last == nullptr || w->end_ns > last->end_ns)) last = w;
    }
    if (last == nullptr) continue;
    bool overlapped = false;
    for (const Op* w : it->second.writes) {
      overlapped |= w != last && w->outcome == Outcome::kAcked && w->end_ns >= last->start_ns;
    }
    if (overlapped) continue;
    ++result.determinate;
    std::optional<std::string> expected =
        last->kind == OpKind::kSet ? last->value : std::optional<std::string>();
    bool ok = read.value == expected;
    for (const Op* w : it->second.writes) {  // an uncertain write may have landed after `last`
      if (w->outcome == Outcome::kUncertain) {
        ok |= w->kind == OpKind::kSet ? read.value == w->value : !read.value.has_value();
      }
    }
    if (ok) continue;
    ++result.mismatches;
    if (result.examples.size() < max_examples) {
      result.examples.push_back(absl::StrCat("key ", read.key, ": holds ", readValue(read),
                                             ", last acknowledged write was ",
                                             describe(*last, origin)));
    }
  }
  return result;
}

}  // namespace mcmesh::history
