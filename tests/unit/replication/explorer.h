// Explorer: stateless model checking of a scenario. Each run rebuilds the World from scratch
// and replays a prefix of choices (which deliverable event happens next), then continues with
// the first choice; depth-first backtracking over the choice indices visits every distinct
// schedule exactly once. After each run the invariants are checked:
//   (a) every read answers a miss or a value some write produced that no write acknowledged
//       before the read started had overwritten or deleted (writes that overlap may go either
//       way; a write W is overwritten by W2 when W2 started after W was acknowledged);
//   (b) at quiescence every server holding the key holds a value allowed as the last write (or
//       nothing), the primary and the backup agree, and no lease placeholder is left except one
//       its lease TTL expires (counted, reported);
//   (c) a read never answers the value of a write sent after it on the same connection;
//   and every client operation got a reply. One read per proxy after quiescence joins (a).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/unit/replication/world.h"

namespace mcmesh::testing {

struct Scenario {
  std::string name;
  ClusterSpec spec;
  std::function<void(World&)> build;  // preloads and actors.
};

struct ExploreStats {
  uint64_t runs = 0;
  uint64_t violating = 0;
  uint64_t placeholders_left = 0;  // runs ending with a lease placeholder on a server.
  bool complete = true;            // false: stopped at max_runs.
  std::string first_violation;     // the violations and the schedule of the first bad run.
};

ExploreStats explore(const Scenario& scenario, uint64_t max_runs = 3'000'000);

/** Invariants (a), (c) and "every operation answered" over a finished run's history. */
std::vector<std::string> checkHistory(const World& world);
/** Invariant (b) over the servers; counts a leftover placeholder in *placeholder. */
std::vector<std::string> checkServers(World& world, bool* placeholder);

/** "scenario <name>: 1,234 interleavings, 0 violations" (and the rest), for the CI log. */
std::string summary(const Scenario& scenario, const ExploreStats& stats);

}  // namespace mcmesh::testing
