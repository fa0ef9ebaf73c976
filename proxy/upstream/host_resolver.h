// HostResolver: looks up every upstream host given by name, in the background, on one loop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proxy/dispatcher.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/dns_client.h"
#include "proxy/upstream/host_address.h"

namespace mcmesh::upstream {

struct ResolverOptions {
  // Every name is looked up again this often (DNS TTLs are not visible through getaddrinfo-style
  // answers, so a fixed period bounds how long a moved server keeps its old address).
  absl::Duration refresh_interval = absl::Seconds(30);
  // A name without an answer is retried this often (or refresh_interval if shorter).
  absl::Duration retry_interval = absl::Seconds(5);
  // refresh() (after connection failures) starts a lookup at most this often per name.
  absl::Duration min_refresh_gap = absl::Seconds(1);
};

// Owned by the main thread (its loop runs the lookups). Keeps name -> current address and
// publishes an immutable AddressTable whenever an entry changes; the server posts each table to
// the workers, whose pools connect to what it says (workers never resolve).
//
// Policy (docs/operating.md "DNS"):
//  - a name is one server; of several A/AAAA records the lowest address is used (IPv4 before
//    IPv6, then numeric), so every proxy of a mesh picks the same one from the same answer and a
//    round-robin reordering of records is not a change;
//  - NXDOMAIN or no records: the host has no address (kFailed), so it is ejected like a refused
//    connect; no answer at all (timeout, SERVFAIL) keeps the last good address (marked stale):
//    a DNS outage does not take healthy servers away. Each change of state is logged once.
class HostResolver {
 public:
  using PublishCallback = std::function<void(AddressTableConstSharedPtr)>;
  /** `client` must outlive this. `publish` runs on the loop after every change. */
  HostResolver(Dispatcher& dispatcher, DnsClient& client, ResolverOptions options,
               PublishCallback publish);
  ~HostResolver();

  /** The applied topology's hosts: new names are looked up now, gone ones forgotten. */
  void setHosts(const std::vector<const HostConfig*>& hosts);
  /** A connection to `address` failed: look its name up again soon (rate-limited). */
  void refresh(const std::string& address);
  /** The latest table (also handed to `publish`). */
  const AddressTableConstSharedPtr& table() const { return table_; }
  size_t lookupsInFlight() const;

 private:
  struct Entry {
    std::string name;
    int port = 0;
    HostAddress address;
    bool in_flight = false;
    DnsQuery* query = nullptr;  // null while in_flight when the answer came inline.
    TimerPtr timer;
    absl::Time last_started = absl::InfinitePast();
    bool failure_logged = false;  // one warning per run of failures.
  };
  void start(const std::string& key);
  void onAnswer(const std::string& key, DnsResult&& result);
  void publish();

  Dispatcher& dispatcher_;
  DnsClient& client_;
  ResolverOptions options_;
  PublishCallback publish_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;  // by HostConfig::address.
  AddressTableConstSharedPtr table_ = std::make_shared<const AddressTable>();
};

/** The record a name is given (see HostResolver's policy); `records` must not be empty. */
const DnsRecord& chooseRecord(const std::vector<DnsRecord>& records);

}  // namespace mcmesh::upstream
