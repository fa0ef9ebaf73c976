// Fuzzes the binary client codec (BinaryClientCodec) as a connection drives it: arbitrary frames
// in arbitrary chunks through one codec.
//  - never crash, never read out of bounds (ASan), no UB (UBSan);
//  - bounded memory: while the codec waits for more, the connection holds at most one header,
//    key, extras and value within the limits; consumed never exceeds the buffer;
//  - every parsed request reaches memcached (encodeRequest) as a valid command with the same
//    key, value and fields (fuzz/codec_checks.h);
//  - every reply the proxy could send for it is a sequence of well-formed binary reply frames
//    (magic 0x81, lengths adding up) echoing the request's opaque.
//
// Input layout as in text_request_fuzzer: byte 0 bits 0-2 splits, bit 3 tiny limits, one byte per
// split, then the client's bytes.
#include <algorithm>
#include <string>

#include "codec/binary_codec.h"
#include "fuzz/codec_checks.h"
#include "fuzz/fuzz_input.h"

namespace {

using mcmesh::Request;
using mcmesh::Response;
using mcmesh::codec::ParseLimits;
namespace binary = mcmesh::codec::binary;

ParseLimits limitsFor(bool tiny) {
  ParseLimits limits;
  if (tiny) {
    limits.max_key_length = 8;
    limits.max_value_bytes = 16;
  }
  return limits;
}

uint64_t readBig(absl::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[offset + i]);
  return value;
}

// `out` must be whole reply frames; each one's opaque must be `opaque`.
void checkReplyFrames(absl::string_view out, uint32_t opaque) {
  while (!out.empty()) {
    MCMESH_FUZZ_CHECK(out.size() >= binary::kHeaderSize, "truncated reply header");
    MCMESH_FUZZ_CHECK(static_cast<uint8_t>(out[0]) == binary::kResponseMagic, "bad reply magic");
    const uint64_t key_length = readBig(out, 2, 2);
    const uint64_t extras_length = static_cast<uint8_t>(out[4]);
    const uint64_t body = readBig(out, 8, 4);
    MCMESH_FUZZ_CHECK(key_length + extras_length <= body, "reply key+extras exceed its body");
    MCMESH_FUZZ_CHECK(readBig(out, 12, 4) == opaque, "reply opaque is not the request's");
    MCMESH_FUZZ_CHECK(out.size() >= binary::kHeaderSize + body, "truncated reply body");
    out.remove_prefix(binary::kHeaderSize + body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcmesh::fuzz::FuzzInput in(data, size);
  const uint8_t header = in.takeByte();
  const ParseLimits limits = limitsFor((header & 8) != 0);
  // Header, extras (at most 255) and key, plus a value within the limit.
  const size_t bound = binary::kHeaderSize + 255 + limits.max_key_length + limits.max_value_bytes;
  mcmesh::codec::BinaryClientCodec codec(limits);
  mcmesh::fuzz::playClientStream(
      header, in, codec, bound,
      [&](const Request& request) {
        mcmesh::fuzz::checkRequestShape(request, limits);
        mcmesh::fuzz::checkUpstreamRoundTrip(request);
        const uint32_t opaque = request.meta.binary_opaque;
        mcmesh::fuzz::encodeCannedResponses(
            codec, request,
            [opaque](const Response&, const std::string& out) { checkReplyFrames(out, opaque); });
      },
      [&] {
        const std::string& error = codec.errorReply();
        checkReplyFrames(error, static_cast<uint32_t>(error.size() >= 16 ? readBig(error, 12, 4)
                                                                         : 0));
      });
  return 0;
}
