// registerExampleFilters: the name -> factory map for the example filters (explicit registration).
#include "register.h"

#include <cstdlib>
#include <iostream>

#include "key_prefix_router/key_prefix_router.h"
#include "rate_limit/rate_limit_filter.h"

namespace custom_filter {
namespace {

// A name clash with a built-in (or a filter registered twice) is a build mistake: fail loudly at
// start-up rather than run with a different filter than the one configured.
void addOrDie(absl::Status status) {
  if (status.ok()) return;
  std::cerr << "mcmesh_custom: " << status.message() << "\n";
  std::exit(2);
}

}  // namespace

void registerExampleFilters(mcmesh::FilterRegistry& registry) {
  addOrDie(registry.add(rate_limit::kFilterName, rate_limit::makeRateLimitFactory));
  addOrDie(registry.add(key_prefix_router::kFilterName,
                        key_prefix_router::makeKeyPrefixRouterFactory, /*terminal=*/true));
}

}  // namespace custom_filter
