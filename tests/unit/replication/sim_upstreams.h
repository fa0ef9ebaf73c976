// SimNetwork and SimUpstreams: replication::Upstreams over FakeMemcached servers, with every
// reply delivered when the test says so.
//
// send() never answers inline: it queues the request on its connection, named by (proxy, host,
// affinity). A connection is FIFO, as a real one is (memcached answers a connection's requests
// in order); different connections and hosts are independent. The test sees the head of every
// non-empty connection as one deliverable event and delivers one of them by index: the server
// applies the request and the callback gets the reply at once. Exploring every choice of index
// at every step enumerates every order in which the servers can see the requests.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "proxy/replication/replication_state.h"
#include "proxy/replication/upstreams.h"
#include "tests/unit/replication/fake_memcached.h"

namespace mcmesh::testing {

class SimNetwork {
 public:
  explicit SimNetwork(absl::Time start) : now_(start) {}

  /** The server at `address` (created empty on first use). */
  FakeMemcached& server(const std::string& address) { return servers_[address]; }
  /** A down server answers nothing: requests delivered to it fail (kUpstreamFailure). */
  void setDown(const std::string& address, bool down);
  bool isDown(const std::string& address) const { return down_.count(address) != 0; }

  absl::Time now() const { return now_; }
  int64_t nowSeconds() const { return absl::ToUnixSeconds(now_); }
  void advance(absl::Duration d) { now_ += d; }

  upstream::Cancellable* enqueue(int proxy, const upstream::HostConfig& host, uint64_t affinity,
                                 const Request& request, upstream::ResponseCallback callback);
  /** How many connections have a request waiting (the deliverable events). */
  size_t deliverableCount() const { return queues_.size(); }
  /** Delivers the head of the `index`-th waiting connection (in a stable order). */
  void deliver(size_t index);
  bool idle() const { return queues_.empty(); }
  /** Whether `proxy` has a request to `address` that was not delivered yet. */
  bool queued(int proxy, const std::string& address) const;
  /** The proxy's process died: its queued requests are never sent, nor anything it sends. */
  void kill(int proxy);
  /** Fails every send of a dead proxy (and what those failures send in turn) until none is left. */
  void reapDead();
  bool dead(int proxy) const { return dead_.count(proxy) != 0; }
  /** One line per delivered request: connection, request, reply (for failing schedules). */
  const std::vector<std::string>& trace() const { return trace_; }
  void note(const std::string& line) { trace_.push_back(line); }

 private:
  struct Pending : upstream::Cancellable {
    void cancel() override { cancelled = true; }
    Request request;
    upstream::ResponseCallback callback;
    bool cancelled = false;
  };
  using ConnKey = std::tuple<int, std::string, uint64_t>;

  absl::Time now_;
  std::map<std::string, FakeMemcached> servers_;
  std::set<std::string> down_;
  std::set<int> dead_;
  std::vector<std::unique_ptr<Pending>> lost_;  // sends of dead proxies (handles stay valid).
  std::map<ConnKey, std::deque<std::unique_ptr<Pending>>> queues_;
  std::vector<std::string> trace_;
};

/** One proxy (worker): its own topology view, health view, state and counters. */
class SimUpstreams : public replication::Upstreams {
 public:
  SimUpstreams(SimNetwork& network, int id, upstream::ClusterSnapshotConstSharedPtr snapshot,
               replication::ReplicationOptions options = {})
      : network_(network), id_(id), snapshot_(std::move(snapshot)), state_(options) {}

  const upstream::ClusterSnapshotConstSharedPtr& snapshotPtr() const override {
    return snapshot_;
  }
  bool available(const upstream::HostConfig& host) override {
    return unavailable_.count(host.address) == 0;
  }
  upstream::Cancellable* send(const upstream::HostConfig& host, const Request& request,
                              upstream::ResponseCallback callback, uint64_t affinity) override {
    return network_.enqueue(id_, host, affinity, request, std::move(callback));
  }
  absl::Time now() const override { return network_.now(); }
  ProxyCounters& counters() override { return counters_; }
  replication::ReplicationState& replication() override { return state_; }

  int id() const { return id_; }
  void setAvailable(const std::string& address, bool available);
  void setSnapshot(upstream::ClusterSnapshotConstSharedPtr s) { snapshot_ = std::move(s); }

 private:
  SimNetwork& network_;
  int id_;
  upstream::ClusterSnapshotConstSharedPtr snapshot_;
  std::set<std::string> unavailable_;
  ProxyCounters counters_;
  replication::ReplicationState state_;
};

/** "mg k N5", "cas k 'v' C3" ...: a request as a short line for traces. */
std::string describe(const Request& request);
std::string describe(const Response& response);

}  // namespace mcmesh::testing
