// ClientCodec: the connection-level decode stage for one client protocol (text+meta or binary).
//
// A client connection picks its codec from the first byte it receives (makeClientCodec) and keeps
// it: 0x80, the binary protocol's request magic, means binary; anything else is the text
// protocol, whose codec also understands the meta commands (they share its line syntax). Codecs
// turn bytes into protocol-neutral Requests and Responses back into bytes; nothing behind them
// (filters, upstreams) sees which protocol a client spoke.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "proxy/message.h"

namespace mcmesh::codec {

enum class ParseStatus { kOk, kNeedMore, kError };

struct ParseLimits {
  size_t max_key_length = 250;
  // Values longer than this are refused with "SERVER_ERROR object too large for cache" (binary:
  // status 0x0003), their bytes swallowed.
  size_t max_value_bytes = 1024 * 1024;
  // A command line longer than this (without its newline) closes the connection. get/gets lines
  // may additionally hold max_keys_per_get keys, as memcached lets only large multigets grow.
  size_t max_line_bytes = 8192;
  size_t max_keys_per_get = 4096;
};

// What a client parser (text or binary) keeps between parse() calls: the outcome of the last
// kError, and the bytes of a refused value still to be dropped as they arrive (memcached's
// conn_swallow: both protocols refuse a value over max_value_bytes and then swallow it).
struct ParseErrorState {
  std::string reply;  // the exact reply for the last kError (may be empty).
  bool close = false;
  ErrorKind kind = ErrorKind::kNone;
  uint64_t swallow = 0;

  /**
   * Starts a parse: forgets the last error and drops what is left of a refused value from the
   * front of `input`, adding the bytes dropped to `skipped`.
   * @return true when the input ran out first (answer kNeedMore with *consumed = skipped).
   */
  bool begin(absl::string_view& input, size_t& skipped) {
    reply.clear();
    close = false;
    kind = ErrorKind::kOther;  // what a kError without a more precise kind means.
    if (swallow == 0) return false;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(swallow, input.size()));
    swallow -= n;
    input.remove_prefix(n);
    skipped += n;
    return swallow > 0;
  }
};

class ClientCodec {
 public:
  virtual ~ClientCodec() = default;

  /**
   * Parses at most one request from the front of input (the connection's unconsumed bytes).
   * @return kOk: *request is reset and filled, *consumed = bytes used.
   *         kNeedMore: *consumed = bytes that may already be dropped (a swallowed value's
   *         bytes, otherwise 0); call again with more input.
   *         kError: *consumed = bytes to drop; reply with errorReply(), close if shouldClose().
   */
  virtual ParseStatus parse(absl::string_view input, Request* request, size_t* consumed) = 0;

  /**
   * Appends the reply bytes for `request` (possibly none: noreply, quiet commands, quitq).
   * @param request a request this codec parsed (filters may have rewritten its fields).
   */
  virtual void encode(const Request& request, const Response& response,
                      std::string* out) const = 0;

  /** @return the reply for the last kError (may be empty: the server would say nothing). */
  virtual const std::string& errorReply() const = 0;
  /** @return whether the connection must close after the last kError. */
  virtual bool shouldClose() const = 0;
  /** Why the last kError happened (kTooLarge for a value over ParseLimits::max_value_bytes). */
  virtual ErrorKind errorKind() const = 0;
};

using ClientCodecPtr = std::unique_ptr<ClientCodec>;

/** The binary protocol's request magic: the first byte of every binary request. */
inline constexpr uint8_t kBinaryRequestMagic = 0x80;

/**
 * @param first_byte the first byte the client sent.
 * @return the binary codec for kBinaryRequestMagic, else the text (and meta) codec.
 */
ClientCodecPtr makeClientCodec(uint8_t first_byte, const ParseLimits& limits);


}  // namespace mcmesh::codec
