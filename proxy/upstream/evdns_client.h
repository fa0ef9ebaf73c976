// EvdnsClient: DnsClient on libevent's evdns (non-blocking UDP/TCP lookups on one event loop).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "proxy/upstream/dns_client.h"

struct event_base;
struct evdns_base;

namespace mcmesh::upstream {

struct DnsOptions {
  // Nameservers, search domains and options (timeout, attempts, ndots) as the system resolver
  // reads them; "nameserver 127.0.0.1:5353" (with a port) works too, which tests use.
  std::string resolv_conf = "/etc/resolv.conf";
  // Names answered before any DNS query (as nsswitch's "files dns" order does).
  std::string hosts_file = "/etc/hosts";
};

class EvdnsClient : public DnsClient {
 public:
  /**
   * Reads `options` (a missing or empty resolv.conf falls back to 127.0.0.1, as evdns and glibc
   * do, with a warning). The files are read once, at start-up.
   * @return an error if evdns cannot be set up.
   */
  static absl::StatusOr<std::unique_ptr<EvdnsClient>> create(event_base* base,
                                                             const DnsOptions& options);
  ~EvdnsClient() override;
  DnsQuery* resolve(const std::string& name, DnsCallback callback) override;

 private:
  explicit EvdnsClient(evdns_base* dns) : dns_(dns) {}
  evdns_base* dns_;
};

}  // namespace mcmesh::upstream
