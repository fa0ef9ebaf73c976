// FakeFilterCallbacks: the proxy side of one request, scripted for filter unit tests.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "proxy/dispatcher.h"
#include "proxy/filter.h"

namespace custom_filter::testing {

/**
 * Stands in for mcmesh's ActiveRequest: records the local reply and continuations instead of
 * running a chain. cluster() is whatever fake of mcmesh's upstream interface the test sets (it
 * aborts if none); dispatcher() is a real, idle event loop, so dispatcher().now() is the wall clock.
 */
class FakeFilterCallbacks : public mcmesh::FilterCallbacks {
 public:
  explicit FakeFilterCallbacks(uint64_t connection_id = 1) : connection_id_(connection_id) {}

  mcmesh::Request& request() override { return request_; }
  mcmesh::Response& response() override { return response_; }
  void continueRequest() override { ++continued; }
  void sendResponse(mcmesh::Response&& response) override {
    ++responses_sent;
    sent = std::move(response);
  }
  void continueResponse() override {}
  /** The cluster a filter under test sees; set one (a fake of the interface) before using it. */
  mcmesh::replication::Upstreams& cluster() override {
    if (cluster_ == nullptr) std::abort();
    return *cluster_;
  }
  void setCluster(mcmesh::replication::Upstreams* cluster) { cluster_ = cluster; }
  mcmesh::Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t connectionId() const override { return connection_id_; }
  const std::string& clientAddress() const override { return address_; }

  void setConnectionId(uint64_t id) { connection_id_ = id; }

  int continued = 0;
  int responses_sent = 0;
  std::optional<mcmesh::Response> sent;

 private:
  mcmesh::Request request_;
  mcmesh::Response response_;
  mcmesh::replication::Upstreams* cluster_ = nullptr;
  mcmesh::Dispatcher dispatcher_;
  uint64_t connection_id_;
  std::string address_ = "127.0.0.1:50000";
};

}  // namespace custom_filter::testing
