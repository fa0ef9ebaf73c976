// KeyPrefixRouterFilter ("key_prefix_router", terminal): routes each key by its longest
// configured prefix to that prefix's server group (ketama inside the group), other keys to the
// cluster's own ring; splits multi-gets across servers and merges the replies in key order.
#pragma once

#include <memory>

#include "proxy/fragmented_request.h"
#include "key_prefix_router/prefix_routes.h"
#include "proxy/filter.h"
#include "proxy/filter_registry.h"
#include "proxy/replication/replication_state.h"
#include "proxy/replication/upstreams.h"

namespace custom_filter::key_prefix_router {

inline constexpr char kFilterName[] = "key_prefix_router";

/** The registry builder: parses the prefix table (see PrefixRouteTable::create). */
absl::StatusOr<mcmesh::FilterFactory> makeKeyPrefixRouterFactory(
    const mcmesh::FilterConfigMap& config, const mcmesh::FilterContext& context);

class KeyPrefixRouterFilter : public mcmesh::PassThroughFilter {
 public:
  /**
   * @param table shared by every instance of one chain; held so it outlives a chain swap.
   * The cluster is mcmesh's public upstream interface, callbacks().cluster() (tests fake it).
   */
  explicit KeyPrefixRouterFilter(PrefixRouteTableConstSharedPtr table)
      : table_(std::move(table)) {}

  mcmesh::FilterStatus onRequest(mcmesh::Request& request) override;
  void onDestroy() override;

 private:
  void routeKeys(const mcmesh::Request& request);
  void broadcast();
  void dispatch(const mcmesh::Request& request);
  void onFragmentDone(size_t index, mcmesh::Response&& response);

  PrefixRouteTableConstSharedPtr table_;  // group host pointers point into it.
  mcmesh::upstream::ClusterSnapshotConstSharedPtr snapshot_;  // pinned at onRequest.
  mcmesh::FragmentedRequest fragments_;
  bool broadcast_ = false;
};

}  // namespace custom_filter::key_prefix_router
