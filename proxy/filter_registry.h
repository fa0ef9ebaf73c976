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
#include "proxy/filter_counters.h"
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
  // Where a filter declares its own counters (shown in `stats` and /metrics); outlives the
  // chain. Null only in tests that build chains without a server.
  FilterCounterRegistry* counters = nullptr;
};

using FilterConfigMap = std::map<std::string, std::string>;
/** Validates a filter's config and returns its per-request factory, or INVALID_ARGUMENT. */
using FilterFactoryBuilder =
    std::function<absl::StatusOr<FilterFactory>(const FilterConfigMap&, const FilterContext&)>;
/**
 * Validates the options of a settings entry (see FilterRegistry::addSettings) and returns them
 * as options for the chain's terminal filter, or INVALID_ARGUMENT.
 */
using SettingsTranslator = std::function<absl::StatusOr<FilterConfigMap>(const FilterConfigMap&)>;

class FilterRegistry {
 public:
  /**
   * Registers `name`. Terminal filters (routers) answer every request and must end a chain.
   * @return ALREADY_EXISTS if the name is taken.
   */
  absl::Status add(std::string name, FilterFactoryBuilder builder, bool terminal = false);
  /**
   * Registers `name` as a settings entry: in a chain it builds no filter; its options, translated,
   * are passed to the chain's terminal filter. It may appear anywhere before the terminal (order
   * does not matter). Kept for chains written when mirroring and failover were filters.
   */
  absl::Status addSettings(std::string name, SettingsTranslator translator);
  bool has(absl::string_view name) const;
  std::vector<std::string> names() const;

  /**
   * Builds a chain. An empty spec list means the default chain
   * (stats, ketama_router). Errors name the offending filter.
   */
  absl::StatusOr<FilterChainConstSharedPtr> buildChain(
      const std::vector<upstream::FilterSpec>& specs, const FilterContext& context) const;

  static std::vector<upstream::FilterSpec> defaultChain();

 private:
  struct Entry {
    FilterFactoryBuilder builder;
    bool terminal;
    SettingsTranslator settings;  // set for settings entries only.
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

/** Reads an unsigned/boolean/duration-ms option from a filter config, with a clear error. */
absl::StatusOr<uint64_t> configUint(const FilterConfigMap& config, absl::string_view key,
                                    uint64_t default_value);
absl::StatusOr<bool> configBool(const FilterConfigMap& config, absl::string_view key,
                                bool default_value);

}  // namespace mcmesh
