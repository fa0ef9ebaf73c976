// makeClientCodec: a connection's protocol, chosen once from its first byte.
#include "filters/decode/client_codec.h"

#include "filters/decode/binary_codec.h"
#include "filters/decode/text_codec.h"

namespace mcmesh::decode {

ClientCodecPtr makeClientCodec(uint8_t first_byte, const ParseLimits& limits) {
  if (first_byte == kBinaryRequestMagic) return std::make_unique<BinaryClientCodec>(limits);
  return std::make_unique<TextClientCodec>(limits);
}

}  // namespace mcmesh::decode
