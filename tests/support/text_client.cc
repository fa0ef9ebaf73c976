// Implements TextClient over a non-blocking socket driven by poll() with per-call deadlines.
#include "tests/support/text_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace mcmesh::testing {
namespace {

// Waits for `events` on fd until deadline. Returns DEADLINE_EXCEEDED on timeout.
absl::Status pollUntil(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("TextClient: timed out");
    }
    pollfd p{fd, events, 0};
    const int ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(left)));
    const int r = ::poll(&p, 1, ms);
    if (r > 0) {
      return absl::OkStatus();
    }
    if (r < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll");
    }
  }
}

std::string stripCrlf(std::string line) {
  if (absl::EndsWith(line, "\r\n")) {
    line.resize(line.size() - 2);
  }
  return line;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TextClient>> TextClient::connect(int port, absl::Duration timeout) {
  return connectTo("127.0.0.1", port, timeout);
}

absl::StatusOr<std::unique_ptr<TextClient>> TextClient::connectTo(absl::string_view host, int port,
                                                                  absl::Duration timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const std::string host_text(host);
  if (::inet_pton(AF_INET, host_text.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("TextClient: not an IPv4 address: ", host));
  }
  const std::string target = absl::StrCat(host, ":", port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, "socket");
  }
  std::unique_ptr<TextClient> client(new TextClient(fd, timeout));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      return absl::ErrnoToStatus(errno, absl::StrCat("connect ", target));
    }
    absl::Status ready = pollUntil(fd, POLLOUT, absl::Now() + timeout);
    if (!ready.ok()) {
      return ready;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return absl::ErrnoToStatus(err, absl::StrCat("connect ", target));
    }
  }
  return client;
}

TextClient::~TextClient() { ::close(fd_); }

absl::Status TextClient::send(absl::string_view bytes) {
  const absl::Time deadline = absl::Now() + timeout_;
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: a peer that closed must fail the test, not SIGPIPE the whole binary.
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::Status ready = pollUntil(fd_, POLLOUT, deadline);
      if (!ready.ok()) {
        return ready;
      }
    } else if (n < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "send");
    }
  }
  return absl::OkStatus();
}

absl::Status TextClient::fill(absl::Time deadline) {
  char chunk[16384];
  while (true) {
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) {
      return absl::UnavailableError("TextClient: connection closed by peer");
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      absl::Status ready = pollUntil(fd_, POLLIN, deadline);
      if (!ready.ok()) {
        return ready;
      }
    } else if (errno != EINTR) {
      return absl::ErrnoToStatus(errno, "recv");
    }
  }
}

absl::StatusOr<std::string> TextClient::readLine() { return readUntil("\r\n"); }

absl::StatusOr<std::string> TextClient::readUntil(absl::string_view terminator) {
  const absl::Time deadline = absl::Now() + timeout_;
  size_t searched = 0;  // Resume the search where the last one stopped.
  while (true) {
    const size_t pos = buffer_.find(terminator.data(), searched, terminator.size());
    if (pos != std::string::npos) {
      std::string out = buffer_.substr(0, pos + terminator.size());
      buffer_.erase(0, pos + terminator.size());
      return out;
    }
    searched = buffer_.size() >= terminator.size() ? buffer_.size() - terminator.size() + 1 : 0;
    absl::Status filled = fill(deadline);
    if (!filled.ok()) {
      return absl::Status(
          filled.code(), absl::StrCat(filled.message(), " (waiting for ", absl::CEscape(terminator),
                                      ", have ", absl::CEscape(buffer_), ")"));
    }
  }
}

absl::StatusOr<std::string> TextClient::readExactly(size_t n) {
  const absl::Time deadline = absl::Now() + timeout_;
  while (buffer_.size() < n) {
    absl::Status filled = fill(deadline);
    if (!filled.ok()) {
      return filled;
    }
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

absl::StatusOr<std::string> TextClient::roundTrip(absl::string_view request,
                                                  absl::string_view terminator) {
  absl::Status sent = send(request);
  if (!sent.ok()) {
    return sent;
  }
  return readUntil(terminator);
}

absl::StatusOr<std::string> TextClient::set(absl::string_view key, absl::string_view value,
                                            uint32_t flags, int64_t exptime) {
  absl::Status sent = send(absl::StrCat("set ", key, " ", flags, " ", exptime, " ", value.size(),
                                        "\r\n", value, "\r\n"));
  if (!sent.ok()) {
    return sent;
  }
  absl::StatusOr<std::string> line = readLine();
  if (!line.ok()) {
    return line.status();
  }
  return stripCrlf(*std::move(line));
}

absl::StatusOr<std::optional<std::string>> TextClient::get(absl::string_view key) {
  absl::Status sent = send(absl::StrCat("get ", key, "\r\n"));
  if (!sent.ok()) {
    return sent;
  }
  absl::StatusOr<std::string> header = readLine();
  if (!header.ok()) {
    return header.status();
  }
  if (*header == "END\r\n") {
    return std::optional<std::string>();
  }
  // "VALUE <key> <flags> <bytes> [<cas>]\r\n"
  const std::string header_line = stripCrlf(*header);
  const std::vector<absl::string_view> parts = absl::StrSplit(header_line, ' ');
  size_t bytes = 0;
  if (parts.size() < 4 || parts[0] != "VALUE" || !absl::SimpleAtoi(parts[3], &bytes)) {
    return absl::InternalError(
        absl::StrCat("get ", key, ": unexpected reply: ", absl::CEscape(*header)));
  }
  absl::StatusOr<std::string> data = readExactly(bytes + 2);
  if (!data.ok()) {
    return data.status();
  }
  absl::StatusOr<std::string> end = readLine();
  if (!end.ok()) {
    return end.status();
  }
  if (!absl::EndsWith(*data, "\r\n") || *end != "END\r\n") {
    return absl::InternalError(absl::StrCat("get ", key, ": malformed value block"));
  }
  data->resize(bytes);
  return std::optional<std::string>(*std::move(data));
}

}  // namespace mcmesh::testing
