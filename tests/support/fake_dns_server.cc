// FakeDnsServer: query parsing, scripted answers and delayed sends (RFC 1035 message format).
#include "tests/support/fake_dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace mcmesh::testing {

absl::StatusOr<std::unique_ptr<FakeDnsServer>> FakeDnsServer::start(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind 127.0.0.1:", port, ": ", std::strerror(e)));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::unique_ptr<FakeDnsServer>(new FakeDnsServer(fd, ntohs(addr.sin_port)));
}

FakeDnsServer::FakeDnsServer(int fd, int port) : fd_(fd), port_(port) {
  thread_ = std::thread([this] { run(); });
}

FakeDnsServer::~FakeDnsServer() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

void FakeDnsServer::setA(const std::string& name, std::vector<std::string> ips) {
  std::lock_guard<std::mutex> lock(mutex_);
  records_[absl::AsciiStrToLower(name)] = std::move(ips);
  silent_.erase(absl::AsciiStrToLower(name));
}

void FakeDnsServer::setSilent(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  silent_[absl::AsciiStrToLower(name)] = true;
}

void FakeDnsServer::setDelay(absl::Duration delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  delay_ = delay;
}

uint64_t FakeDnsServer::queries(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = queries_.find(absl::AsciiStrToLower(name));
  return it == queries_.end() ? 0 : it->second;
}

// Builds the reply to one query; empty when it must not be answered (silent, malformed).
std::string FakeDnsServer::answer(const char* q, size_t len, std::string* name_out) {
  if (len < 12) return "";
  size_t pos = 12;
  std::string name;
  while (pos < len && q[pos] != 0) {
    size_t label = static_cast<uint8_t>(q[pos]);
    if (label > 63 || pos + 1 + label > len) return "";
    if (!name.empty()) name += '.';
    name.append(q + pos + 1, label);
    pos += 1 + label;
  }
  if (pos + 5 > len) return "";
  pos += 1;  // the root label.
  uint16_t qtype = (static_cast<uint8_t>(q[pos]) << 8) | static_cast<uint8_t>(q[pos + 1]);
  pos += 4;  // type, class.
  name = absl::AsciiStrToLower(name);  // resolvers randomize the case (0x20 bits).
  *name_out = name;
  std::vector<std::string> ips;
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++queries_[name];
    if (silent_.count(name) != 0) return "";
    auto it = records_.find(name);
    known = it != records_.end();
    if (known && qtype == 1) ips = it->second;
  }
  std::string r(q, 2);                                  // id
  r += static_cast<char>(0x81 | (q[2] & 0x01));         // QR, RD copied
  r += static_cast<char>(0x80 | (known ? 0 : 3));       // RA; NOERROR or NXDOMAIN
  r += std::string("\0\1", 2);                          // one question
  r += static_cast<char>(0);
  r += static_cast<char>(ips.size());                   // answers
  r += std::string(4, '\0');                            // no authority, no additional
  r.append(q + 12, pos - 12);                           // the question as asked
  for (const std::string& ip : ips) {
    in_addr a{};
    inet_pton(AF_INET, ip.c_str(), &a);
    r += std::string("\xc0\x0c\0\1\0\1\0\0\0\1\0\4", 12);  // name ptr, A, IN, TTL 1, len 4
    r.append(reinterpret_cast<const char*>(&a), 4);
  }
  return r;
}

void FakeDnsServer::run() {
  struct Scheduled {
    absl::Time at;
    std::string bytes;
    sockaddr_storage to;
    socklen_t to_len;
  };
  std::vector<Scheduled> scheduled;
  while (!stop_) {
    absl::Time now = absl::Now();
    for (auto it = scheduled.begin(); it != scheduled.end();) {
      if (it->at > now) {
        ++it;
        continue;
      }
      sendto(fd_, it->bytes.data(), it->bytes.size(), 0, reinterpret_cast<sockaddr*>(&it->to),
             it->to_len);
      it = scheduled.erase(it);
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    char buf[1500];
    Scheduled s;
    s.to_len = sizeof(s.to);
    ssize_t n = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&s.to), &s.to_len);
    if (n <= 0) continue;
    std::string name;
    s.bytes = answer(buf, static_cast<size_t>(n), &name);
    if (s.bytes.empty()) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    s.at = absl::Now() + delay_;
    scheduled.push_back(std::move(s));
  }
}

}  // namespace mcmesh::testing
