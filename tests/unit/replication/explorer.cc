// Explorer: DFS over schedules by replay, and the invariant checks (see explorer.h).
#include "tests/unit/replication/explorer.h"

#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mcmesh::testing {
namespace {

constexpr size_t kMaxEventsPerRun = 400;  // a run longer than this is a livelock.

bool succeeded(const OpRecord& op) {
  if (!op.answered()) return false;
  switch (op.kind) {
    case OpKind::kSet:
      return op.reply.type == ResponseType::kStored;
    case OpKind::kDelete:  // NOT_FOUND also leaves the key absent.
      return op.reply.type == ResponseType::kDeleted || op.reply.type == ResponseType::kNotFound;
    default:
      return false;
  }
}

// W2 overwrote (or deleted) W: it started after W's acknowledgement and succeeded.
bool supersedes(const OpRecord& w2, const OpRecord& w) {
  return succeeded(w2) && w.answered() && w2.start > w.ack;
}

std::string thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace

std::vector<std::string> checkHistory(const World& world) {
  std::vector<std::string> bad;
  const auto& ops = world.ops();
  for (const OpRecord& r : ops) {
    // A dead proxy's clients get no reply (their connections closed): nothing to check.
    if (r.start >= 0 && !r.answered() && !world.net().dead(r.proxy)) {
      bad.push_back(absl::StrCat(r.label, " never answered"));
    }
    if (r.kind != OpKind::kRead || !r.answered()) continue;
    if (r.reply.type != ResponseType::kValues || r.reply.items.empty()) continue;  // miss/error.
    const std::string& v = r.reply.items.front().value;
    const OpRecord* w = nullptr;
    for (const OpRecord& c : ops) {
      if (c.kind == OpKind::kSet && c.value == v) w = &c;
    }
    if (w == nullptr) {
      bad.push_back(absl::StrCat(r.label, " answered '", v, "', which no write produced"));
      continue;
    }
    if (w->start > r.ack) {
      bad.push_back(absl::StrCat(r.label, " answered '", v, "' before its write started"));
    }
    if (w->start > r.start && w->proxy == r.proxy && w->affinity == r.affinity) {
      bad.push_back(absl::StrCat("(c) ", r.label, " answered '", v, "' of ", w->label,
                                 " sent after it on the same connection"));
    }
    for (const OpRecord& w2 : ops) {
      if (&w2 == w || w2.kind == OpKind::kRead) continue;
      if (supersedes(w2, *w) && w2.ack < r.start) {
        bad.push_back(absl::StrCat("(a) ", r.label, " [events ", r.start, "-", r.ack,
                                   "] answered '", v, "', overwritten by ", w2.label, " [events ",
                                   w2.start, "-", w2.ack, "] before the read started"));
      }
    }
  }
  return bad;
}

std::vector<std::string> checkServers(World& world, bool* placeholder) {
  std::vector<std::string> bad;
  *placeholder = false;
  const auto& ops = world.ops();
  // The writes no later acknowledged write superseded: any of them may be the last.
  std::set<std::string> allowed;
  for (const OpRecord& w : ops) {
    if (w.kind != OpKind::kSet) continue;
    bool superseded = false;
    for (const OpRecord& w2 : ops) superseded |= w2.kind != OpKind::kRead && supersedes(w2, w);
    if (!superseded) allowed.insert(w.value);
  }
  std::set<std::string> addresses;
  for (const auto* h : world.snapshot()->allHosts()) addresses.insert(h->address);
  for (int p = 0; p < world.proxyCount(); ++p) {
    for (const auto* h : world.proxy(p).snapshotPtr()->allHosts()) addresses.insert(h->address);
  }
  const int64_t now = world.net().nowSeconds();
  for (const std::string& a : addresses) {
    const FakeMemcached::Entry* e = world.server(a).find(world.key(), now);
    if (e == nullptr) continue;
    if (e->placeholder) {
      *placeholder = true;
      if (e->expires_at == 0) {
        bad.push_back(absl::StrCat("(b) ", a, " keeps a placeholder forever"));
      }
      continue;
    }
    if (allowed.count(e->value) == 0) {
      bad.push_back(absl::StrCat("(b) ", a, " holds '", e->value,
                                 "' after quiescence; allowed: {", absl::StrJoin(allowed, ","),
                                 "} or nothing"));
    }
  }
  const FakeMemcached::Entry* p = world.server(world.primary()).find(world.key(), now);
  const FakeMemcached::Entry* b = world.server(world.backup()).find(world.key(), now);
  if (p != nullptr && b != nullptr && !p->placeholder && p->value != b->value) {
    bad.push_back(absl::StrCat("(b) primary holds '", p->value, "' but backup '", b->value, "'"));
  }
  return bad;
}

ExploreStats explore(const Scenario& scenario, uint64_t max_runs) {
  ExploreStats stats;
  std::vector<std::pair<size_t, size_t>> path;  // (choice, choices) per event.
  while (true) {
    World world(scenario.spec);
    scenario.build(world);
    size_t depth = 0;
    std::vector<std::string> bad;
    while (world.eventCount() > 0) {
      const size_t n = world.eventCount();
      if (depth == path.size()) path.emplace_back(0, n);
      if (path[depth].second != n) {
        bad.push_back("nondeterministic scenario: replay diverged");
        break;
      }
      world.fire(path[depth].first);
      if (++depth > kMaxEventsPerRun) {
        bad.push_back("livelock: too many events");
        break;
      }
    }
    bool placeholder = false;
    for (auto& v : checkServers(world, &placeholder)) bad.push_back(std::move(v));
    world.finalReads();
    for (auto& v : checkHistory(world)) bad.push_back(std::move(v));
    ++stats.runs;
    stats.placeholders_left += placeholder ? 1 : 0;
    if (!bad.empty()) {
      if (stats.violating++ == 0) {
        stats.first_violation = absl::StrCat(absl::StrJoin(bad, "\n"), "\nschedule:\n  ",
                                             absl::StrJoin(world.net().trace(), "\n  "));
      }
    }
    while (!path.empty() && path.back().first + 1 >= path.back().second) path.pop_back();
    if (path.empty()) break;
    path.back().first++;
    if (stats.runs >= max_runs) {
      stats.complete = false;
      break;
    }
  }
  return stats;
}

std::string summary(const Scenario& scenario, const ExploreStats& stats) {
  return absl::StrCat("scenario ", scenario.name, ": ", thousands(stats.runs), " interleavings",
                      stats.complete ? "" : " (capped)", ", ", thousands(stats.violating),
                      " violations, ", thousands(stats.placeholders_left),
                      " ending with a lease placeholder (expires with its TTL)");
}

}  // namespace mcmesh::testing
