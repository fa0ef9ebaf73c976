// FakeUpstreams: a scripted cluster behind mcmesh's public upstream interface
// (mcmesh::replication::Upstreams, what filters get from callbacks().cluster()), for the
// example's filter unit tests. A real snapshot with one primary and one backup, so the cluster's
// own placement routes every key to the primary (or nowhere while it is down); canned data per
// server; replies inline or on demand; real per-worker counters.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proxy/message.h"
#include "proxy/replication/replication_state.h"
#include "proxy/replication/upstreams.h"
#include "proxy/stats.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace custom_filter::testing {

class FakeUpstreams : public mcmesh::replication::Upstreams {
 public:
  struct Sent {
    std::string address;
    mcmesh::Command command;
    std::vector<std::string> keys;
  };
  class Handle : public mcmesh::upstream::Cancellable {
   public:
    void cancel() override { cancelled = true; }
    bool cancelled = false;
  };

  FakeUpstreams(const std::string& primary, const std::string& backup) {
    mcmesh::upstream::ClusterConfig config;
    config.primaries = {*mcmesh::upstream::parseHostAddress(primary)};
    config.backups = {*mcmesh::upstream::parseHostAddress(backup)};
    auto snapshot = mcmesh::upstream::ClusterSnapshot::create(config, nullptr, absl::Now());
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    snapshot_ = *snapshot;
  }

  const mcmesh::upstream::ClusterSnapshotConstSharedPtr& snapshotPtr() const override {
    return snapshot_;
  }
  bool available(const mcmesh::upstream::HostConfig& host) override {
    return down.count(host.address) == 0;
  }
  mcmesh::upstream::Cancellable* send(const mcmesh::upstream::HostConfig& host,
                                      const mcmesh::Request& request,
                                      mcmesh::upstream::ResponseCallback callback,
                                      uint64_t affinity) override {
    sent.push_back({host.address, request.command, request.keys});
    affinities.insert(affinity);
    handles.push_back(std::make_unique<Handle>());
    mcmesh::Response reply = answer(host.address, request);
    if (reply_inline) {
      callback(std::move(reply));
    } else {
      pending.push_back([callback = std::move(callback), reply = std::move(reply)]() mutable {
        callback(std::move(reply));
      });
    }
    return handles.back().get();
  }
  absl::Time now() const override { return absl::Now(); }
  mcmesh::ProxyCounters& counters() override { return counters_; }
  mcmesh::replication::ReplicationState& replication() override { return replication_; }

  // Delivers held replies, last sent first (servers answer in any order).
  void replyAllInReverse() {
    auto replies = std::move(pending);
    pending.clear();
    for (auto it = replies.rbegin(); it != replies.rend(); ++it) (*it)();
  }

  std::map<std::string, std::map<std::string, std::string>> data;  // address -> key -> value.
  std::set<std::string> down;
  bool reply_inline = true;
  std::vector<Sent> sent;
  std::set<uint64_t> affinities;
  std::vector<std::unique_ptr<Handle>> handles;
  std::vector<std::function<void()>> pending;

 private:
  mcmesh::Response answer(const std::string& address, const mcmesh::Request& request) {
    switch (request.command) {
      case mcmesh::Command::kGet: {
        mcmesh::Response r = mcmesh::Response::ofType(mcmesh::ResponseType::kValues);
        for (const auto& key : request.keys) {
          auto it = data[address].find(key);
          if (it == data[address].end()) continue;
          mcmesh::Item item;
          item.key = key;
          item.value = it->second;
          r.items.push_back(item);
        }
        return r;
      }
      case mcmesh::Command::kSet:
        data[address][request.keys[0]] = request.value;
        return mcmesh::Response::ofType(mcmesh::ResponseType::kStored);
      case mcmesh::Command::kFlushAll:
        return mcmesh::Response::ofType(mcmesh::ResponseType::kOk);
      default:
        return mcmesh::Response::serverError("unscripted");
    }
  }

  mcmesh::upstream::ClusterSnapshotConstSharedPtr snapshot_;
  mcmesh::ProxyCounters counters_;
  mcmesh::replication::ReplicationState replication_;
};

}  // namespace custom_filter::testing
