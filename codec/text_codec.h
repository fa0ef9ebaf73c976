// The memcached text protocol codec (with the meta commands, which share its line syntax):
// bytes <-> protocol-neutral Request/Response.
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
#include "codec/client_codec.h"
#include "proxy/message.h"

namespace mcmesh::codec {

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
//  - commands the proxy does not forward (shutdown, slabs, lru_crawler, ...) answer "ERROR".
//
// Meta commands (mg, ms, md, ma, mn, me) are validated as memcached 1.6.18 validates them, with
// its error replies (see meta_request_parser.cc); their flags land in Request::meta. Errors on
// meta commands are always answered, even with q.
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
  const std::string& errorReply() const { return error_.reply; }
  ErrorKind errorKind() const { return error_.kind; }
  /** @return whether memcached closes the connection after the last kError. */
  bool shouldClose() const { return error_.close; }

 private:
  ParseStatus parseLine(absl::string_view input, absl::string_view line, size_t line_end,
                        Request* request, size_t* consumed);
  ParseStatus parseRetrieval(absl::string_view args, Request* request);
  ParseStatus parseStorage(absl::string_view input, absl::string_view args, size_t line_end,
                           Request* request, size_t* consumed);
  ParseStatus parseMeta(absl::string_view input, absl::string_view name, absl::string_view rest,
                        size_t line_end, Request* request, size_t* consumed);
  ParseStatus fail(absl::string_view reply, bool close = false,
                   ErrorKind kind = ErrorKind::kOther);
  // The longest line accepted for what has arrived so far (get/gets lines may be longer).
  size_t lineLimit(absl::string_view line_start) const;

  const ParseLimits limits_;
  ParseErrorState error_;  // the last kError, and a refused value still being swallowed.
};

// What an upstream reply answers. encodeRequest fills it; the upstream connection keeps it until
// the reply arrives and hands it to TextResponseParser.
struct ReplyContext {
  Command command = Command::kGet;
  // The request went out as a meta command (mg/ms/md/ma/me), so the reply is in meta form.
  bool meta = false;
  // Meta retrievals and me: the key asked for (memcached's reply need not name it). Empty
  // otherwise, so text requests copy nothing.
  std::string key;
  // Text retrievals: how many keys were asked for (the most VALUE items the reply can hold), so
  // the parser sizes the items once.
  uint32_t keys = 0;
};

// Whether `request` must travel to memcached as a meta command: it came from a meta client,
// asks for something text cannot express (a returned cas, vivify, a cas compare on a command
// without one, meta-only flags), or a key text cannot carry (spaces, control bytes: those travel
// base64-encoded with the b flag).
bool needsMetaForm(const Request& request);

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
// Meta-form replies (ReplyContext::meta): retrievals become kValues with the context's key and
// the flags memcached returned (f, c, t into fields, the rest into Item::meta_extra); "HD", "NS",
// "EX", "NF" of writes become kStored/kDeleted/kNumber/kTouched, kNotStored, kExists,
// kNotFound, with one Item carrying any returned cas/ttl/flags; ma's "VA" becomes kNumber.
class TextResponseParser {
 public:
  ParseStatus parse(absl::string_view input, Command command, Response* response, size_t* consumed);
  ParseStatus parse(absl::string_view input, const ReplyContext& context, Response* response,
                    size_t* consumed);
  /**
   * Values longer than this are an error (kError, tooLarge()), refused from the VALUE/VA header
   * before their data is buffered. Default: 1 GiB, more than memcached can store.
   */
  void setMaxValueBytes(uint64_t bytes) { max_value_ = bytes; }
  /** Whether the last kError was a value over setMaxValueBytes() (not a malformed stream). */
  bool tooLarge() const { return too_large_; }

 private:
  uint64_t max_value_ = uint64_t{1} << 30;
  bool too_large_ = false;
  // The reply at the head of the input was incomplete last time. A complete reply is parsed in
  // one pass; an incomplete one is first only scanned (nothing copied) until it is whole, so a
  // big multi-get arriving over many reads is not copied again and again.
  bool incomplete_ = false;
};

// Request -> bytes for an upstream server, in text or (needsMetaForm) meta form. Appends to
// *out and, if `context` is not null, says how to parse the reply. Never emits "noreply" or meta
// "q" (the proxy always wants the upstream's ack, and pipelined replies must match requests);
// kMetaGet encodes as "mg <key> s v f t c\r\n" (plus " N<exptime>" with meta.vivify: a lease).
void encodeRequest(const Request& request, std::string* out, ReplyContext* context = nullptr);
// encodeRequest without a storage command's data block: the caller sends request.value and
// "\r\n" right after it. Lets the upstream connection copy a value once, straight into its
// socket buffer, instead of through an intermediate string.
void encodeRequestHead(const Request& request, std::string* out, ReplyContext* context = nullptr);

// Response -> text bytes for the client that sent `request`. Appends to *out; appends nothing if
// request.noreply (or for quit). kUpstreamFailure encodes as "SERVER_ERROR <text>\r\n". VALUE
// lines carry the cas field for gets/gats only. Requests from meta commands are answered in meta
// form, as memcached 1.6.18 answers them (see meta_encoder.cc).
void encodeResponse(const Request& request, const Response& response, std::string* out);

// The text codec as a ClientCodec: TextRequestParser in, encodeResponse out.
class TextClientCodec : public ClientCodec {
 public:
  explicit TextClientCodec(ParseLimits limits = {}) : parser_(limits) {}
  ParseStatus parse(absl::string_view input, Request* request, size_t* consumed) override {
    return parser_.parse(input, request, consumed);
  }
  void encode(const Request& request, const Response& response, std::string* out) const override {
    encodeResponse(request, response, out);
  }
  const std::string& errorReply() const override { return parser_.errorReply(); }
  ErrorKind errorKind() const override { return parser_.errorKind(); }
  bool shouldClose() const override { return parser_.shouldClose(); }

 private:
  TextRequestParser parser_;
};

}  // namespace mcmesh::codec
