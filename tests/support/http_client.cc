// httpRequest: connect, write the request, read to EOF, split status line, headers and body.
#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace mcmesh::testing {
namespace {

// Waits for `events` on fd until `deadline`; false on timeout or error.
bool waitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<HttpResponse> httpRequest(int port, absl::string_view method, absl::string_view path,
                                         absl::string_view body, absl::Duration timeout,
                                         absl::string_view host) {
  absl::Time deadline = absl::Now() + timeout;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string host_str(host);
  if (::inet_pton(AF_INET, host_str.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad IPv4 address ", host));
  }
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) return absl::ErrnoToStatus(errno, absl::StrCat("connect ", port));
    if (!waitFor(fd.get(), POLLOUT, deadline)) {
      return absl::DeadlineExceededError("connect timed out");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return absl::ErrnoToStatus(err, absl::StrCat("connect ", port));
  }
  std::string request = absl::StrCat(method, " ", path, " HTTP/1.0\r\nHost: ", host, ":", port,
                                     "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return absl::ErrnoToStatus(errno, "send");
    if (!waitFor(fd.get(), POLLOUT, deadline)) return absl::DeadlineExceededError("send timed out");
  }
  std::string raw;
  char buffer[16384];
  while (true) {
    ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      raw.append(buffer, n);
      continue;
    }
    if (n == 0) break;
    if (errno != EAGAIN && errno != EINTR) return absl::ErrnoToStatus(errno, "recv");
    if (!waitFor(fd.get(), POLLIN, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("reply not complete: '", raw, "'"));
    }
  }

  size_t header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError(absl::StrCat("no end of headers in '", raw, "'"));
  }
  std::vector<std::string> lines =
      absl::StrSplit(absl::string_view(raw).substr(0, header_end), "\r\n");
  HttpResponse response;
  std::vector<std::string> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status[1], &response.status)) {
    return absl::DataLossError(absl::StrCat("bad status line '", lines[0], "'"));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) {
      return absl::DataLossError(absl::StrCat("bad header '", lines[i], "'"));
    }
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  response.body = raw.substr(header_end + 4);
  auto length = response.headers.find("content-length");
  size_t expected = 0;
  if (length != response.headers.end() && method != "HEAD") {
    if (!absl::SimpleAtoi(length->second, &expected) || expected != response.body.size()) {
      return absl::DataLossError(absl::StrCat("body has ", response.body.size(),
                                              " bytes, Content-Length says ", length->second));
    }
  }
  return response;
}

}  // namespace mcmesh::testing
