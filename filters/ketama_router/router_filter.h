// RouterFilter (terminal, "ketama_router"): sends each request to the key's primary on the
// ketama ring, splits multi-key gets per server and merges the replies back in key order.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "proxy/filter.h"
#include "proxy/upstream/cluster_view.h"

namespace mcmesh::router {

inline constexpr char kVersionString[] = "mcmesh-0.1.0";

class RouterFilter : public PassThroughFilter {
 public:
  FilterStatus onRequest(Request& request) override;
  void onDestroy() override;
  bool resetForReuse() override;

 private:
  // One sub-request per upstream host; key_indexes point into request().keys.
  struct Fragment {
    const upstream::HostConfig* host = nullptr;  // null: the key's primary is ejected.
    absl::InlinedVector<uint32_t, 4> key_indexes;
    upstream::Cancellable* handle = nullptr;
    Response response;
    bool done = false;
  };

  void routeRetrieval(Request& request);
  void routeSingle(Request& request);
  void broadcast(Request& request);
  void dispatchFragments(const Request& request);
  void onFragmentDone(size_t index, Response&& response);
  Response mergeRetrieval();
  Response mergeBroadcast();

  // Pinned for the request's life: fragments point at its hosts, and a topology push may
  // replace the worker's current snapshot while replies are outstanding.
  upstream::ClusterSnapshotConstSharedPtr snapshot_;
  absl::InlinedVector<Fragment, 1> fragments_;  // single-key requests: no heap block.
  size_t outstanding_ = 0;
  bool broadcast_ = false;
};

}  // namespace mcmesh::router
