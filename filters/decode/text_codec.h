// The memcached text protocol codec: bytes <-> protocol-neutral Request/Response.
//
// Parsers are incremental: they look at the connection's unconsumed bytes, take at most one
// message from the front and say how many bytes it used, so a command split over any number of
// reads parses the same as one that arrived whole. Errors are values (ParseStatus), never
// exceptions. Client-facing behaviour follows memcached 1.6's proto_text.c (see the notes on
// TextRequestParser for the few deliberate differences).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "proxy/message.h"

namespace mcmesh::decode {

enum class ParseStatus { kOk, kNeedMore, kError };

struct ParseLimits {
  size_t max_key_length = 250;
  // Values longer than this are refused with "SERVER_ERROR object too large for cache".
  size_t max_value_bytes = 1024 * 1024;
  // A command line longer than this (without its newline) closes the connection. get/gets lines
  // may additionally hold max_keys_per_get keys, as memcached lets only large multigets grow.
  size_t max_line_bytes = 8192;
  size_t max_keys_per_get = 4096;
};

// One per client connection; keeps state across reads (e.g. swallowing a too-large value).
//
// Error replies are memcached's, byte for byte. As in memcached, an error on a command that ends
// in "noreply" is not answered: errorReply() is then empty. errorReply() is also empty when
// memcached closes the connection without a word (over-long line, HTTP request line).
// A negative or > INT_MAX-2 length is "CLIENT_ERROR bad command line format" with nothing
// swallowed (memcached cannot know the block's size either); only a parseable length above
// max_value_bytes gets "SERVER_ERROR object too large for cache" and its block swallowed.
// Differences from memcached, all on inputs no correct client sends:
//  - any line longer than the limit closes the connection, even when its newline already arrived
//    (memcached only checks lines still missing their newline after 2 KB);
//  - more than max_keys_per_get keys, or "gat <exptime>" without keys, is refused with
//    "CLIENT_ERROR bad command line format" / "ERROR" (memcached has no key limit and answers END);
//  - flags above 2^32-1 are refused (memcached silently truncates them);
//  - commands the proxy does not forward (meta commands, shutdown, slabs, ...) answer "ERROR".
class TextRequestParser {
 public:
  explicit TextRequestParser(ParseLimits limits = {});

  /**
   * Parses at most one request from the front of input (the connection's unconsumed bytes).
   * @return kOk: *request is reset and filled, *consumed = bytes used.
   *         kNeedMore: *consumed = bytes that may already be dropped (a swallowed value's
   *         bytes, otherwise 0); call again with more input.
   *         kError: *consumed = bytes to drop; reply with errorReply(), close if shouldClose().
   */
  ParseStatus parse(absl::string_view input, Request* request, size_t* consumed);

  /** @return the exact reply memcached sends for the last kError (may be empty, see above). */
  const std::string& errorReply() const { return error_reply_; }
  /** @return whether memcached closes the connection after the last kError. */
  bool shouldClose() const { return should_close_; }

 private:
  ParseStatus parseLine(absl::string_view input, absl::string_view line, size_t line_end,
                        Request* request, size_t* consumed);
  ParseStatus parseRetrieval(absl::string_view args, Request* request);
  ParseStatus parseStorage(absl::string_view input, absl::string_view args, size_t line_end,
                           Request* request, size_t* consumed);
  ParseStatus fail(absl::string_view reply, bool close = false);
  // The longest line accepted for what has arrived so far (get/gets lines may be longer).
  size_t lineLimit(absl::string_view line_start) const;

  const ParseLimits limits_;
  std::string error_reply_;
  bool should_close_ = false;
  // Bytes of a refused value still to be dropped as they arrive (memcached's conn_swallow).
  uint64_t swallow_ = 0;
};

// Parses one upstream (memcached server) reply to a request of type `command`.
//
// Stateless: a reply split over reads is re-scanned from the front each call, but values are only
// copied once the whole reply has arrived. kError means the upstream stream cannot be trusted any
// more (the caller should close that upstream connection); *consumed is then all of input.
// Conventions where the Response model has no field:
//  - stats replies that are not "STAT name value" ("stats detail dump", "stats cachedump") keep
//    the whole line as a pair with an empty name; "RESET" becomes kOk with text "RESET";
//  - kMetaGet replies become kValues with one Item (key empty unless the reply carried k<key>,
//    ttl -1 when t-1 or absent) or none for "EN"; "HD" is a hit without a value.
class TextResponseParser {
 public:
  ParseStatus parse(absl::string_view input, Command command, Response* response, size_t* consumed);
};

// Request -> text bytes for an upstream server. Appends to *out. Never emits "noreply" (the
// proxy always wants the upstream's ack); kMetaGet encodes as "mg <key> s v f t\r\n".
void encodeRequest(const Request& request, std::string* out);

// Response -> text bytes for the client that sent `request`. Appends to *out; appends nothing if
// request.noreply (or for quit). kUpstreamFailure encodes as "SERVER_ERROR <text>\r\n". VALUE
// lines carry the cas field for gets/gats only.
void encodeResponse(const Request& request, const Response& response, std::string* out);

}  // namespace mcmesh::decode
