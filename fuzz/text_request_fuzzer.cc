// Fuzzes the text (and meta) client codec the way a client connection drives it: arbitrary bytes
// arriving in arbitrary chunks, parsed from one growing buffer by one TextClientCodec.
//  - never crash, never read out of bounds (ASan), no UB (UBSan);
//  - bounded memory: while the codec waits for more, the connection holds at most one line plus
//    one value (the limits), and consumed never exceeds the buffer;
//  - every parsed request re-encodes (encodeRequest) into bytes memcached accepts as the same
//    request: exactly in text form, the same data in meta form (fuzz/codec_checks.h);
//  - every reply the proxy could send for it encodes into complete lines.
//
// Input layout: byte 0 bits 0-2: number of chunk splits (0..7), bit 3: tiny limits (so the limit
// paths are reachable with small inputs); then one byte per split (chunk length - 1); the rest
// is the client's byte stream.
#include <algorithm>
#include <string>

#include "codec/text_codec.h"
#include "fuzz/codec_checks.h"
#include "fuzz/fuzz_input.h"

namespace {

using mcmesh::Request;
using mcmesh::Response;
using mcmesh::codec::ParseLimits;

ParseLimits limitsFor(bool tiny) {
  ParseLimits limits;
  if (tiny) {
    limits.max_key_length = 8;
    limits.max_value_bytes = 16;
    limits.max_line_bytes = 48;
    limits.max_keys_per_get = 3;
  }
  return limits;
}

// Most bytes a connection may have to hold while the codec says kNeedMore: an unfinished get
// line (which may be long) or a whole storage command waiting for its data block.
size_t bufferBound(const ParseLimits& l) {
  const size_t get_line = l.max_line_bytes + l.max_keys_per_get * (l.max_key_length + 1);
  const size_t storage = l.max_line_bytes + 2 + l.max_value_bytes + 2;
  return std::max(get_line, storage);
}

bool endsWithCrlf(const std::string& s) {
  return s.size() >= 2 && s.compare(s.size() - 2, 2, "\r\n") == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcmesh::fuzz::FuzzInput in(data, size);
  const uint8_t header = in.takeByte();
  const ParseLimits limits = limitsFor((header & 8) != 0);
  mcmesh::codec::TextClientCodec codec(limits);
  mcmesh::fuzz::playClientStream(
      header, in, codec, bufferBound(limits),
      [&](const Request& request) {
        mcmesh::fuzz::checkRequestShape(request, limits);
        mcmesh::fuzz::checkUpstreamRoundTrip(request);
        mcmesh::fuzz::encodeCannedResponses(
            codec, request, [](const Response&, const std::string& out) {
              MCMESH_FUZZ_CHECK(out.empty() || endsWithCrlf(out), "reply without CRLF");
            });
      },
      [&] {
        MCMESH_FUZZ_CHECK(codec.errorReply().empty() || endsWithCrlf(codec.errorReply()),
                          "error reply without CRLF");
      });
  return 0;
}
