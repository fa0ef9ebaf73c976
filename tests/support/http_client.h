// A tiny blocking HTTP/1.0 client for tests of the admin endpoint (one request per connection).
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mcmesh::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased.
  std::string body;
};

/**
 * Sends `method path HTTP/1.0` (with `Content-Length` of `body`) to host:port and reads the
 * reply until the server closes, as HTTP/1.0 makes it. Everything is bounded by `timeout`.
 * @return the parsed reply, or an error for connect failures, timeouts, malformed status lines
 *         or a body shorter than its Content-Length.
 */
absl::StatusOr<HttpResponse> httpRequest(int port, absl::string_view method, absl::string_view path,
                                         absl::string_view body = "",
                                         absl::Duration timeout = absl::Seconds(5),
                                         absl::string_view host = "127.0.0.1");

}  // namespace mcmesh::testing
