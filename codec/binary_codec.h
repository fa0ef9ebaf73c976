// The memcached binary protocol, client side: request frames -> Request, Response -> reply frames.
//
// Behaviour follows memcached 1.6.18 (proto_bin.c), checked against the real server: the same
// header validation (a malformed frame is answered "Invalid arguments" and closes the
// connection, as memcached does), the same status codes and error texts, the same quiet rules.
// Differences, all deliberate:
//  - an unknown opcode (including verbosity and SASL, which memcached also refuses) is answered
//    0x0081 and exactly its body is skipped; memcached 1.6.18 skips the wrong number of bytes and
//    loses the next frame;
//  - a value over ParseLimits::max_value_bytes is refused locally (0x0003) without deleting the
//    stored item, as the text codec does;
//  - upstream failures (timeouts, ejected servers) answer 0x0086 "temporary failure" with the
//    reason as the body.
#pragma once

#include <cstdint>
#include <string>

#include "codec/client_codec.h"

namespace mcmesh::codec {
namespace binary {

inline constexpr uint8_t kRequestMagic = 0x80;
inline constexpr uint8_t kResponseMagic = 0x81;
inline constexpr size_t kHeaderSize = 24;

// Opcodes (memcached's protocol_binary.h).
enum Opcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kVerbosity = 0x1b,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

// Reply status codes.
enum Status : uint16_t {
  kSuccess = 0x0000,
  kKeyNotFound = 0x0001,
  kKeyExists = 0x0002,
  kTooLarge = 0x0003,
  kInvalidArguments = 0x0004,
  kNotStored = 0x0005,
  kNonNumeric = 0x0006,
  kUnknownCommand = 0x0081,
  kOutOfMemory = 0x0082,
  kTemporaryFailure = 0x0086,
};

/** Appends a reply header (all multi-byte fields in network order). */
void appendHeader(uint8_t opcode, uint16_t status, uint16_t key_length, uint8_t extras_length,
                  uint32_t body_length, uint32_t opaque, uint64_t cas, std::string* out);

}  // namespace binary

// One per binary client connection; keeps state across reads (a refused frame's body to skip).
class BinaryClientCodec : public ClientCodec {
 public:
  explicit BinaryClientCodec(ParseLimits limits = {}) : limits_(limits) {}

  ParseStatus parse(absl::string_view input, Request* request, size_t* consumed) override;
  void encode(const Request& request, const Response& response, std::string* out) const override;
  const std::string& errorReply() const override { return error_.reply; }
  bool shouldClose() const override { return error_.close; }
  ErrorKind errorKind() const override { return error_.kind; }

 private:
  ParseStatus fail(uint8_t opcode, uint16_t status, uint32_t opaque, bool close);

  const ParseLimits limits_;
  ParseErrorState error_;  // the last kError, and a refused value still being swallowed.
};

}  // namespace mcmesh::codec
