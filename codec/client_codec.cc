// makeClientCodec: a connection's protocol, chosen once from its first byte.
#include "codec/client_codec.h"

#include "codec/binary_codec.h"
#include "codec/text_codec.h"

namespace mcmesh::codec {

ClientCodecPtr makeClientCodec(uint8_t first_byte, const ParseLimits& limits) {
  if (first_byte == kBinaryRequestMagic) return std::make_unique<BinaryClientCodec>(limits);
  return std::make_unique<TextClientCodec>(limits);
}

}  // namespace mcmesh::codec
