// runMcmesh: the whole mcmesh program as a function, so a custom build can add its own filters.
#pragma once

#include <functional>

#include "proxy/filter_registry.h"

namespace mcmesh {

/**
 * Runs mcmesh with the built-in filters plus those `add_filters` registers (may be empty).
 * @return the process exit code (2 for bad options or config).
 */
int runMcmesh(int argc, char** argv, const std::function<void(FilterRegistry&)>& add_filters);

}  // namespace mcmesh
