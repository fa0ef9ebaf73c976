// runUntil: turns a Dispatcher's loop from the test thread, without blocking, until a condition
// holds. Shared by the socket, pool, cluster-view, prober and client-connection tests.
#pragma once

#include <event2/event.h>

#include <functional>

#include "absl/time/clock.h"
#include "proxy/dispatcher.h"

namespace mcmesh::testing {

// Turns the loop without blocking until `done` or 10 s pass; false on the timeout.
inline bool runUntil(Dispatcher& dispatcher, const std::function<bool()>& done) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    event_base_loop(dispatcher.base(), EVLOOP_NONBLOCK);
    absl::SleepFor(absl::Microseconds(200));
  }
  return true;
}

}  // namespace mcmesh::testing
