// FailoverReaderFilter ("failover_reader"): finds what the primary could not give.
//  - keys whose primary is down are read from the backup pool;
//  - keys the primary missed are read from the key's previous owner during a topology warm-up
//    window, else (miss-failover) from the backup; hits are copied back to the primary with
//    `add` keeping flags and remaining TTL (read-repair: never overwrites a newer value);
//  - a write whose primary is down goes to the backup, and the client gets the backup's answer;
//  - during a warm-up window, a write also deletes the key on its previous owner.
#pragma once

#include <string>
#include <vector>

#include "proxy/filter.h"
#include "proxy/filter_registry.h"
#include "proxy/upstream/cluster_view.h"

namespace mcmesh::failover {

struct FailoverOptions {
  bool miss_failover = true;  // retry primary misses on the backup.
  bool repair = true;         // copy backup/previous-owner hits back to the primary.
};

absl::StatusOr<FilterFactory> makeFailoverFactory(const FilterConfigMap& config,
                                                  const FilterContext& context);

class FailoverReaderFilter : public PassThroughFilter {
 public:
  explicit FailoverReaderFilter(FailoverOptions options) : options_(options) {}
  FilterStatus onResponse(Response& response) override;
  void onDestroy() override;
  bool resetForReuse() override;

 private:
  // One key looked up on a second host.
  struct Lookup {
    uint32_t key_index = 0;
    const upstream::HostConfig* source = nullptr;
    const upstream::HostConfig* repair_target = nullptr;  // null: don't copy back.
    bool warm = false;                                    // source is the previous owner.
    upstream::Cancellable* handle = nullptr;
    bool done = false;
    Response response;
  };

  FilterStatus retryReads(Response& response);
  FilterStatus retryWrite(Response& response);
  void invalidatePreviousOwner(const Request& request);
  void onLookupDone(size_t index, Response&& response);
  void finishReads();
  void repair(const Lookup& lookup, const Item& item);

  FailoverOptions options_;
  upstream::ClusterSnapshotConstSharedPtr snapshot_;  // pinned: lookups point at its hosts.
  std::vector<Lookup> lookups_;
  size_t outstanding_ = 0;
  bool all_primary_failed_ = false;
  std::string primary_failure_;
  upstream::Cancellable* write_handle_ = nullptr;
};

}  // namespace mcmesh::failover
