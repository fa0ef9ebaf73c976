// DnsClient: the asynchronous name lookup the resolver uses (evdns in the process, fakes in tests).
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mcmesh::upstream {

// One socket address from an answer (A or AAAA; the port is not meaningful).
struct DnsRecord {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// The answer for one name: its records, or NotFoundError (the name or its records do not exist:
// NXDOMAIN, NODATA) or UnavailableError (no answer: timeout, SERVFAIL, refused). The resolver
// treats the two differently (see host_resolver.h).
using DnsResult = absl::StatusOr<std::vector<DnsRecord>>;
using DnsCallback = std::function<void(DnsResult&&)>;

// Handle to a lookup in flight; valid until its callback runs or cancel() returns.
class DnsQuery {
 public:
  virtual ~DnsQuery() = default;
  /** The callback will not run. */
  virtual void cancel() = 0;
};

class DnsClient {
 public:
  virtual ~DnsClient() = default;
  /**
   * Looks up A and AAAA records of `name` without blocking.
   * @param callback runs on the client's loop, possibly inline (hosts file, literal).
   * @return a handle, or null when the callback already ran.
   */
  virtual DnsQuery* resolve(const std::string& name, DnsCallback callback) = 0;
};
using DnsClientPtr = std::unique_ptr<DnsClient>;

}  // namespace mcmesh::upstream
