// Invariants shared by the client-codec fuzz targets (text/meta and binary): what a parsed
// Request must look like, that it reaches memcached unchanged, and that every reply the proxy
// could send back for it encodes without trouble.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "codec/client_codec.h"
#include "codec/text_codec.h"
#include "fuzz/fuzz_input.h"
#include "proxy/message.h"

namespace mcmesh::fuzz {

inline bool hasNewline(const std::string& s) { return s.find('\n') != std::string::npos; }

inline std::vector<std::string> argTokens(absl::string_view args) {
  return absl::StrSplit(args, ' ', absl::SkipEmpty());
}

// Shape of any request a client codec hands to the filters.
inline void checkRequestShape(const Request& r, const codec::ParseLimits& limits) {
  if (isRetrieval(r.command)) {
    MCMESH_FUZZ_CHECK(!r.keys.empty() && r.keys.size() <= limits.max_keys_per_get, "%zu keys",
                      r.keys.size());
  } else if (isKeyed(r.command)) {
    MCMESH_FUZZ_CHECK(r.keys.size() == 1, "%zu keys on a keyed command", r.keys.size());
  } else {
    MCMESH_FUZZ_CHECK(r.keys.empty(), "%zu keys on an unkeyed command", r.keys.size());
  }
  for (const std::string& key : r.keys) {
    MCMESH_FUZZ_CHECK(!key.empty() && key.size() <= limits.max_key_length, "key of %zu bytes",
                      key.size());
  }
  MCMESH_FUZZ_CHECK(r.value.size() <= limits.max_value_bytes, "value of %zu bytes",
                    r.value.size());
  MCMESH_FUZZ_CHECK(isStorage(r.command) || r.value.empty(), "value on a non-storage command");
  MCMESH_FUZZ_CHECK(r.command != Command::kMetaGet, "clients cannot send the internal mg");
  MCMESH_FUZZ_CHECK(!hasNewline(r.args), "newline in args");
  MCMESH_FUZZ_CHECK(r.meta.opaque.size() <= 32, "opaque of %zu bytes", r.meta.opaque.size());
}

// The request as memcached gets it: encodeRequest's bytes must be one complete, valid command
// (TextRequestParser checks what memcached 1.6.18 checks) carrying the same key(s), value and
// the fields memcached acts on. Text form round-trips exactly (but noreply, never sent);
// meta form carries the same data under meta flags.
inline void checkUpstreamRoundTrip(const Request& r) {
  if (r.command == Command::kNoop || r.command == Command::kQuit) return;  // answered locally
  std::string wire;
  codec::ReplyContext context;
  codec::encodeRequest(r, &wire, &context);
  MCMESH_FUZZ_CHECK(!wire.empty() && wire.back() == '\n', "upstream bytes without a newline");
  codec::TextRequestParser memcached;  // memcached's default limits
  Request again;
  size_t consumed = 0;
  const codec::ParseStatus status = memcached.parse(wire, &again, &consumed);
  // Known limit: a key text cannot carry travels base64-encoded (meta b), and memcached checks
  // the 250-byte key limit on the encoded token, so such keys longer than 186 bytes cannot reach
  // it. memcached answers CLIENT_ERROR, which the client gets: refused cleanly, in step.
  const size_t first_space = wire.find(' ');
  const size_t key_end = wire.find_first_of(" \r", first_space + 1);
  if (status == codec::ParseStatus::kError && context.meta && !r.keys.empty() &&
      wire.find(" b", key_end) != std::string::npos && key_end - first_space - 1 > 250 &&
      memcached.errorReply() == "CLIENT_ERROR bad command line format\r\n") {
    return;
  }
  MCMESH_FUZZ_CHECK(status == codec::ParseStatus::kOk,
                    "memcached would refuse the %s request sent upstream as '%s': %s",
                    std::string(commandName(r.command)).c_str(), absl::CEscape(wire).c_str(),
                    memcached.errorReply().c_str());
  MCMESH_FUZZ_CHECK(consumed == wire.size(), "upstream bytes hold more than one command");
  MCMESH_FUZZ_CHECK(again.keys == r.keys, "keys changed on the way upstream");
  MCMESH_FUZZ_CHECK(again.value == r.value, "value changed on the way upstream");
  MCMESH_FUZZ_CHECK(!again.noreply && !again.meta.quiet, "upstream request asks for no reply");
  MCMESH_FUZZ_CHECK(context.meta == again.meta.meta, "reply context disagrees with the form");
  if (!context.meta) {
    MCMESH_FUZZ_CHECK(again.command == r.command, "command changed");
    MCMESH_FUZZ_CHECK(again.flags == r.flags, "flags changed");
    MCMESH_FUZZ_CHECK(again.exptime == r.exptime, "exptime %lld -> %lld",
                      static_cast<long long>(r.exptime), static_cast<long long>(again.exptime));
    MCMESH_FUZZ_CHECK(again.cas_unique == r.cas_unique, "cas changed");
    MCMESH_FUZZ_CHECK(again.delta == r.delta, "delta changed");
    // memcached splits arguments on spaces (runs of them count as one): compare the tokens.
    MCMESH_FUZZ_CHECK(argTokens(again.args) == argTokens(r.args), "args '%s' -> '%s'",
                      absl::CEscape(r.args).c_str(), absl::CEscape(again.args).c_str());
    return;
  }
  const bool concat = r.command == Command::kAppend || r.command == Command::kPrepend;
  if (isStorage(r.command)) {
    MCMESH_FUZZ_CHECK(again.command == r.command, "storage command %s -> %s",
                      std::string(commandName(r.command)).c_str(),
                      std::string(commandName(again.command)).c_str());
    if (!concat) {
      MCMESH_FUZZ_CHECK(again.flags == r.flags, "flags changed");
      MCMESH_FUZZ_CHECK(again.exptime == r.exptime, "exptime %lld -> %lld",
                        static_cast<long long>(r.exptime),
                        static_cast<long long>(again.exptime));
    }
  }
  if (isStorage(r.command) || r.command == Command::kDelete || r.command == Command::kIncr ||
      r.command == Command::kDecr) {
    MCMESH_FUZZ_CHECK(again.cas_unique == r.cas_unique, "cas %llu -> %llu",
                      static_cast<unsigned long long>(r.cas_unique),
                      static_cast<unsigned long long>(again.cas_unique));
  }
  if (r.command == Command::kIncr || r.command == Command::kDecr) {
    MCMESH_FUZZ_CHECK(again.command == r.command, "arithmetic direction changed");
    MCMESH_FUZZ_CHECK(again.delta == r.delta, "delta changed");
    MCMESH_FUZZ_CHECK(again.meta.vivify == r.meta.vivify, "vivify changed");
    if (r.meta.vivify) {
      MCMESH_FUZZ_CHECK(again.meta.initial == r.meta.initial, "initial value changed");
      MCMESH_FUZZ_CHECK(again.exptime == r.exptime, "vivify TTL changed");
    }
  }
  if (r.command == Command::kGat || r.command == Command::kGats ||
      r.command == Command::kTouch) {
    MCMESH_FUZZ_CHECK(again.exptime == r.exptime, "touch TTL %lld -> %lld",
                      static_cast<long long>(r.exptime), static_cast<long long>(again.exptime));
  }
}

// Replies a filter or upstream could produce for `r`.
inline std::vector<Response> cannedResponses(const Request& r) {
  std::vector<Response> out;
  Item item;
  item.key = r.keys.empty() ? std::string("k") : r.keys.front();
  item.flags = 7;
  item.cas = 42;
  item.value = "value\r\nwith CRLF";
  item.ttl = 30;
  item.meta_extra = "s16";
  Response hit = Response::ofType(ResponseType::kValues);
  for (const std::string& key : r.keys) {
    item.key = key;
    hit.items.push_back(item);
  }
  out.push_back(hit);
  out.push_back(Response::ofType(ResponseType::kValues));  // all misses
  for (ResponseType t : {ResponseType::kStored, ResponseType::kNotStored, ResponseType::kExists,
                         ResponseType::kNotFound, ResponseType::kDeleted, ResponseType::kTouched,
                         ResponseType::kOk, ResponseType::kError}) {
    out.push_back(Response::ofType(t));
  }
  Response stored_with_item = Response::ofType(ResponseType::kStored);
  stored_with_item.items.push_back(item);
  out.push_back(stored_with_item);
  Response number = Response::ofType(ResponseType::kNumber);
  number.text = "18446744073709551615";
  out.push_back(number);
  Response version = Response::ofType(ResponseType::kVersion);
  version.text = "1.6.18";
  out.push_back(version);
  Response stats = Response::ofType(ResponseType::kStats);
  stats.stats = {{"pid", "1"}, {"", "ITEM x [1 b; 0 s]"}, {"lonely", ""}};
  out.push_back(stats);
  Response debug = Response::ofType(ResponseType::kDebug);
  debug.text = "exp=-1 la=1 cas=2 fetch=no cls=1 size=63";
  out.push_back(debug);
  out.push_back(Response::serverError("out of memory"));
  Response client_error = Response::ofType(ResponseType::kClientError);
  client_error.text = "bad data chunk";
  out.push_back(client_error);
  out.push_back(Response::upstreamFailure("upstream 10.0.0.1:11211 timed out"));
  return out;
}

// Every canned reply encodes (nothing here may crash or read out of bounds); `check` looks at the
// bytes of each.
template <typename Check>
void encodeCannedResponses(const codec::ClientCodec& codec, const Request& r, Check check) {
  for (const Response& response : cannedResponses(r)) {
    std::string out;
    codec.encode(r, response, &out);
    check(response, out);
  }
}

// Plays `in` to a client codec as one connection would receive it: the header byte's low 3 bits
// say how many chunk sizes follow (1-256 bytes each), the rest of the input is the byte stream,
// fed in those chunks (the remainder in one). Checks progress and that the codec never holds more
// than `held_bound` bytes while waiting; calls on_request(request) for each parsed request and
// on_error() after each error reply. Stops when the codec says the connection closes.
template <typename OnRequest, typename OnError>
void playClientStream(uint8_t header, FuzzInput& in, codec::ClientCodec& codec,
                      size_t held_bound, OnRequest on_request, OnError on_error) {
  size_t splits[7];
  const size_t split_count = header & 7;
  for (size_t i = 0; i < split_count; ++i) splits[i] = size_t{in.takeByte()} + 1;
  const absl::string_view stream = in.rest();
  std::string buffer;  // The connection's unconsumed bytes.
  Request request;
  size_t offset = 0;
  for (size_t chunk = 0; offset < stream.size(); ++chunk) {
    const size_t n = std::min(chunk < split_count ? splits[chunk] : stream.size() - offset,
                              stream.size() - offset);
    buffer.append(stream.data() + offset, n);
    offset += n;
    for (;;) {
      size_t consumed = 0;
      const codec::ParseStatus status = codec.parse(buffer, &request, &consumed);
      MCMESH_FUZZ_CHECK(consumed <= buffer.size(), "consumed %zu of %zu", consumed,
                        buffer.size());
      buffer.erase(0, consumed);
      if (status == codec::ParseStatus::kNeedMore) {
        MCMESH_FUZZ_CHECK(buffer.size() <= held_bound, "holding %zu bytes while waiting for more",
                          buffer.size());
        break;
      }
      MCMESH_FUZZ_CHECK(consumed > 0, "no progress on a complete request");
      if (status == codec::ParseStatus::kOk) {
        on_request(request);
        continue;
      }
      on_error();
      if (codec.shouldClose()) return;  // The connection is closed: nothing more is read.
    }
  }
}

}  // namespace mcmesh::fuzz
