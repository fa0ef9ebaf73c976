// The filters that ship with mcmesh, registered explicitly (no static initialisers).
#pragma once

#include "proxy/filter_registry.h"

namespace mcmesh {

/** Registers stats, failover_reader, backup_mirror and ketama_router (terminal). */
void registerBuiltinFilters(FilterRegistry& registry);

}  // namespace mcmesh
