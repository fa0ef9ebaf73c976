// Owns a blocking memcached text-protocol client connection for tests, with a timeout on every
// call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mcmesh::testing {

/**
 * A deliberately simple client: tests script exact bytes with send()/readLine()/readUntil() and use
 * set()/get() for setup and checks. Every call fails with DEADLINE_EXCEEDED instead of hanging.
 */
class TextClient {
 public:
  /**
   * Connects to 127.0.0.1:port.
   * @param timeout bounds the connect and, later, each send/read call.
   */
  static absl::StatusOr<std::unique_ptr<TextClient>> connect(
      int port, absl::Duration timeout = absl::Seconds(2));

  // connect() to another IPv4 address (e.g. a server on 127.0.0.2:11211).
  static absl::StatusOr<std::unique_ptr<TextClient>> connectTo(
      absl::string_view host, int port, absl::Duration timeout = absl::Seconds(2));

  TextClient(const TextClient&) = delete;
  TextClient& operator=(const TextClient&) = delete;
  ~TextClient();

  // Writes all bytes.
  absl::Status send(absl::string_view bytes);

  // @return one line including its "\r\n".
  absl::StatusOr<std::string> readLine();

  // @return everything up to and including the first occurrence of terminator; bytes after it
  //         stay buffered for the next read.
  absl::StatusOr<std::string> readUntil(absl::string_view terminator);

  // send(request) then readUntil(terminator).
  absl::StatusOr<std::string> roundTrip(absl::string_view request, absl::string_view terminator);

  // @return the reply line without "\r\n" (e.g. "STORED").
  absl::StatusOr<std::string> set(absl::string_view key, absl::string_view value,
                                  uint32_t flags = 0, int64_t exptime = 0);

  // @return the value, or nullopt on a miss; any reply other than VALUE/END is an error.
  absl::StatusOr<std::optional<std::string>> get(absl::string_view key);

 private:
  TextClient(int fd, absl::Duration timeout) : fd_(fd), timeout_(timeout) {}
  // Appends at least one byte from the socket to buffer_, waiting until deadline.
  absl::Status fill(absl::Time deadline);
  // Returns exactly n buffered bytes, reading as needed.
  absl::StatusOr<std::string> readExactly(size_t n);

  const int fd_;
  const absl::Duration timeout_;
  std::string buffer_;  // Bytes received but not yet returned.
};

using TextClientPtr = std::unique_ptr<TextClient>;

}  // namespace mcmesh::testing
