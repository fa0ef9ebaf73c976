// FilterRegistry: name -> factory builder, and building chains from config (explicit registration).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxy/filter.h"
#include "proxy/filter_chain.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace mcmesh {

using StatLines = std::vector<std::pair<std::string, std::string>>;

// Services the proxy offers to filter factories at build time.
struct FilterContext {
  // Answers "stats [args]" with the proxy's view summed over all workers; args may be empty,
  // "proxy" or "servers". Thread-safe.
  std::function<StatLines(absl::string_view args)> stats_reporter;
  // The cluster the chain serves (mirror mode, miss-failover switch, ...).
  upstream::ClusterConfig cluster;
};

using FilterConfigMap = std::map<std::string, std::string>;
/** Validates a filter's config and returns its per-request factory, or INVALID_ARGUMENT. */
using FilterFactoryBuilder =
    std::function<absl::StatusOr<FilterFactory>(const FilterConfigMap&, const FilterContext&)>;

class FilterRegistry {
 public:
  /**
   * Registers `name`. Terminal filters (routers) answer every request and must end a chain.
   * @return ALREADY_EXISTS if the name is taken.
   */
  absl::Status add(std::string name, FilterFactoryBuilder builder, bool terminal = false);
  bool has(absl::string_view name) const;
  std::vector<std::string> names() const;

  /**
   * Builds a chain. An empty spec list means the default chain
   * (stats, failover_reader, backup_mirror, ketama_router). Errors name the offending filter.
   */
  absl::StatusOr<FilterChainConstSharedPtr> buildChain(
      const std::vector<upstream::FilterSpec>& specs, const FilterContext& context) const;

  static std::vector<upstream::FilterSpec> defaultChain();

 private:
  struct Entry {
    FilterFactoryBuilder builder;
    bool terminal;
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

/** Reads an unsigned/boolean/duration-ms option from a filter config, with a clear error. */
absl::StatusOr<uint64_t> configUint(const FilterConfigMap& config, absl::string_view key,
                                    uint64_t default_value);
absl::StatusOr<bool> configBool(const FilterConfigMap& config, absl::string_view key,
                                bool default_value);

}  // namespace mcmesh
