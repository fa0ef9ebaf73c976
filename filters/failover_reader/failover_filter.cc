// FailoverReaderFilter: backup reads/writes, miss-failover, read-repair and warm-up copies.
#include "filters/failover_reader/failover_filter.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace mcmesh::failover {

absl::StatusOr<FilterFactory> makeFailoverFactory(const FilterConfigMap& config,
                                                  const FilterContext& context) {
  FailoverOptions options;
  auto miss = configBool(config, "miss_failover", context.cluster.miss_failover);
  if (!miss.ok()) return miss.status();
  auto repair = configBool(config, "repair", true);
  if (!repair.ok()) return repair.status();
  for (const auto& entry : config) {
    if (entry.first != "miss_failover" && entry.first != "repair") {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", entry.first, "'"));
    }
  }
  options.miss_failover = *miss;
  options.repair = *repair;
  return FilterFactory([options] { return std::make_unique<FailoverReaderFilter>(options); });
}

FilterStatus FailoverReaderFilter::onResponse(Response& response) {
  const Request& request = callbacks_->request();
  snapshot_ = callbacks_->cluster().snapshotPtr();
  if (isRetrieval(request.command)) return retryReads(response);
  if (isWrite(request.command) && response.type == ResponseType::kUpstreamFailure) {
    return retryWrite(response);
  }
  if (isWrite(request.command)) invalidatePreviousOwner(request);
  return FilterStatus::kContinue;
}

FilterStatus FailoverReaderFilter::retryReads(Response& response) {
  const Request& request = callbacks_->request();
  upstream::ClusterView& cluster = callbacks_->cluster();
  const upstream::ClusterSnapshot& snapshot = cluster.snapshot();
  if (response.type == ResponseType::kUpstreamFailure) {
    all_primary_failed_ = true;
    primary_failure_ = response.text;
    if (response.failed_keys.empty()) response.failed_keys = request.keys;
  } else if (response.type != ResponseType::kValues) {
    return FilterStatus::kContinue;  // a memcached error reply: pass it on unchanged.
  } else if (response.failed_keys.empty() &&
             (response.items.size() >= request.keys.size() ||
              (!snapshot.hasBackup() && !snapshot.inWarmUp(callbacks_->dispatcher().now())))) {
    // Hot path: every key hit, or misses have nowhere else to look. No sets, no allocation.
    return FilterStatus::kContinue;
  }
  absl::flat_hash_set<std::string> hits, failed(response.failed_keys.begin(),
                                                response.failed_keys.end());
  for (const auto& item : response.items) hits.insert(item.key);
  absl::Time now = callbacks_->dispatcher().now();
  absl::flat_hash_set<std::string> queued;
  for (uint32_t i = 0; i < request.keys.size(); ++i) {
    const std::string& key = request.keys[i];
    if (hits.contains(key) || !queued.insert(key).second) continue;
    Lookup lookup;
    lookup.key_index = i;
    const upstream::HostConfig& primary = snapshot.primaryFor(key);
    bool primary_failed = failed.contains(key);
    if (!primary_failed) {
      lookup.source = snapshot.previousOwnerFor(key, now);
      lookup.warm = lookup.source != nullptr;
      if (lookup.source == nullptr && options_.miss_failover) lookup.source = snapshot.backupFor(key);
      if (options_.repair) lookup.repair_target = &primary;
    } else {
      lookup.source = snapshot.backupFor(key);
    }
    if (lookup.source == nullptr || !cluster.available(*lookup.source)) continue;
    lookups_.push_back(lookup);
  }
  if (lookups_.empty()) return FilterStatus::kContinue;

  outstanding_ = lookups_.size();
  for (size_t i = 0; i < lookups_.size(); ++i) {
    Lookup& l = lookups_[i];
    Request lookup_request;
    // get/gets ask with mg to learn flags and remaining TTL for the repair; gat/gats must touch,
    // so they are repeated as themselves (the repair then uses the request's exptime).
    bool is_gat = request.command == Command::kGat || request.command == Command::kGats;
    lookup_request.command = is_gat ? request.command : Command::kMetaGet;
    lookup_request.exptime = request.exptime;
    lookup_request.keys.push_back(request.keys[l.key_index]);
    if (!l.warm) cluster.counters().failover_reads.inc();
    l.handle = cluster.send(*l.source, lookup_request,
                            [this, i](Response&& r) { onLookupDone(i, std::move(r)); },
                            callbacks_->connectionId());
    if (l.done) l.handle = nullptr;
  }
  return FilterStatus::kStopIteration;
}

void FailoverReaderFilter::onLookupDone(size_t index, Response&& response) {
  Lookup& l = lookups_[index];
  l.handle = nullptr;
  l.done = true;
  l.response = std::move(response);
  if (--outstanding_ == 0) finishReads();
}

void FailoverReaderFilter::finishReads() {
  const Request& request = callbacks_->request();
  Response& response = callbacks_->response();
  upstream::ClusterView& cluster = callbacks_->cluster();
  size_t lookup_failures = 0;
  std::string lookup_failure;
  for (auto& l : lookups_) {
    if (l.response.type != ResponseType::kValues) {
      ++lookup_failures;
      if (lookup_failure.empty()) lookup_failure = l.response.text;
      continue;
    }
    for (auto& item : l.response.items) {
      // mg replies carry no key unless asked ("k"); we know which key we asked for.
      if (item.key.empty()) item.key = request.keys[l.key_index];
      if (!l.warm) cluster.counters().backup_hits.inc();
      if (l.repair_target != nullptr) repair(l, item);
      item.ttl = -1;
      response.items.push_back(std::move(item));
    }
  }
  if (all_primary_failed_ && response.items.empty() && lookup_failures == lookups_.size()) {
    response = Response::serverError(absl::StrCat(primary_failure_, "; backup: ",
                                                  lookup_failure.empty() ? "error" : lookup_failure));
  } else {
    // Restore request key order after appending the found items.
    std::vector<Item> ordered;
    ordered.reserve(response.items.size());
    for (const auto& key : request.keys) {
      for (auto& item : response.items) {
        if (!item.key.empty() && item.key == key) {
          ordered.push_back(std::move(item));
          item.key.clear();
          break;
        }
      }
    }
    response.type = ResponseType::kValues;
    response.items = std::move(ordered);
    response.text.clear();
  }
  callbacks_->continueResponse();  // also correct when the last lookup finished inline.
}

void FailoverReaderFilter::repair(const Lookup& lookup, const Item& item) {
  upstream::ClusterView& cluster = callbacks_->cluster();
  const Request& request = callbacks_->request();
  bool is_gat = request.command == Command::kGat || request.command == Command::kGats;
  if (!is_gat && item.ttl == 0) return;  // expiring this second: not worth copying.
  Request add;
  add.command = Command::kAdd;
  add.keys.push_back(item.key);
  add.flags = item.flags;
  add.exptime = is_gat ? request.exptime : (item.ttl < 0 ? 0 : item.ttl);
  add.value = item.value;
  ProxyCounters* counters = &cluster.counters();
  bool warm = lookup.warm;
  // Fire and forget: the copy must not delay the client, and it outlives this request.
  cluster.send(*lookup.repair_target, add, [counters, warm](Response&& r) {
    if (r.type == ResponseType::kStored || r.type == ResponseType::kNotStored) {
      (warm ? counters->warm_copies : counters->repairs_done).inc();
    } else {
      counters->repairs_failed.inc();
    }
  }, callbacks_->connectionId());
}

void FailoverReaderFilter::invalidatePreviousOwner(const Request& request) {
  // During a warm-up window misses are served from a key's previous owner; a write to the new
  // owner must therefore remove the old copy, or a later miss could resurrect it.
  upstream::ClusterView& cluster = callbacks_->cluster();
  const upstream::HostConfig* old_owner =
      snapshot_->previousOwnerFor(request.keys[0], callbacks_->dispatcher().now());
  if (old_owner == nullptr) return;
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(request.keys[0]);
  ProxyCounters* counters = &cluster.counters();
  cluster.send(*old_owner, del, [counters](Response&& r) {
    if (r.type == ResponseType::kDeleted) counters->warm_invalidations.inc();
  }, callbacks_->connectionId());
}

FilterStatus FailoverReaderFilter::retryWrite(Response& response) {
  const Request& request = callbacks_->request();
  upstream::ClusterView& cluster = callbacks_->cluster();
  const upstream::HostConfig* backup = cluster.snapshot().backupFor(request.keys[0]);
  if (backup == nullptr) return FilterStatus::kContinue;
  cluster.counters().failover_writes.inc();
  cluster.markDirty(cluster.snapshot().primaryFor(request.keys[0]), request.keys[0]);
  primary_failure_ = response.text;
  write_handle_ = cluster.send(*backup, request, [this](Response&& r) {
    write_handle_ = nullptr;
    Response& out = callbacks_->response();
    if (r.type == ResponseType::kUpstreamFailure) {
      out = Response::serverError(absl::StrCat(primary_failure_, "; backup: ", r.text));
    } else {
      out = std::move(r);
    }
    callbacks_->continueResponse();
  }, callbacks_->connectionId());
  return FilterStatus::kStopIteration;
}

bool FailoverReaderFilter::resetForReuse() {
  snapshot_.reset();
  lookups_.clear();
  outstanding_ = 0;
  all_primary_failed_ = false;
  primary_failure_.clear();
  write_handle_ = nullptr;
  return true;
}

void FailoverReaderFilter::onDestroy() {
  for (auto& l : lookups_) {
    if (l.handle != nullptr) l.handle->cancel();
    l.handle = nullptr;
  }
  if (write_handle_ != nullptr) write_handle_->cancel();
  write_handle_ = nullptr;
}

}  // namespace mcmesh::failover
