// registerBuiltinFilters: the name -> factory map for the built-in filters.
#include "filters/builtin_filters.h"

#include "filters/ketama_router/router_filter.h"
#include "filters/stats/stats_filter.h"

namespace mcmesh {

void registerBuiltinFilters(FilterRegistry& registry) {
  // Names are unique here by construction, so add() cannot fail.
  (void)registry.add("stats", stats::makeStatsFactory);
  (void)registry.add("ketama_router", router::makeRouterFactory, /*terminal=*/true);
  // Mirroring and failover are part of the router's replication protocol; these names, from
  // chains written when they were filters, only pass their options on to the router.
  (void)registry.addSettings("backup_mirror", router::backupMirrorSettings);
  (void)registry.addSettings("failover_reader", router::failoverReaderSettings);
}

}  // namespace mcmesh
