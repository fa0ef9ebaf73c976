// SimNetwork: per-connection FIFO queues of requests, delivered one at a time by index.
#include "tests/unit/replication/sim_upstreams.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace mcmesh::testing {

void SimNetwork::setDown(const std::string& address, bool down) {
  if (down) {
    down_.insert(address);
  } else {
    down_.erase(address);
  }
}

upstream::Cancellable* SimNetwork::enqueue(int proxy, const upstream::HostConfig& host,
                                           uint64_t affinity, const Request& request,
                                           upstream::ResponseCallback callback) {
  auto pending = std::make_unique<Pending>();
  pending->request = request;
  pending->callback = std::move(callback);
  Pending* handle = pending.get();
  if (dead(proxy)) {
    lost_.push_back(std::move(pending));
    return handle;
  }
  queues_[ConnKey(proxy, host.address, affinity)].push_back(std::move(pending));
  return handle;  // never answered inline: the caller always gets a live handle.
}

void SimNetwork::kill(int proxy) {
  dead_.insert(proxy);
  for (auto it = queues_.begin(); it != queues_.end();) {
    if (std::get<0>(it->first) != proxy) {
      ++it;
      continue;
    }
    for (auto& p : it->second) lost_.push_back(std::move(p));
    it = queues_.erase(it);
  }
}

void SimNetwork::reapDead() {
  while (!lost_.empty()) {
    std::unique_ptr<Pending> p = std::move(lost_.back());
    lost_.pop_back();
    if (!p->cancelled && p->callback) p->callback(Response::upstreamFailure("proxy is gone"));
  }
}

bool SimNetwork::queued(int proxy, const std::string& address) const {
  for (const auto& [key, queue] : queues_) {
    if (std::get<0>(key) == proxy && std::get<1>(key) == address && !queue.empty()) return true;
  }
  return false;
}

void SimNetwork::deliver(size_t index) {
  auto it = queues_.begin();
  std::advance(it, index);
  const ConnKey key = it->first;
  std::unique_ptr<Pending> p = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) queues_.erase(it);  // the callback may queue on it again.
  const std::string& address = std::get<1>(key);
  Response reply = isDown(address)
                       ? Response::upstreamFailure(absl::StrCat("server ", address, " is down"))
                       : servers_[address].handle(p->request, nowSeconds());
  trace_.push_back(absl::StrCat("p", std::get<0>(key), "/c", std::get<2>(key), " -> ", address,
                                ": ", describe(p->request), " => ", describe(reply),
                                p->cancelled ? " (cancelled)" : ""));
  if (!p->cancelled && p->callback) p->callback(std::move(reply));
}

void SimUpstreams::setAvailable(const std::string& address, bool available) {
  if (available) {
    unavailable_.erase(address);
  } else {
    unavailable_.insert(address);
  }
}

std::string describe(const Request& r) {
  std::string out(commandName(r.command));
  for (const auto& k : r.keys) absl::StrAppend(&out, " ", k);
  if (r.command == Command::kMetaGet && r.meta.vivify) absl::StrAppend(&out, " N", r.exptime);
  if (isStorage(r.command)) absl::StrAppend(&out, " '", r.value, "' f", r.flags);
  if (r.cas_unique != 0) absl::StrAppend(&out, " C", r.cas_unique);
  return out;
}

std::string describe(const Response& r) {
  switch (r.type) {
    case ResponseType::kValues: {
      if (r.items.empty()) return "miss";
      std::string out;
      for (const auto& i : r.items) {
        absl::StrAppend(&out, out.empty() ? "" : ",", "'", i.value, "' c", i.cas);
        if (!i.meta_extra.empty()) absl::StrAppend(&out, " ", i.meta_extra);
      }
      return out;
    }
    case ResponseType::kStored: return "STORED";
    case ResponseType::kNotStored: return "NOT_STORED";
    case ResponseType::kExists: return "EXISTS";
    case ResponseType::kNotFound: return "NOT_FOUND";
    case ResponseType::kDeleted: return "DELETED";
    case ResponseType::kTouched: return "TOUCHED";
    case ResponseType::kOk: return "OK";
    case ResponseType::kNumber: return r.text;
    case ResponseType::kVersion: return "VERSION";
    case ResponseType::kUpstreamFailure: return absl::StrCat("FAILURE(", r.text, ")");
    case ResponseType::kServerError: return absl::StrCat("SERVER_ERROR ", r.text);
    default: return absl::StrCat("type", static_cast<int>(r.type));
  }
}

}  // namespace mcmesh::testing
