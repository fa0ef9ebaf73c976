// registerBuiltinFilters: the name -> factory map for the built-in filters.
#include "filters/builtin_filters.h"

#include "absl/strings/str_cat.h"
#include "filters/backup_mirror/mirror_filter.h"
#include "filters/failover_reader/failover_filter.h"
#include "filters/ketama_router/router_filter.h"
#include "filters/stats/stats_filter.h"

namespace mcmesh {

void registerBuiltinFilters(FilterRegistry& registry) {
  // Names are unique here by construction, so add() cannot fail.
  (void)registry.add("stats", stats::makeStatsFactory);
  (void)registry.add("failover_reader", failover::makeFailoverFactory);
  (void)registry.add("backup_mirror", mirror::makeMirrorFactory);
  (void)registry.add(
      "ketama_router",
      [](const FilterConfigMap& config, const FilterContext&) -> absl::StatusOr<FilterFactory> {
        if (!config.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("takes no options, got '", config.begin()->first, "'"));
        }
        return FilterFactory([] { return std::make_unique<router::RouterFilter>(); });
      },
      /*terminal=*/true);
}

}  // namespace mcmesh
