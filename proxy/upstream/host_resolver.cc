// HostResolver: lookup scheduling, the answer/failure policy and table publication.
#include "proxy/upstream/host_resolver.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "proxy/log.h"

namespace mcmesh::upstream {
namespace {

// IPv4 first, then by address bytes: a total order every proxy agrees on.
bool recordLess(const DnsRecord& a, const DnsRecord& b) {
  if (a.addr.ss_family != b.addr.ss_family) return a.addr.ss_family == AF_INET;
  if (a.addr.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a.addr).sin_addr;
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.addr).sin_addr;
    return std::memcmp(&x, &y, sizeof(x)) < 0;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a.addr).sin6_addr;
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b.addr).sin6_addr;
  return std::memcmp(&x, &y, sizeof(x)) < 0;
}

bool sameEntry(const HostAddress& a, const HostAddress& b) {
  return a.state == b.state && a.sameAddress(b) && a.failures == b.failures &&
         a.stale == b.stale && a.error == b.error;
}

}  // namespace

const DnsRecord& chooseRecord(const std::vector<DnsRecord>& records) {
  return *std::min_element(records.begin(), records.end(), recordLess);
}

HostResolver::HostResolver(Dispatcher& dispatcher, DnsClient& client, ResolverOptions options,
                           PublishCallback publish)
    : dispatcher_(dispatcher), client_(client), options_(options), publish_(std::move(publish)) {}

HostResolver::~HostResolver() {
  for (auto& [key, entry] : entries_) {
    if (entry->query != nullptr) entry->query->cancel();
  }
}

size_t HostResolver::lookupsInFlight() const {
  size_t n = 0;
  for (const auto& [key, entry] : entries_) n += entry->in_flight;
  return n;
}

void HostResolver::setHosts(const std::vector<const HostConfig*>& hosts) {
  std::set<std::string> listed;
  std::vector<std::string> added;
  for (const HostConfig* h : hosts) {
    if (isIpLiteral(h->host) || !listed.insert(h->address).second) continue;
    if (entries_.count(h->address) != 0) continue;
    auto entry = std::make_unique<Entry>();
    entry->name = h->host;
    entry->port = h->port;
    entry->address = HostAddress::pending(absl::StrCat("waiting for the first DNS answer for ",
                                                       h->host));
    std::string key = h->address;
    entry->timer = dispatcher_.createTimer([this, key] { start(key); });
    entries_.emplace(key, std::move(entry));
    added.push_back(key);
  }
  bool changed = !added.empty();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (listed.count(it->first) != 0) {
      ++it;
      continue;
    }
    if (it->second->query != nullptr) it->second->query->cancel();
    it = entries_.erase(it);
    changed = true;
  }
  if (changed) publish();  // pending entries first, so pools say why they wait.
  for (const std::string& key : added) start(key);
}

void HostResolver::refresh(const std::string& address) {
  auto it = entries_.find(address);
  if (it == entries_.end()) return;  // an IP literal, or no longer listed.
  Entry& entry = *it->second;
  if (entry.in_flight) return;
  absl::Time allowed = entry.last_started + options_.min_refresh_gap;
  absl::Time now = dispatcher_.now();
  if (now >= allowed) {
    start(address);
  } else {
    entry.timer->enable(allowed - now);
  }
}

void HostResolver::start(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = *it->second;
  if (entry.in_flight) return;
  entry.timer->disable();
  entry.in_flight = true;
  entry.last_started = dispatcher_.now();
  // The answer may come inline (hosts file), before resolve() returns.
  DnsQuery* query = client_.resolve(entry.name, [this, key](DnsResult&& result) {
    onAnswer(key, std::move(result));
  });
  auto again = entries_.find(key);
  if (again != entries_.end() && again->second->in_flight) again->second->query = query;
}

void HostResolver::onAnswer(const std::string& key, DnsResult&& result) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = *it->second;
  entry.in_flight = false;
  entry.query = nullptr;
  HostAddress before = entry.address;
  absl::Duration next = options_.refresh_interval;
  if (result.ok() && !result->empty()) {
    const DnsRecord& record = chooseRecord(*result);
    HostAddress now = HostAddress::resolved(reinterpret_cast<const sockaddr*>(&record.addr),
                                            record.len, entry.port);
    now.failures = before.failures;
    if (before.state == HostAddress::State::kResolved && !before.sameAddress(now)) {
      logLine(LogLevel::kInfo, absl::StrCat("upstream ", key, " now resolves to ", now.text,
                                            " (was ", before.text,
                                            "): new connections go there, old ones drain"));
    } else if (before.state != HostAddress::State::kResolved || entry.failure_logged) {
      logLine(LogLevel::kInfo, absl::StrCat("upstream ", key, " resolves to ", now.text));
    }
    entry.failure_logged = false;
    entry.address = now;
  } else {
    absl::Status status = result.ok() ? absl::NotFoundError(absl::StrCat(entry.name,
                                                                        ": empty answer"))
                                      : result.status();
    HostAddress failed = before;
    ++failed.failures;
    failed.error = std::string(status.message());
    bool keep = absl::IsUnavailable(status) && before.state == HostAddress::State::kResolved;
    if (keep) {
      // No answer is not "gone": keep the last address rather than drop a working server.
      failed.stale = true;
    } else {
      failed.state = HostAddress::State::kFailed;
      failed.stale = false;
      failed.text.clear();
      failed.addr_len = 0;
    }
    if (!entry.failure_logged) {
      logLine(LogLevel::kWarn,
              absl::StrCat("upstream ", key, ": ", failed.error,
                           keep ? absl::StrCat("; keeping its last address ", before.text)
                                : std::string("; it is unavailable until its name resolves"),
                           " (retrying every ", absl::FormatDuration(options_.retry_interval),
                           ")"));
      entry.failure_logged = true;
    }
    entry.address = failed;
    next = std::min(options_.refresh_interval, options_.retry_interval);
  }
  entry.timer->enable(next);
  if (!sameEntry(before, entry.address)) publish();
}

void HostResolver::publish() {
  auto table = std::make_shared<AddressTable>();
  for (const auto& [key, entry] : entries_) table->emplace(key, entry->address);
  table_ = std::move(table);
  if (publish_) publish_(table_);
}

}  // namespace mcmesh::upstream
