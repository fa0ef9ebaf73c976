// Upstreams: what key_prefix_router needs from the worker's cluster, as a seam tests replace.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proxy/replication/replication_state.h"
#include "proxy/replication/upstreams.h"

namespace custom_filter::key_prefix_router {

class Upstreams {
 public:
  virtual ~Upstreams() = default;
  /** @return where `key` goes on the cluster's own ring given health, or null (owner down). */
  virtual const mcmesh::upstream::HostConfig* routeDefault(absl::string_view key) = 0;
  /** @return the address of `key`'s owner on the cluster's ring (for "is down" messages). */
  virtual std::string defaultOwner(absl::string_view key) = 0;
  /** @return every server of the cluster (primaries and backups), for flush_all. */
  virtual std::vector<const mcmesh::upstream::HostConfig*> clusterHosts() = 0;
  /** @return whether `host` may take requests now (not ejected, or due for a retry). */
  virtual bool available(const mcmesh::upstream::HostConfig& host) = 0;
  /** Sends `request` to `host`; the callback may run inline. See ConnPool::send. */
  virtual mcmesh::upstream::Cancellable* send(const mcmesh::upstream::HostConfig& host,
                                              const mcmesh::Request& request,
                                              mcmesh::upstream::ResponseCallback callback,
                                              uint64_t affinity) = 0;
};

/**
 * The real thing: the worker's cluster (mcmesh's public upstream interface). Pins the snapshot current at construction, because
 * default-route host pointers point into it and a topology push may replace it mid-request.
 */
class ClusterUpstreams : public Upstreams {
 public:
  explicit ClusterUpstreams(mcmesh::replication::Upstreams& view)
      : view_(view), snapshot_(view.snapshotPtr()) {}

  const mcmesh::upstream::HostConfig* routeDefault(absl::string_view key) override {
    return view_.replication().placement().routeFor(view_, key);
  }
  std::string defaultOwner(absl::string_view key) override {
    return snapshot_->primaryFor(key).address;
  }
  std::vector<const mcmesh::upstream::HostConfig*> clusterHosts() override {
    return snapshot_->allHosts();
  }
  bool available(const mcmesh::upstream::HostConfig& host) override {
    return view_.available(host);
  }
  mcmesh::upstream::Cancellable* send(const mcmesh::upstream::HostConfig& host,
                                      const mcmesh::Request& request,
                                      mcmesh::upstream::ResponseCallback callback,
                                      uint64_t affinity) override {
    return view_.send(host, request, std::move(callback), affinity);
  }

 private:
  mcmesh::replication::Upstreams& view_;
  mcmesh::upstream::ClusterSnapshotConstSharedPtr snapshot_;
};

}  // namespace custom_filter::key_prefix_router
