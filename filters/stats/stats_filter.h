// StatsFilter ("stats"): counts commands, hits/misses and errors; answers the `stats` command.
#pragma once

#include <memory>

#include "proxy/filter.h"
#include "proxy/filter_registry.h"

namespace mcmesh::stats {

absl::StatusOr<FilterFactory> makeStatsFactory(const FilterConfigMap& config,
                                               const FilterContext& context);

class StatsFilter : public PassThroughFilter {
 public:
  using Reporter = std::function<StatLines(absl::string_view)>;
  explicit StatsFilter(std::shared_ptr<const Reporter> reporter) : reporter_(std::move(reporter)) {}
  FilterStatus onRequest(Request& request) override;
  FilterStatus onResponse(Response& response) override;
  bool resetForReuse() override { return true; }  // no per-request state.

 private:
  std::shared_ptr<const Reporter> reporter_;  // shared: requests may outlive a chain swap.
};

}  // namespace mcmesh::stats
