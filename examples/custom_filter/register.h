// registerExampleFilters: adds this workspace's filters to an mcmesh filter registry.
#pragma once

#include "proxy/filter_registry.h"

namespace custom_filter {

/** Registers "rate_limit" and "key_prefix_router" (terminal). Called once at start-up. */
void registerExampleFilters(mcmesh::FilterRegistry& registry);

}  // namespace custom_filter
