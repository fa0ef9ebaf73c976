// HostAddress: literal parsing, comparison and formatting of upstream socket addresses.
#include "proxy/upstream/host_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace mcmesh::upstream {
namespace {

std::string formatAddress(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return absl::StrCat(buf, ":", ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
  inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
  return absl::StrCat("[", buf, "]:", ntohs(in6->sin6_port));
}

}  // namespace

bool isIpLiteral(absl::string_view host) {
  std::string h(host);
  in_addr v4;
  in6_addr v6;
  return inet_pton(AF_INET, h.c_str(), &v4) == 1 || inet_pton(AF_INET6, h.c_str(), &v6) == 1;
}

bool HostAddress::sameAddress(const HostAddress& other) const {
  if (!usable() || !other.usable()) return usable() == other.usable();
  return addr_len == other.addr_len && std::memcmp(&addr, &other.addr, addr_len) == 0;
}

const char* HostAddress::stateName() const {
  switch (state) {
    case State::kLiteral: return "literal";
    case State::kPending: return "pending";
    case State::kResolved: return stale ? "stale" : "resolved";
    case State::kFailed: return "failed";
  }
  return "unknown";
}

absl::StatusOr<HostAddress> HostAddress::fromLiteral(absl::string_view host, int port) {
  std::string h(host);
  HostAddress a;
  a.state = State::kLiteral;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.addr);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
  if (inet_pton(AF_INET, h.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    a.addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    a.addr_len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IP address"));
  }
  a.text = formatAddress(reinterpret_cast<const sockaddr*>(&a.addr));
  return a;
}

HostAddress HostAddress::resolved(const sockaddr* addr, socklen_t len, int port) {
  HostAddress a;
  a.state = State::kResolved;
  std::memcpy(&a.addr, addr, std::min<size_t>(len, sizeof(a.addr)));
  a.addr_len = len;
  // Records carry no port (the answer is for the name): the port is the configured one.
  if (addr->sa_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a.addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(&a.addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
  a.text = formatAddress(reinterpret_cast<const sockaddr*>(&a.addr));
  return a;
}

HostAddress HostAddress::pending(std::string why) {
  HostAddress a;
  a.state = State::kPending;
  a.error = std::move(why);
  return a;
}

}  // namespace mcmesh::upstream
