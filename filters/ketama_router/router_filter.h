// RouterFilter (terminal, "ketama_router"): hands keyed requests to the replication protocol
// (proxy/replication/: ketama placement, backup mirror, failover, safe copies) and answers the
// commands that are not about a key (version, verbosity, flush_all, stats, quit) itself.
#pragma once

#include <cstdint>
#include <vector>

#include "proxy/filter.h"
#include "proxy/filter_registry.h"
#include "proxy/fragmented_request.h"
#include "proxy/replication/read_path.h"
#include "proxy/replication/reply_sink.h"
#include "proxy/replication/write_path.h"
#include "proxy/upstream/cluster_view.h"

namespace mcmesh::router {

class RouterFilter : public PassThroughFilter, private replication::ReplySink {
 public:
  explicit RouterFilter(replication::ChainSettings settings = {}) : settings_(settings) {}
  FilterStatus onRequest(Request& request) override;
  void onDestroy() override;
  bool resetForReuse() override;

 private:
  void onReply(Response&& response) override;
  void routeSingleHost(Request& request);
  void broadcast(Request& request);
  void sendFragments(const Request& request);
  void onFragmentDone(size_t index, Response&& response);

  // Pinned for the request's life: fragments point at its hosts, and a topology push may
  // replace the worker's current snapshot while replies are outstanding.
  upstream::ClusterSnapshotConstSharedPtr snapshot_;
  const replication::ChainSettings settings_;
  replication::ReplicatedRead read_;
  replication::ReplicatedWrite write_;
  // `me` goes to one server, flush_all to every server (its reply says how many failed).
  FragmentedRequest fragments_;
};

/** Builds the router's factory from its options: mirror, max_inflight, miss_failover, repair. */
absl::StatusOr<FilterFactory> makeRouterFactory(const FilterConfigMap& config,
                                                const FilterContext& context);
/** The legacy chain entries `backup_mirror` and `failover_reader`: options for the router. */
absl::StatusOr<FilterConfigMap> backupMirrorSettings(const FilterConfigMap& config);
absl::StatusOr<FilterConfigMap> failoverReaderSettings(const FilterConfigMap& config);

}  // namespace mcmesh::router
