// HostAddress and AddressTable: where each upstream host is now, as the resolver last published it.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcmesh::upstream {

// A connection pool never resolves a name itself: it connects to the address it was last given
// (proxy/upstream/host_resolver.h publishes them), so no worker ever waits on DNS.
struct HostAddress {
  enum class State : uint8_t {
    kLiteral,   // the host was given as an IP address: nothing to resolve.
    kPending,   // a name not answered yet: requests fail at once, not counted against health.
    kResolved,  // a name with a current address.
    kFailed,    // a name that does not resolve: the host is unavailable (counted as a failure).
  };
  State state = State::kPending;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string text;   // "10.1.2.3:11211" or "[::1]:11211"; empty unless usable().
  std::string error;  // why there is no address (kPending, kFailed).
  // Unresolvable answers (NXDOMAIN, timeouts with no earlier answer) since the name was listed.
  uint64_t failures = 0;
  // A name that failed to re-resolve (timeout, SERVFAIL) keeps its last answer: set meanwhile.
  bool stale = false;

  bool usable() const { return state == State::kLiteral || state == State::kResolved; }
  /** Same socket address (family, IP and port); what a pool compares to drain old connections. */
  bool sameAddress(const HostAddress& other) const;
  const char* stateName() const;

  /** For an IP literal host ("1.2.3.4", "::1"); an error when `host` is not one. Never blocks. */
  static absl::StatusOr<HostAddress> fromLiteral(absl::string_view host, int port);
  /** A resolved name's address with the host's port. */
  static HostAddress resolved(const sockaddr* addr, socklen_t len, int port);
  static HostAddress pending(std::string why);
};

/** Whether `host` is an IPv4 or IPv6 literal (those bypass the resolver). */
bool isIpLiteral(absl::string_view host);

// One immutable version of every named host's address, keyed by HostConfig::address ("name:port").
// Published by the resolver on the main thread and posted to each worker (as snapshots are).
using AddressTable = std::map<std::string, HostAddress>;
using AddressTableConstSharedPtr = std::shared_ptr<const AddressTable>;

}  // namespace mcmesh::upstream
