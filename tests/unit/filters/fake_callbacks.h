// FakeCallbacks: the proxy side of one request for unit tests of a filter: records the reply it
// sends and hands out a cluster that the test provides (any fake of replication::Upstreams).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "proxy/dispatcher.h"
#include "proxy/filter.h"
#include "proxy/replication/upstreams.h"

namespace mcmesh::testing {

class FakeCallbacks : public FilterCallbacks {
 public:
  explicit FakeCallbacks(replication::Upstreams& cluster) : cluster_(cluster) {}

  Request& request() override { return request_; }
  Response& response() override { return response_; }
  void continueRequest() override { ++continued; }
  void sendResponse(Response&& response) override { sent = std::move(response); }
  void continueResponse() override {}
  replication::Upstreams& cluster() override { return cluster_; }
  Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t connectionId() const override { return 7; }
  const std::string& clientAddress() const override { return address_; }

  int continued = 0;
  std::optional<Response> sent;

 private:
  replication::Upstreams& cluster_;
  Request request_;
  Response response_;
  Dispatcher dispatcher_;
  std::string address_ = "127.0.0.1:5555";
};

}  // namespace mcmesh::testing
