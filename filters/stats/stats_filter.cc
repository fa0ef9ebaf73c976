// StatsFilter: per-command counting and the `stats` reply.
#include "filters/stats/stats_filter.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "proxy/upstream/cluster_view.h"

namespace mcmesh::stats {

absl::StatusOr<FilterFactory> makeStatsFactory(const FilterConfigMap& config,
                                               const FilterContext& context) {
  if (!config.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("takes no options, got '", config.begin()->first, "'"));
  }
  // Factories must be copyable and immutable: share one reporter among all instances.
  auto reporter = std::make_shared<const StatsFilter::Reporter>(context.stats_reporter);
  return FilterFactory([reporter] { return std::make_unique<StatsFilter>(reporter); });
}

FilterStatus StatsFilter::onRequest(Request& request) {
  callbacks_->cluster().counters().commands[static_cast<size_t>(request.command)].inc();
  if (request.command != Command::kStats) return FilterStatus::kContinue;
  Response r = Response::ofType(ResponseType::kStats);
  if (reporter_ != nullptr && *reporter_) r.stats = (*reporter_)(request.args);
  // A group the proxy does not know (e.g. "stats noreply") is an error, as in memcached.
  if (r.stats.empty() && !request.args.empty()) r = Response::ofType(ResponseType::kError);
  callbacks_->sendResponse(std::move(r));
  return FilterStatus::kStopIteration;
}

FilterStatus StatsFilter::onResponse(Response& response) {
  ProxyCounters& counters = callbacks_->cluster().counters();
  const Request& request = callbacks_->request();
  if (isRetrieval(request.command) && response.type == ResponseType::kValues) {
    counters.get_hits.inc(response.items.size());
    counters.get_misses.inc(request.keys.size() - std::min(request.keys.size(),
                                                           response.items.size()));
  }
  if (response.type == ResponseType::kServerError ||
      response.type == ResponseType::kUpstreamFailure) {
    counters.server_errors.inc();
  }
  return FilterStatus::kContinue;
}

}  // namespace mcmesh::stats
