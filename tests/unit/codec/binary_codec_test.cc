// BinaryClientCodec: every opcode decoded, every split point, malformed frames, and the exact reply
// frames memcached 1.6.18 sends (checked against the real server).
#include <string>
#include <vector>

#include "codec/binary_codec.h"
#include "codec/text_codec.h"
#include "gtest/gtest.h"
#include "tests/unit/codec/codec_test_util.h"

namespace mcmesh::codec {
namespace {

using namespace binary;  // NOLINT: the protocol's constants.

constexpr uint32_t kOpaque = 0xdeadbeef;

void big(uint64_t value, int bytes, std::string* out) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

std::string be32(uint32_t v) {
  std::string s;
  big(v, 4, &s);
  return s;
}

std::string be64(uint64_t v) {
  std::string s;
  big(v, 8, &s);
  return s;
}

// A request frame; lengths may be overridden to build malformed frames.
std::string frame(uint8_t opcode, std::string key = "", std::string extras = "",
                  std::string value = "", uint64_t cas = 0, uint32_t opaque = kOpaque,
                  int key_length = -1, int body_length = -1, uint8_t magic = kRequestMagic) {
  std::string f;
  f.push_back(static_cast<char>(magic));
  f.push_back(static_cast<char>(opcode));
  big(key_length >= 0 ? key_length : key.size(), 2, &f);
  f.push_back(static_cast<char>(extras.size()));
  f.push_back(0);
  big(0, 2, &f);
  big(body_length >= 0 ? body_length : key.size() + extras.size() + value.size(), 4, &f);
  big(opaque, 4, &f);
  big(cas, 8, &f);
  return f + extras + key + value;
}

// A reply frame as memcached writes it.
std::string replyFrame(uint8_t opcode, uint16_t status, std::string key = "",
                       std::string extras = "", std::string value = "", uint64_t cas = 0,
                       uint32_t opaque = kOpaque) {
  std::string f;
  appendHeader(opcode, status, static_cast<uint16_t>(key.size()),
               static_cast<uint8_t>(extras.size()),
               static_cast<uint32_t>(key.size() + extras.size() + value.size()), opaque, cas, &f);
  return f + extras + key + value;
}

std::string errorFrame(uint8_t opcode, uint16_t status, absl::string_view text) {
  return replyFrame(opcode, status, "", "", std::string(text));
}

Request binaryRequest(uint8_t opcode, Command command, std::vector<std::string> keys,
                      bool quiet = false) {
  Request r;
  r.command = command;
  r.keys = std::move(keys);
  r.meta.opcode = opcode;
  r.meta.binary_opaque = kOpaque;
  r.meta.quiet = quiet;
  return r;
}

struct Case {
  std::string wire;
  Request expected;
};

std::vector<Case> allOpcodes() {
  std::vector<Case> c;
  const std::pair<uint8_t, bool> gets[] = {{kGet, false}, {kGetQ, true}, {kGetK, false},
                                           {kGetKQ, true}};
  for (const auto& [op, quiet] : gets) {
    c.push_back({frame(op, "key"), binaryRequest(op, Command::kGets, {"key"}, quiet)});
  }
  const std::tuple<uint8_t, Command, bool> stores[] = {
      {kSet, Command::kSet, false},         {kSetQ, Command::kSet, true},
      {kAdd, Command::kAdd, false},         {kAddQ, Command::kAdd, true},
      {kReplace, Command::kReplace, false}, {kReplaceQ, Command::kReplace, true}};
  for (const auto& [op, command, quiet] : stores) {
    Request r = binaryRequest(op, command, {"k"}, quiet);
    r.flags = 0x12345678;
    r.exptime = 3600;
    r.value = std::string("v\0\r\n", 4);
    r.meta.return_cas = true;
    c.push_back({frame(op, "k", be32(0x12345678) + be32(3600), r.value), r});
    // With a cas, any of them stores only over that exact item (memcached's rule).
    Request with_cas = r;
    with_cas.command = Command::kCas;
    with_cas.cas_unique = 77;
    c.push_back({frame(op, "k", be32(0x12345678) + be32(3600), r.value, 77), with_cas});
  }
  const std::tuple<uint8_t, Command, bool> concat[] = {{kAppend, Command::kAppend, false},
                                                       {kAppendQ, Command::kAppend, true},
                                                       {kPrepend, Command::kPrepend, false},
                                                       {kPrependQ, Command::kPrepend, true}};
  for (const auto& [op, command, quiet] : concat) {
    Request r = binaryRequest(op, command, {"k"}, quiet);
    r.value = "xy";
    r.cas_unique = 5;
    r.meta.return_cas = true;
    c.push_back({frame(op, "k", "", "xy", 5), r});
  }
  for (const auto& [op, quiet] : {std::pair<uint8_t, bool>{kDelete, false}, {kDeleteQ, true}}) {
    Request r = binaryRequest(op, Command::kDelete, {"k"}, quiet);
    r.cas_unique = 9;
    c.push_back({frame(op, "k", "", "", 9), r});
  }
  const std::tuple<uint8_t, Command, bool> arith[] = {{kIncrement, Command::kIncr, false},
                                                      {kIncrementQ, Command::kIncr, true},
                                                      {kDecrement, Command::kDecr, false},
                                                      {kDecrementQ, Command::kDecr, true}};
  for (const auto& [op, command, quiet] : arith) {
    Request r = binaryRequest(op, command, {"n"}, quiet);
    r.delta = 3;
    r.exptime = 60;
    r.meta.vivify = true;
    r.meta.initial = 10;
    r.meta.return_cas = true;
    c.push_back({frame(op, "n", be64(3) + be64(10) + be32(60)), r});
    // Expiration 0xffffffff: a miss stays a miss.
    Request no_create = r;
    no_create.meta.vivify = false;
    no_create.exptime = 0;
    c.push_back({frame(op, "n", be64(3) + be64(10) + be32(0xffffffff)), no_create});
  }
  c.push_back({frame(kQuit), binaryRequest(kQuit, Command::kQuit, {})});
  c.push_back({frame(kQuitQ), binaryRequest(kQuitQ, Command::kQuit, {}, true)});
  c.push_back({frame(kNoop), binaryRequest(kNoop, Command::kNoop, {})});
  c.push_back({frame(kVersion), binaryRequest(kVersion, Command::kVersion, {})});
  c.push_back({frame(kFlush), binaryRequest(kFlush, Command::kFlushAll, {})});
  c.push_back({frame(kFlushQ, "", be32(0)), binaryRequest(kFlushQ, Command::kFlushAll, {}, true)});
  Request delayed = binaryRequest(kFlush, Command::kFlushAll, {});
  delayed.args = "30";
  c.push_back({frame(kFlush, "", be32(30)), delayed});
  c.push_back({frame(kStat), binaryRequest(kStat, Command::kStats, {})});
  Request group = binaryRequest(kStat, Command::kStats, {});
  group.args = "servers";
  c.push_back({frame(kStat, "servers"), group});
  Request touch = binaryRequest(kTouch, Command::kTouch, {"k"});
  touch.exptime = 100;
  touch.meta.return_cas = true;
  c.push_back({frame(kTouch, "k", be32(100)), touch});
  const std::pair<uint8_t, bool> gats[] = {{kGat, false}, {kGatQ, true}, {kGatK, false},
                                           {kGatKQ, true}};
  for (const auto& [op, quiet] : gats) {
    Request r = binaryRequest(op, Command::kGats, {"k"}, quiet);
    r.exptime = 100;
    c.push_back({frame(op, "k", be32(100)), r});
  }
  // Keys are bytes: spaces, newlines and NULs are fine in the binary protocol.
  c.push_back({frame(kGet, std::string("a b\r\n\0", 6)),
               binaryRequest(kGet, Command::kGets, {std::string("a b\r\n\0", 6)})});
  c.push_back({frame(kGet, std::string(250, 'k')),
               binaryRequest(kGet, Command::kGets, {std::string(250, 'k')})});
  return c;
}

struct Parsed {
  ParseStatus status;
  Request request;
  size_t consumed = 0;
};

Parsed parseOnce(BinaryClientCodec& codec, absl::string_view input) {
  Parsed p;
  p.status = codec.parse(input, &p.request, &p.consumed);
  return p;
}

TEST(BinaryCodecTest, DecodesEveryOpcode) {
  for (const Case& c : allOpcodes()) {
    SCOPED_TRACE(static_cast<int>(c.expected.meta.opcode));
    BinaryClientCodec codec;
    Parsed p = parseOnce(codec, c.wire);
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(p.consumed, c.wire.size());
    expectSameRequest(c.expected, p.request);
  }
}

TEST(BinaryCodecTest, EverySplitPointGivesTheSameRequest) {
  for (const Case& c : allOpcodes()) {
    for (size_t cut = 0; cut < c.wire.size(); ++cut) {
      SCOPED_TRACE(std::to_string(c.expected.meta.opcode) + " cut at " + std::to_string(cut));
      BinaryClientCodec codec;
      Parsed first = parseOnce(codec, absl::string_view(c.wire).substr(0, cut));
      EXPECT_EQ(first.status, ParseStatus::kNeedMore);
      EXPECT_EQ(first.consumed, 0u);
      Parsed second = parseOnce(codec, c.wire);
      ASSERT_EQ(second.status, ParseStatus::kOk);
      EXPECT_EQ(second.consumed, c.wire.size());
      expectSameRequest(c.expected, second.request);
    }
  }
}

TEST(BinaryCodecTest, ByteAtATimePipeline) {
  const std::vector<Case> cases = allOpcodes();
  std::string wire;
  for (const Case& c : cases) wire += c.wire;
  BinaryClientCodec codec;
  std::string buffer;
  size_t next = 0;
  for (char byte : wire) {
    buffer.push_back(byte);
    Request request;
    size_t consumed = 0;
    const ParseStatus status = codec.parse(buffer, &request, &consumed);
    buffer.erase(0, consumed);
    if (status == ParseStatus::kOk) {
      ASSERT_LT(next, cases.size());
      expectSameRequest(cases[next].expected, request);
      ++next;
    } else {
      ASSERT_EQ(status, ParseStatus::kNeedMore);
    }
  }
  EXPECT_EQ(next, cases.size());
  EXPECT_TRUE(buffer.empty());
}

// --- Malformed frames ---

void expectClosingError(const std::string& wire, const std::string& reply) {
  BinaryClientCodec codec;
  Parsed p = parseOnce(codec, wire + frame(kNoop));
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(codec.errorReply(), reply);
  EXPECT_TRUE(codec.shouldClose());
}

TEST(BinaryCodecErrorTest, BadMagicClosesWithoutAReply) {
  BinaryClientCodec codec;
  Parsed p = parseOnce(codec, frame(kNoop, "", "", "", 0, kOpaque, -1, -1, 0x81));
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(codec.errorReply(), "");
  EXPECT_TRUE(codec.shouldClose());
}

TEST(BinaryCodecErrorTest, KeyLongerThan250IsInvalidAndCloses) {
  expectClosingError(frame(kGet, std::string(251, 'k')),
                     errorFrame(kGet, kInvalidArguments, "Invalid arguments"));
}

TEST(BinaryCodecErrorTest, LengthsThatDoNotFitTheBodyClose) {
  expectClosingError(frame(kGet, "abc", "", "", 0, kOpaque, 3, 2),
                     errorFrame(kGet, kUnknownCommand, "Unknown command"));
  expectClosingError(frame(kSet, "k", be32(0) + be32(0), "", 0, kOpaque, 1, 4),
                     errorFrame(kSet, kUnknownCommand, "Unknown command"));
}

TEST(BinaryCodecErrorTest, WrongExtrasOrKeyForTheOpcodeIsInvalidAndCloses) {
  const std::pair<std::string, uint8_t> cases[] = {
      {frame(kGet, "k", "abcd"), kGet},
      {frame(kGet, ""), kGet},
      {frame(kGetK, "k", "", "v"), kGetK},
      {frame(kSet, "k", "", "v"), kSet},
      {frame(kSet, "", be32(0) + be32(0), "v"), kSet},
      {frame(kAdd, "k", be32(0)), kAdd},
      {frame(kAppend, "k", be32(0) + be32(0), "v"), kAppend},
      {frame(kPrepend, "", "", "v"), kPrepend},
      {frame(kDelete, "k", "abcd"), kDelete},
      {frame(kDelete, "k", "", "v"), kDelete},
      {frame(kIncrement, "", be64(1) + be64(0) + be32(0)), kIncrement},
      {frame(kDecrement, "n", be64(1)), kDecrement},
      {frame(kQuit, "k"), kQuit},
      {frame(kNoop, "k"), kNoop},
      {frame(kVersion, "", "", "v"), kVersion},
      {frame(kFlush, "", "12345678"), kFlush},
      {frame(kFlush, "k"), kFlush},
      {frame(kStat, "", "abcd"), kStat},
      {frame(kTouch, "k"), kTouch},
      {frame(kGat, "", be32(1)), kGat},
  };
  for (const auto& [wire, op] : cases) {
    SCOPED_TRACE(static_cast<int>(op));
    expectClosingError(wire, errorFrame(op, kInvalidArguments, "Invalid arguments"));
  }
}

TEST(BinaryCodecErrorTest, UnknownOpcodeIsRefusedAndExactlyItsBodySkipped) {
  // Verbosity and SASL are refused too, as memcached does; the body may arrive later.
  for (uint8_t op : {uint8_t{0x55}, uint8_t{kVerbosity}, uint8_t{0x20}}) {
    SCOPED_TRACE(static_cast<int>(op));
    BinaryClientCodec codec;
    const std::string unknown = frame(op, "k", "", "body");
    Parsed p = parseOnce(codec, unknown.substr(0, 26));
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(codec.errorReply(), errorFrame(op, kUnknownCommand, "Unknown command"));
    EXPECT_FALSE(codec.shouldClose());
    EXPECT_EQ(p.consumed, 26u);
    const std::string rest = unknown.substr(26) + frame(kNoop);
    Parsed skip = parseOnce(codec, rest.substr(0, 2));
    EXPECT_EQ(skip.status, ParseStatus::kNeedMore);
    EXPECT_EQ(skip.consumed, 2u);
    Parsed next = parseOnce(codec, rest.substr(2));
    ASSERT_EQ(next.status, ParseStatus::kOk);
    EXPECT_EQ(next.request.command, Command::kNoop);
    EXPECT_EQ(next.consumed, rest.size() - 2);
  }
}

TEST(BinaryCodecErrorTest, TooLargeValueIsRefusedAndSwallowedWithoutClosing) {
  ParseLimits limits;
  limits.max_value_bytes = 8;
  BinaryClientCodec codec(limits);
  const std::string big_set = frame(kSetQ, "k", be32(0) + be32(0), std::string(9, 'x'));
  Parsed p = parseOnce(codec, big_set.substr(0, 30));
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(codec.errorReply(), errorFrame(kSetQ, kTooLarge, "Too large."));  // Even when quiet.
  // Typed, so the connection counts values_too_large for binary clients too.
  EXPECT_EQ(static_cast<int>(codec.errorKind()), static_cast<int>(ErrorKind::kTooLarge));
  EXPECT_FALSE(codec.shouldClose());
  const std::string rest = big_set.substr(30) + frame(kNoop);
  Parsed next = parseOnce(codec, rest);
  ASSERT_EQ(next.status, ParseStatus::kOk);
  EXPECT_EQ(next.request.command, Command::kNoop);
  EXPECT_EQ(next.consumed, rest.size());
  // Exactly the limit is fine.
  BinaryClientCodec ok(limits);
  EXPECT_EQ(parseOnce(ok, frame(kSet, "k", be32(0) + be32(0), std::string(8, 'x'))).status,
            ParseStatus::kOk);
}

// --- Replies ---

std::string encode(const Request& request, const Response& response) {
  BinaryClientCodec codec;
  std::string out;
  codec.encode(request, response, &out);
  return out;
}

Response withItem(ResponseType type, Item item, std::string text = "") {
  Response r = typed(type, std::move(text));
  r.items.push_back(std::move(item));
  return r;
}

// Found by //fuzz:binary_request_fuzzer: a stat key is sent upstream as the argument of a text
// "stats" line, so a newline in it ended that line and smuggled a second command (here
// flush_all) to every memcached. Such keys are refused as memcached refuses unknown stats groups.
TEST(BinaryCodecErrorTest, StatKeyWithANewlineIsRefusedNotForwarded) {
  for (const std::string key : {"items\r\nflush_all", "a\nb", "x\r"}) {
    SCOPED_TRACE(key);
    BinaryClientCodec codec;
    Parsed p = parseOnce(codec, frame(kStat, key) + frame(kNoop));
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(codec.errorReply(), errorFrame(kStat, kKeyNotFound, "Not found"));
    EXPECT_FALSE(codec.shouldClose());
    EXPECT_EQ(p.consumed, kHeaderSize + key.size());
    Parsed next = parseOnce(codec, frame(kNoop));
    ASSERT_EQ(next.status, ParseStatus::kOk);
    EXPECT_EQ(next.request.command, Command::kNoop);
  }
  BinaryClientCodec codec;
  Parsed detail = parseOnce(codec, frame(kStat, "detail dump"));  // spaces are fine
  ASSERT_EQ(detail.status, ParseStatus::kOk);
  EXPECT_EQ(detail.request.args, "detail dump");
}

// Found by //fuzz:binary_request_fuzzer: binary expirations are unsigned 32-bit, but the text and
// meta commands that carry them to memcached take a signed 32-bit time, and memcached refused the
// forwarded command ("CLIENT_ERROR bad token in command line format"). Above INT32_MAX they are
// absolute times past 2038; they now travel as INT32_MAX, the same far future.
TEST(BinaryCodecTest, ExpirationsAboveInt32MaxReachMemcachedAsTheLargestTextTime) {
  const std::string cases[] = {
      frame(kSet, "k", be32(0) + be32(0xffffffffu), "v"),
      frame(kSetQ, "\xff", be32(1) + be32(0x80000000u), "v", 281474976710655ull),
      frame(kTouch, "k", be32(0xfffffff0u)),
      frame(kGat, "k", be32(0x80000000u)),
      frame(kIncrement, "n", be64(1) + be64(5) + be32(0xfffffffeu)),
      frame(kFlush, "", be32(0xffffffffu)),
  };
  for (const std::string& wire : cases) {
    SCOPED_TRACE(static_cast<int>(wire[1]));
    BinaryClientCodec codec;
    Parsed p = parseOnce(codec, wire);
    ASSERT_EQ(p.status, ParseStatus::kOk);
    if (p.request.command == Command::kFlushAll) {
      EXPECT_EQ(p.request.args, "2147483647");
    } else {
      EXPECT_EQ(p.request.exptime, 2147483647);
    }
    std::string upstream;
    encodeRequest(p.request, &upstream);
    TextRequestParser memcached;
    Request forwarded;
    size_t consumed = 0;
    ASSERT_EQ(memcached.parse(upstream, &forwarded, &consumed), ParseStatus::kOk)
        << upstream << " -> " << memcached.errorReply();
    EXPECT_EQ(consumed, upstream.size());
    EXPECT_EQ(forwarded.exptime, p.request.command == Command::kFlushAll ? 0 : 2147483647);
  }
}

TEST(BinaryCodecReplyTest, Retrievals) {
  const Response hit = withItem(ResponseType::kValues, makeItem("key", 0x12345678, "hello", 42));
  const Response miss = Response::ofType(ResponseType::kValues);
  const Request get = binaryRequest(kGet, Command::kGets, {"key"});
  EXPECT_EQ(encode(get, hit), replyFrame(kGet, kSuccess, "", be32(0x12345678), "hello", 42));
  EXPECT_EQ(encode(get, miss), errorFrame(kGet, kKeyNotFound, "Not found"));
  const Request getk = binaryRequest(kGetK, Command::kGets, {"key"});
  EXPECT_EQ(encode(getk, hit), replyFrame(kGetK, kSuccess, "key", be32(0x12345678), "hello", 42));
  EXPECT_EQ(encode(getk, miss), replyFrame(kGetK, kKeyNotFound, "key"));  // Key, no text.
  const Request getq = binaryRequest(kGetQ, Command::kGets, {"key"}, true);
  EXPECT_EQ(encode(getq, miss), "");
  EXPECT_EQ(encode(getq, hit), replyFrame(kGetQ, kSuccess, "", be32(0x12345678), "hello", 42));
  const Request getkq = binaryRequest(kGetKQ, Command::kGets, {"key"}, true);
  EXPECT_EQ(encode(getkq, miss), "");
  EXPECT_EQ(encode(getkq, hit), replyFrame(kGetKQ, kSuccess, "key", be32(0x12345678), "hello", 42));
  const Request gat = binaryRequest(kGat, Command::kGats, {"key"});
  EXPECT_EQ(encode(gat, hit), replyFrame(kGat, kSuccess, "", be32(0x12345678), "hello", 42));
  const Request gatk = binaryRequest(kGatK, Command::kGats, {"key"});
  EXPECT_EQ(encode(gatk, miss), replyFrame(kGatK, kKeyNotFound, "key"));
  EXPECT_EQ(encode(binaryRequest(kGatQ, Command::kGats, {"key"}, true), miss), "");
  EXPECT_EQ(encode(binaryRequest(kGatKQ, Command::kGats, {"key"}, true), miss), "");
  // Errors answer even a quiet get.
  EXPECT_EQ(encode(getq, Response::upstreamFailure("server 10.0.0.1:11211 is down")),
            errorFrame(kGetQ, kTemporaryFailure, "server 10.0.0.1:11211 is down"));
}

TEST(BinaryCodecReplyTest, TouchReportsFlagsAndCas) {
  const Request touch = binaryRequest(kTouch, Command::kTouch, {"k"});
  EXPECT_EQ(encode(touch, withItem(ResponseType::kTouched, makeItem("k", 7, "", 99))),
            replyFrame(kTouch, kSuccess, "", be32(7), "", 99));
  EXPECT_EQ(encode(touch, typed(ResponseType::kNotFound)),
            errorFrame(kTouch, kKeyNotFound, "Not found"));
}

TEST(BinaryCodecReplyTest, StorageStatusesFollowMemcached) {
  const Response stored = withItem(ResponseType::kStored, makeItem("", 0, "", 1234));
  for (uint8_t op : {kSet, kAdd, kReplace, kAppend, kPrepend}) {
    EXPECT_EQ(encode(binaryRequest(op, Command::kSet, {"k"}), stored),
              replyFrame(op, kSuccess, "", "", "", 1234));
  }
  for (uint8_t op : {kSetQ, kAddQ, kReplaceQ, kAppendQ, kPrependQ}) {
    EXPECT_EQ(encode(binaryRequest(op, Command::kSet, {"k"}, true), stored), "");
  }
  const Response not_stored = typed(ResponseType::kNotStored);
  EXPECT_EQ(encode(binaryRequest(kAdd, Command::kAdd, {"k"}), not_stored),
            errorFrame(kAdd, kKeyExists, "Data exists for key."));
  EXPECT_EQ(encode(binaryRequest(kAddQ, Command::kAdd, {"k"}, true), not_stored),
            errorFrame(kAddQ, kKeyExists, "Data exists for key."));
  EXPECT_EQ(encode(binaryRequest(kReplace, Command::kReplace, {"k"}), not_stored),
            errorFrame(kReplace, kKeyNotFound, "Not found"));
  EXPECT_EQ(encode(binaryRequest(kAppend, Command::kAppend, {"k"}), not_stored),
            errorFrame(kAppend, kNotStored, "Not stored."));
  EXPECT_EQ(encode(binaryRequest(kSet, Command::kCas, {"k"}), typed(ResponseType::kExists)),
            errorFrame(kSet, kKeyExists, "Data exists for key."));
  EXPECT_EQ(encode(binaryRequest(kAdd, Command::kCas, {"k"}), typed(ResponseType::kNotFound)),
            errorFrame(kAdd, kKeyNotFound, "Not found"));
  EXPECT_EQ(encode(binaryRequest(kSet, Command::kSet, {"k"}),
                   typed(ResponseType::kServerError, "object too large for cache")),
            errorFrame(kSet, kTooLarge, "Too large."));
  EXPECT_EQ(encode(binaryRequest(kSet, Command::kSet, {"k"}),
                   typed(ResponseType::kServerError, "out of memory storing object")),
            errorFrame(kSet, kOutOfMemory, "Out of memory"));
}

TEST(BinaryCodecReplyTest, DeleteAndArithmetic) {
  EXPECT_EQ(encode(binaryRequest(kDelete, Command::kDelete, {"k"}), typed(ResponseType::kDeleted)),
            replyFrame(kDelete, kSuccess));
  EXPECT_EQ(encode(binaryRequest(kDeleteQ, Command::kDelete, {"k"}, true),
                   typed(ResponseType::kDeleted)),
            "");
  EXPECT_EQ(encode(binaryRequest(kDeleteQ, Command::kDelete, {"k"}, true),
                   typed(ResponseType::kNotFound)),
            errorFrame(kDeleteQ, kKeyNotFound, "Not found"));
  EXPECT_EQ(encode(binaryRequest(kDelete, Command::kDelete, {"k"}), typed(ResponseType::kExists)),
            errorFrame(kDelete, kKeyExists, "Data exists for key."));
  const Response number = withItem(ResponseType::kNumber, makeItem("", 0, "", 8), "18446744073709551615");
  EXPECT_EQ(encode(binaryRequest(kIncrement, Command::kIncr, {"n"}), number),
            replyFrame(kIncrement, kSuccess, "", "", be64(18446744073709551615u), 8));
  EXPECT_EQ(encode(binaryRequest(kDecrementQ, Command::kDecr, {"n"}, true), number), "");
  EXPECT_EQ(encode(binaryRequest(kIncrement, Command::kIncr, {"n"}),
                   typed(ResponseType::kClientError,
                         "cannot increment or decrement non-numeric value")),
            errorFrame(kIncrement, kNonNumeric, "Non-numeric server-side value for incr or decr"));
  EXPECT_EQ(encode(binaryRequest(kIncrementQ, Command::kIncr, {"n"}, true),
                   typed(ResponseType::kNotFound)),
            errorFrame(kIncrementQ, kKeyNotFound, "Not found"));
  EXPECT_EQ(encode(binaryRequest(kIncrement, Command::kIncr, {"n"}), typed(ResponseType::kNotStored)),
            errorFrame(kIncrement, kNotStored, "Not stored."));
}

TEST(BinaryCodecReplyTest, LocalCommands) {
  const Response ok = typed(ResponseType::kOk);
  EXPECT_EQ(encode(binaryRequest(kNoop, Command::kNoop, {}), ok), replyFrame(kNoop, kSuccess));
  EXPECT_EQ(encode(binaryRequest(kQuit, Command::kQuit, {}), ok), replyFrame(kQuit, kSuccess));
  EXPECT_EQ(encode(binaryRequest(kQuitQ, Command::kQuit, {}, true), ok), "");
  EXPECT_EQ(encode(binaryRequest(kFlush, Command::kFlushAll, {}), ok), replyFrame(kFlush, kSuccess));
  EXPECT_EQ(encode(binaryRequest(kFlushQ, Command::kFlushAll, {}, true), ok), "");
  EXPECT_EQ(encode(binaryRequest(kFlushQ, Command::kFlushAll, {}, true),
                   Response::serverError("failed on 1 of 3 servers")),
            errorFrame(kFlushQ, kTemporaryFailure, "failed on 1 of 3 servers"));
  EXPECT_EQ(encode(binaryRequest(kVersion, Command::kVersion, {}),
                   typed(ResponseType::kVersion, "mcmesh-0.1.0")),
            replyFrame(kVersion, kSuccess, "", "", "mcmesh-0.1.0"));
  EXPECT_EQ(encode(binaryRequest(kGet, Command::kGets, {"k"}), typed(ResponseType::kError)),
            errorFrame(kGet, kUnknownCommand, "Unknown command"));
}

TEST(BinaryCodecReplyTest, StatsArePacketsEndedByAnEmptyOne) {
  Response stats = typed(ResponseType::kStats);
  stats.stats = {{"pid", "42"}, {"version", "mcmesh-0.1.0"}, {"", "a line without a name"}};
  const Request request = binaryRequest(kStat, Command::kStats, {});
  EXPECT_EQ(encode(request, stats), replyFrame(kStat, kSuccess, "pid", "", "42") +
                                        replyFrame(kStat, kSuccess, "version", "", "mcmesh-0.1.0") +
                                        replyFrame(kStat, kSuccess));
  EXPECT_EQ(encode(request, typed(ResponseType::kError)),
            errorFrame(kStat, kKeyNotFound, "Not found"));  // memcached: an unknown group.
}

TEST(BinaryCodecReplyTest, OpaqueIsEchoed) {
  Request noop = binaryRequest(kNoop, Command::kNoop, {});
  noop.meta.binary_opaque = 0x01020304;
  EXPECT_EQ(encode(noop, typed(ResponseType::kOk)),
            replyFrame(kNoop, kSuccess, "", "", "", 0, 0x01020304));
}

TEST(ClientCodecTest, FirstByteChoosesTheProtocol) {
  ClientCodecPtr binary_codec = makeClientCodec(0x80, ParseLimits());
  Request request;
  size_t consumed = 0;
  const std::string noop = frame(kNoop);
  ASSERT_EQ(binary_codec->parse(noop, &request, &consumed), ParseStatus::kOk);
  EXPECT_EQ(request.command, Command::kNoop);
  for (uint8_t first : {uint8_t{'g'}, uint8_t{'m'}, uint8_t{' '}, uint8_t{0x81}, uint8_t{0}}) {
    ClientCodecPtr text = makeClientCodec(first, ParseLimits());
    ASSERT_EQ(text->parse("mn\r\n", &request, &consumed), ParseStatus::kOk);
    EXPECT_EQ(request.command, Command::kNoop);
    std::string out;
    text->encode(request, typed(ResponseType::kOk), &out);
    EXPECT_EQ(out, "MN\r\n");
  }
}

}  // namespace
}  // namespace mcmesh::codec
