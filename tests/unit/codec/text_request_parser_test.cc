// TextRequestParser: every command, every split point, pipelining, and memcached's error replies.
#include <string>
#include <vector>

#include "codec/text_codec.h"
#include "gtest/gtest.h"
#include "tests/unit/codec/codec_test_util.h"

namespace mcmesh::codec {
namespace {

struct Parsed {
  ParseStatus status;
  Request request;
  size_t consumed = 0;
};

Parsed parseOnce(TextRequestParser& parser, absl::string_view input) {
  Parsed p;
  p.status = parser.parse(input, &p.request, &p.consumed);
  return p;
}

// Parses a whole request that must be accepted and use every byte.
Request parseWhole(absl::string_view input) {
  TextRequestParser parser;
  Parsed p = parseOnce(parser, input);
  EXPECT_EQ(p.status, ParseStatus::kOk) << input;
  EXPECT_EQ(p.consumed, input.size()) << input;
  return p.request;
}

Request req(Command command, std::vector<std::string> keys) {
  Request r;
  r.command = command;
  r.keys = std::move(keys);
  return r;
}

Request storage(Command command, std::string key, uint32_t flags, int64_t exptime,
                std::string value, bool noreply = false, uint64_t cas = 0) {
  Request r = req(command, {std::move(key)});
  r.flags = flags;
  r.exptime = exptime;
  r.value = std::move(value);
  r.noreply = noreply;
  r.cas_unique = cas;
  return r;
}

// Every command the parser accepts, with the Request it must produce.
struct Case {
  std::string wire;
  Request expected;
};

std::vector<Case> allCommands() {
  std::vector<Case> cases;
  cases.push_back({"get foo\r\n", req(Command::kGet, {"foo"})});
  cases.push_back({"get a bb ccc\r\n", req(Command::kGet, {"a", "bb", "ccc"})});
  cases.push_back({"gets a b\r\n", req(Command::kGets, {"a", "b"})});
  Request gat = req(Command::kGat, {"k1", "k2"});
  gat.exptime = 300;
  cases.push_back({"gat 300 k1 k2\r\n", gat});
  Request gats = req(Command::kGats, {"k"});
  gats.exptime = -1;
  cases.push_back({"gats -1 k\r\n", gats});
  cases.push_back({"set k 5 100 3\r\nabc\r\n", storage(Command::kSet, "k", 5, 100, "abc")});
  cases.push_back(
      {"set k 0 0 3 noreply\r\nabc\r\n", storage(Command::kSet, "k", 0, 0, "abc", true)});
  cases.push_back({"add k 1 2 0\r\n\r\n", storage(Command::kAdd, "k", 1, 2, "")});
  cases.push_back({"replace k 4294967295 -1 2\r\nxy\r\n",
                   storage(Command::kReplace, "k", 4294967295u, -1, "xy")});
  cases.push_back({"append k 0 0 1\r\nz\r\n", storage(Command::kAppend, "k", 0, 0, "z")});
  cases.push_back(
      {"prepend k 0 0 1 noreply\r\nz\r\n", storage(Command::kPrepend, "k", 0, 0, "z", true)});
  cases.push_back({"cas k 7 8 4 18446744073709551615\r\nab\r\n\r\n",
                   storage(Command::kCas, "k", 7, 8, "ab\r\n", false, 18446744073709551615u)});
  cases.push_back(
      {"cas k 0 0 1 99 noreply\r\nq\r\n", storage(Command::kCas, "k", 0, 0, "q", true, 99)});
  cases.push_back({"delete k\r\n", req(Command::kDelete, {"k"})});
  cases.push_back({"delete k 0\r\n", req(Command::kDelete, {"k"})});
  Request del_quiet = req(Command::kDelete, {"k"});
  del_quiet.noreply = true;
  cases.push_back({"delete k noreply\r\n", del_quiet});
  cases.push_back({"delete k 0 noreply\r\n", del_quiet});
  Request incr = req(Command::kIncr, {"n"});
  incr.delta = 18446744073709551615u;
  cases.push_back({"incr n 18446744073709551615\r\n", incr});
  Request decr = req(Command::kDecr, {"n"});
  decr.delta = 3;
  decr.noreply = true;
  cases.push_back({"decr n 3 noreply\r\n", decr});
  Request touch = req(Command::kTouch, {"t"});
  touch.exptime = 60;
  cases.push_back({"touch t 60\r\n", touch});
  touch.noreply = true;
  cases.push_back({"touch t 60 noreply\r\n", touch});
  cases.push_back({"flush_all\r\n", req(Command::kFlushAll, {})});
  Request flush = req(Command::kFlushAll, {});
  flush.args = "10";
  cases.push_back({"flush_all 10\r\n", flush});
  flush.noreply = true;
  cases.push_back({"flush_all 10 noreply\r\n", flush});
  Request flush_quiet = req(Command::kFlushAll, {});
  flush_quiet.noreply = true;
  cases.push_back({"flush_all noreply\r\n", flush_quiet});
  cases.push_back({"version\r\n", req(Command::kVersion, {})});
  Request verbosity = req(Command::kVerbosity, {});
  verbosity.args = "1";
  cases.push_back({"verbosity 1\r\n", verbosity});
  verbosity.noreply = true;
  cases.push_back({"verbosity 1 noreply\r\n", verbosity});
  cases.push_back({"stats\r\n", req(Command::kStats, {})});
  Request stats = req(Command::kStats, {});
  stats.args = "slabs";
  cases.push_back({"stats slabs\r\n", stats});
  stats.args = "cachedump 1 10";
  cases.push_back({"stats cachedump 1 10\r\n", stats});
  cases.push_back({"quit\r\n", req(Command::kQuit, {})});
  return cases;
}

// Requests are parsed into reused objects (the worker's scratch Request trades buffers with
// pooled ones), so the reset every parser starts with must clear every field.
TEST(TextRequestParserTest, ResetRequestClearsEveryField) {
  Request r;
  r.command = Command::kCas;
  r.keys = {"a", "b"};
  r.flags = 1;
  r.exptime = -2;
  r.cas_unique = 3;
  r.delta = 4;
  r.value = std::string(100, 'v');
  r.noreply = true;
  r.args = "args";
  r.meta.meta = r.meta.return_cas = r.meta.vivify = r.meta.quiet = r.meta.base64_key = true;
  r.meta.initial = 5;
  r.meta.extra = "N30";
  r.meta.order = "vk";
  r.meta.opaque = "op";
  r.meta.opcode = 6;
  r.meta.binary_opaque = 7;
  r.clear();
  expectSameRequest(Request(), r);
  EXPECT_GE(r.value.capacity(), 100u);  // capacity is what reuse is for.
}

TEST(TextRequestParserTest, ParsesEveryCommandWithAllFields) {
  for (const Case& c : allCommands()) {
    SCOPED_TRACE(c.wire);
    expectSameRequest(c.expected, parseWhole(c.wire));
  }
}

TEST(TextRequestParserTest, EveryCommandSplitAtEveryByteGivesTheSameRequest) {
  for (const Case& c : allCommands()) {
    for (size_t cut = 0; cut < c.wire.size(); ++cut) {
      SCOPED_TRACE(c.wire + " cut at " + std::to_string(cut));
      TextRequestParser parser;
      Parsed first = parseOnce(parser, absl::string_view(c.wire).substr(0, cut));
      EXPECT_EQ(first.status, ParseStatus::kNeedMore);
      EXPECT_EQ(first.consumed, 0u);
      Parsed second = parseOnce(parser, c.wire);
      ASSERT_EQ(second.status, ParseStatus::kOk);
      EXPECT_EQ(second.consumed, c.wire.size());
      expectSameRequest(c.expected, second.request);
    }
  }
}

TEST(TextRequestParserTest, ByteAtATimeFeedingGivesTheSameRequests) {
  std::string wire;
  std::vector<Case> cases = allCommands();
  for (const Case& c : cases) wire += c.wire;
  TextRequestParser parser;
  std::string buffer;
  size_t next = 0;
  for (char byte : wire) {
    buffer.push_back(byte);
    Request request;
    size_t consumed = 0;
    const ParseStatus status = parser.parse(buffer, &request, &consumed);
    buffer.erase(0, consumed);
    if (status == ParseStatus::kOk) {
      ASSERT_LT(next, cases.size());
      SCOPED_TRACE(cases[next].wire);
      expectSameRequest(cases[next].expected, request);
      ++next;
    } else {
      ASSERT_EQ(status, ParseStatus::kNeedMore);
    }
  }
  EXPECT_EQ(next, cases.size());
  EXPECT_TRUE(buffer.empty());
}

TEST(TextRequestParserTest, ParsesManyPipelinedRequestsFromOneBuffer) {
  std::string wire;
  std::vector<Case> cases;
  for (int round = 0; round < 20; ++round) {
    for (Case& c : allCommands()) cases.push_back(std::move(c));
  }
  for (const Case& c : cases) wire += c.wire;
  TextRequestParser parser;
  absl::string_view rest = wire;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.wire);
    Parsed p = parseOnce(parser, rest);
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(p.consumed, c.wire.size());
    expectSameRequest(c.expected, p.request);
    rest.remove_prefix(p.consumed);
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(parseOnce(parser, rest).status, ParseStatus::kNeedMore);
}

TEST(TextRequestParserTest, AcceptsBareNewlineAndExtraSpaces) {
  expectSameRequest(req(Command::kGet, {"a", "b"}), parseWhole("  get   a  b  \n"));
  expectSameRequest(storage(Command::kSet, "k", 1, 2, "v"), parseWhole("set  k 1  2 1\nv\r\n"));
}

TEST(TextRequestParserTest, ValueMayContainCommandBytes) {
  const std::string value = "get x\r\nEND\r\nset y 0 0 1\r\n";
  const std::string wire = "set k 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  expectSameRequest(storage(Command::kSet, "k", 0, 0, value), parseWhole(wire));
}

TEST(TextRequestParserTest, BinaryValueWithNulBytes) {
  const std::string value("a\0b\0\r", 5);
  const std::string wire = "set k 0 0 5\r\n" + value + "\r\n";
  expectSameRequest(storage(Command::kSet, "k", 0, 0, value), parseWhole(wire));
}

TEST(TextRequestParserTest, KeyOfExactlyMaxLengthIsAccepted) {
  const std::string key(250, 'k');
  expectSameRequest(req(Command::kGet, {key}), parseWhole("get " + key + "\r\n"));
  expectSameRequest(storage(Command::kSet, key, 0, 0, "v"),
                    parseWhole("set " + key + " 0 0 1\r\nv\r\n"));
}

TEST(TextRequestParserTest, ValueOfExactlyMaxBytesIsAccepted) {
  ParseLimits limits;
  limits.max_value_bytes = 10;
  TextRequestParser parser(limits);
  const std::string wire = "set k 0 0 10\r\n0123456789\r\n";
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.request.value, "0123456789");
}

TEST(TextRequestParserTest, ManyKeysUpToTheLimit) {
  ParseLimits limits;
  limits.max_keys_per_get = 100;
  TextRequestParser parser(limits);
  std::string wire = "get";
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("key" + std::to_string(i));
    wire += " " + keys.back();
  }
  wire += "\r\n";
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.request.keys, keys);
}

TEST(TextRequestParserTest, LongMultigetLineBeyondMaxLineBytesIsAccepted) {
  // memcached lets only get/gets lines grow past its line limit.
  std::string wire = "gets";
  for (int i = 0; i < 2000; ++i) wire += " key_number_" + std::to_string(i);
  ASSERT_GT(wire.size(), ParseLimits().max_line_bytes);
  TextRequestParser parser;
  Parsed partial = parseOnce(parser, wire);
  EXPECT_EQ(partial.status, ParseStatus::kNeedMore);
  wire += "\r\n";
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.request.keys.size(), 2000u);
  EXPECT_EQ(p.request.keys.back(), "key_number_1999");
}

TEST(TextRequestParserTest, ReusedRequestIsResetBetweenCommands) {
  TextRequestParser parser;
  Request request;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("cas k 1 2 1 3 noreply\r\nv\r\n", &request, &consumed), ParseStatus::kOk);
  ASSERT_EQ(parser.parse("get a\r\n", &request, &consumed), ParseStatus::kOk);
  expectSameRequest(req(Command::kGet, {"a"}), request);
}

TEST(TextRequestParserTest, VersionAndQuitIgnoreArguments) {
  // memcached never looks past the command token for these.
  expectSameRequest(req(Command::kVersion, {}), parseWhole("version please\r\n"));
  expectSameRequest(req(Command::kQuit, {}), parseWhole("quit now\r\n"));
}

TEST(TextRequestParserTest, StatsArgsAreRawAndKeepNoreply) {
  // stats has no noreply in memcached; the text goes upstream as the client wrote it.
  Request stats = req(Command::kStats, {});
  stats.args = "detail   dump";
  expectSameRequest(stats, parseWhole("stats  detail   dump  \r\n"));
  stats.args = "noreply";
  expectSameRequest(stats, parseWhole("stats noreply\r\n"));
}

TEST(TextRequestParserTest, DeleteOfAKeyNamedNoreply) {
  // With a single argument memcached never checks for noreply: the key is "noreply".
  expectSameRequest(req(Command::kDelete, {"noreply"}), parseWhole("delete noreply\r\n"));
}

TEST(TextRequestParserTest, KeysMayHoldAnyByteButSpaceAndNewline) {
  const std::string key = "a\tb\x01\xff:{}";
  expectSameRequest(req(Command::kGet, {key}), parseWhole("get " + key + "\r\n"));
}

TEST(TextRequestParserTest, SmallerLineLimitIsHonoured) {
  ParseLimits limits;
  limits.max_line_bytes = 16;
  TextRequestParser parser(limits);
  Parsed p = parseOnce(parser, "delete 0123456789\r\n");  // 17 bytes before the newline.
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_TRUE(parser.shouldClose());
  TextRequestParser ok(limits);
  EXPECT_EQ(parseOnce(ok, "delete 012345678\r\n").status, ParseStatus::kOk);
}

// ---- Errors: exact memcached replies, close flag, and recovery. ----

struct ErrorCase {
  std::string wire;
  std::string reply;
  bool close;
  size_t consumed;  // npos = all of wire.
};

constexpr size_t kAll = std::string::npos;

void expectError(const ErrorCase& c, ParseLimits limits = {}) {
  SCOPED_TRACE(c.wire.substr(0, 80));
  TextRequestParser parser(limits);
  // Followed by a valid command: it must parse afterwards unless the connection closes.
  const std::string next = "get a\r\n";
  const std::string wire = c.wire + next;
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), c.reply);
  EXPECT_EQ(parser.shouldClose(), c.close);
  if (c.close) return;
  EXPECT_EQ(p.consumed, c.consumed == kAll ? c.wire.size() : c.consumed);
  Parsed after = parseOnce(parser, absl::string_view(wire).substr(p.consumed));
  ASSERT_EQ(after.status, ParseStatus::kOk);
  expectSameRequest(req(Command::kGet, {"a"}), after.request);
}

const char kError[] = "ERROR\r\n";
const char kBadFormat[] = "CLIENT_ERROR bad command line format\r\n";
const char kBadChunk[] = "CLIENT_ERROR bad data chunk\r\n";
const char kTooLarge[] = "SERVER_ERROR object too large for cache\r\n";
const char kBadExptime[] = "CLIENT_ERROR invalid exptime argument\r\n";
const char kBadDelta[] = "CLIENT_ERROR invalid numeric delta argument\r\n";

TEST(TextRequestParserErrorTest, UnknownCommandIsError) {
  expectError({"bogus foo\r\n", kError, false, kAll});
  expectError({"GET foo\r\n", kError, false, kAll});
  expectError({"g\r\n", kError, false, kAll});
  expectError({"mz foo v\r\n", kError, false, kAll});  // Not a meta command (those: meta tests).
  expectError({"MG foo v\r\n", kError, false, kAll});
}

TEST(TextRequestParserErrorTest, EmptyLineIsError) {
  expectError({"\r\n", kError, false, kAll});
  expectError({"   \r\n", kError, false, kAll});
  expectError({"\n", kError, false, kAll});
}

TEST(TextRequestParserErrorTest, WrongTokenCountIsError) {
  expectError({"get\r\n", kError, false, kAll});
  expectError({"gets   \r\n", kError, false, kAll});
  expectError({"gat\r\n", kError, false, kAll});
  expectError({"gat 10\r\n", kError, false, kAll});
  expectError({"set k 0 0\r\n", kError, false, kAll});
  expectError({"set k 0 0 1 noreply extra\r\n", kError, false, kAll});
  expectError({"cas k 0 0 1\r\n", kError, false, kAll});
  expectError({"delete\r\n", kError, false, kAll});
  expectError({"delete k 0 noreply x\r\n", kError, false, kAll});
  expectError({"incr k\r\n", kError, false, kAll});
  expectError({"decr k 1 noreply x\r\n", kError, false, kAll});
  expectError({"touch k\r\n", kError, false, kAll});
  expectError({"verbosity\r\n", kError, false, kAll});
  expectError({"flush_all 1 noreply x\r\n", kError, false, kAll});
  expectError({"set a b c d e f g h i j k l\r\n", kError, false, kAll});
}

TEST(TextRequestParserErrorTest, KeyTooLongIsBadFormat) {
  const std::string key(251, 'k');
  expectError({"get " + key + "\r\n", kBadFormat, false, kAll});
  expectError({"gets ok " + key + "\r\n", kBadFormat, false, kAll});
  expectError({"gat 1 " + key + "\r\n", kBadFormat, false, kAll});
  // The data block is not read: memcached parses it as the next command line.
  expectError({"set " + key + " 0 0 1\r\n", kBadFormat, false, kAll});
  expectError({"delete " + key + "\r\n", kBadFormat, false, kAll});
  expectError({"incr " + key + " 1\r\n", kBadFormat, false, kAll});
  expectError({"touch " + key + " 1\r\n", kBadFormat, false, kAll});
}

TEST(TextRequestParserErrorTest, ConfigurableKeyLength) {
  ParseLimits limits;
  limits.max_key_length = 3;
  expectError({"get abcd\r\n", kBadFormat, false, kAll}, limits);
}

TEST(TextRequestParserErrorTest, BadNumbersAreBadFormat) {
  expectError({"set k x 0 1\r\n", kBadFormat, false, kAll});
  expectError({"set k -1 0 1\r\n", kBadFormat, false, kAll});
  expectError({"set k 4294967296 0 1\r\n", kBadFormat, false, kAll});
  expectError({"set k 0 1x 1\r\n", kBadFormat, false, kAll});
  expectError({"set k 0 2147483648 1\r\n", kBadFormat, false, kAll});
  expectError({"set k 0 0 1a\r\n", kBadFormat, false, kAll});
  expectError({"set k 0 0 2147483648\r\n", kBadFormat, false, kAll});
  expectError({"cas k 0 0 1 x\r\n", kBadFormat, false, kAll});
  expectError({"cas k 0 0 1 -1\r\n", kBadFormat, false, kAll});
  expectError({"verbosity x\r\n", kBadFormat, false, kAll});
}

TEST(TextRequestParserErrorTest, NegativeOrHugeLengthIsBadFormatWithoutSwallowing) {
  // memcached 1.6 process_update_command: vlen < 0 || vlen > INT_MAX - 2 -> CLIENT_ERROR, and
  // since the length is meaningless nothing is swallowed.
  expectError({"set k 0 0 -1\r\n", kBadFormat, false, kAll});
  expectError({"set k 0 0 2147483646\r\n", kBadFormat, false, kAll});
}

TEST(TextRequestParserErrorTest, BadExptimeAndDelta) {
  expectError({"gat x k\r\n", kBadExptime, false, kAll});
  expectError({"touch k soon\r\n", kBadExptime, false, kAll});
  expectError({"flush_all later\r\n", kBadExptime, false, kAll});
  expectError({"incr k -1\r\n", kBadDelta, false, kAll});
  expectError({"decr k 18446744073709551616\r\n", kBadDelta, false, kAll});
  expectError({"incr k one\r\n", kBadDelta, false, kAll});
}

TEST(TextRequestParserErrorTest, DeleteWithBadHoldTime) {
  expectError({"delete k 5\r\n",
               "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n", false,
               kAll});
  expectError({"delete k 0 0\r\n",
               "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n", false,
               kAll});
}

TEST(TextRequestParserErrorTest, DataBlockNotFollowedByCrlfIsBadDataChunk) {
  // memcached reads <bytes>+2 and checks the last two: those bytes are gone either way.
  expectError({"set k 0 0 3\r\nabcde", kBadChunk, false, kAll});
  expectError({"set k 0 0 3\r\nabc\nX", kBadChunk, false, kAll});
  expectError({"cas k 0 0 1 1\r\nabc", kBadChunk, false, kAll});
}

TEST(TextRequestParserErrorTest, BytesAfterABadDataChunkAreReadAsCommands) {
  // As in memcached: the surplus "\r\n" after a too-long block becomes an empty command line.
  TextRequestParser parser;
  const std::string wire = "set k 0 0 3\r\nabcde\r\nget k\r\n";
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), kBadChunk);
  EXPECT_EQ(p.consumed, 18u);
  absl::string_view rest = absl::string_view(wire).substr(p.consumed);
  p = parseOnce(parser, rest);
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), kError);
  EXPECT_EQ(p.consumed, 2u);
  rest.remove_prefix(p.consumed);
  p = parseOnce(parser, rest);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  expectSameRequest(req(Command::kGet, {"k"}), p.request);
}

TEST(TextRequestParserErrorTest, BadDataChunkWaitsForAllBytesFirst) {
  TextRequestParser parser;
  Parsed p = parseOnce(parser, "set k 0 0 3\r\nabcd");
  EXPECT_EQ(p.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed, 0u);
  p = parseOnce(parser, "set k 0 0 3\r\nabcde");
  EXPECT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), kBadChunk);
  EXPECT_FALSE(parser.shouldClose());
  EXPECT_EQ(p.consumed, 18u);
}

TEST(TextRequestParserErrorTest, TooLargeValueIsRefusedAndSwallowed) {
  ParseLimits limits;
  limits.max_value_bytes = 4;
  const std::string line = "set k 0 0 10\r\n";
  expectError({line + "0123456789\r\n", kTooLarge, false, kAll}, limits);
}

TEST(TextRequestParserErrorTest, TooLargeValueIsTypedEvenWithNoreplyAndForMeta) {
  // The connection counts values_too_large from errorKind(): a noreply set has no reply text
  // to look at, and meta's ms has its own.
  ParseLimits limits;
  limits.max_value_bytes = 4;
  for (const std::string input : {"set k 0 0 10 noreply\r\n0123456789\r\n",
                                  "ms k 10\r\n0123456789\r\n", "set k 0 0 10\r\n0123456789\r\n"}) {
    TextRequestParser parser(limits);
    Parsed p = parseOnce(parser, input);
    ASSERT_EQ(p.status, ParseStatus::kError) << input;
    EXPECT_EQ(static_cast<int>(parser.errorKind()), static_cast<int>(ErrorKind::kTooLarge)) << input;
  }
  TextRequestParser parser(limits);
  ASSERT_EQ(parseOnce(parser, "bogus\r\n").status, ParseStatus::kError);
  EXPECT_EQ(static_cast<int>(parser.errorKind()), static_cast<int>(ErrorKind::kOther));
}

TEST(TextRequestParserErrorTest, TooLargeValueIsSwallowedAcrossReads) {
  ParseLimits limits;
  limits.max_value_bytes = 4;
  TextRequestParser parser(limits);
  // The error is answered as soon as the line arrives, before the data.
  Parsed p = parseOnce(parser, "set k 0 0 10\r\n012");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), kTooLarge);
  EXPECT_FALSE(parser.shouldClose());
  EXPECT_EQ(p.consumed, 17u);
  // The rest of the block (7 data bytes + CRLF) is dropped as it comes in, even if it looks like
  // a command.
  p = parseOnce(parser, "get x");
  EXPECT_EQ(p.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed, 5u);
  p = parseOnce(parser, "yz\r");
  EXPECT_EQ(p.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed, 3u);
  p = parseOnce(parser, "\nget real\r\n");
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.consumed, 11u);
  expectSameRequest(req(Command::kGet, {"real"}), p.request);
}

TEST(TextRequestParserErrorTest, TooLargeForEveryStorageCommand) {
  ParseLimits limits;
  limits.max_value_bytes = 2;
  for (const std::string name : {"set", "add", "replace", "append", "prepend"}) {
    expectError({name + " k 0 0 3\r\nabc\r\n", kTooLarge, false, kAll}, limits);
  }
  expectError({"cas k 0 0 3 1\r\nabc\r\n", kTooLarge, false, kAll}, limits);
}

TEST(TextRequestParserErrorTest, SwallowEndingExactlyAtTheBufferEnd) {
  ParseLimits limits;
  limits.max_value_bytes = 1;
  TextRequestParser parser(limits);
  Parsed p = parseOnce(parser, "set k 0 0 4\r\n");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(p.consumed, 13u);
  p = parseOnce(parser, "abcd\r\n");
  EXPECT_EQ(p.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed, 6u);
  p = parseOnce(parser, "get k\r\n");
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.consumed, 7u);
}

TEST(TextRequestParserErrorTest, SwallowIsNotConfusedByTheDataItHolds) {
  // The swallowed block holds a full command; it must not be executed.
  ParseLimits limits;
  limits.max_value_bytes = 4;
  const std::string data = "delete victim\r\n";
  const std::string wire =
      "set k 0 0 " + std::to_string(data.size()) + "\r\n" + data + "\r\nget k\r\n";
  TextRequestParser parser(limits);
  absl::string_view rest = wire;
  Parsed p = parseOnce(parser, rest);
  ASSERT_EQ(p.status, ParseStatus::kError);
  rest.remove_prefix(p.consumed);
  p = parseOnce(parser, rest);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  expectSameRequest(req(Command::kGet, {"k"}), p.request);
  EXPECT_EQ(p.consumed, rest.size());
}

TEST(TextRequestParserErrorTest, TooLargeDefaultLimitIsOneMegabyte) {
  TextRequestParser parser;
  Parsed p = parseOnce(parser, "set k 0 0 1048577\r\n");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), kTooLarge);
  EXPECT_EQ(p.consumed, 19u);
  std::string rest(1048577 + 2, 'x');
  p = parseOnce(parser, rest);
  EXPECT_EQ(p.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed, rest.size());
}

TEST(TextRequestParserErrorTest, NoreplySuppressesErrorReplies) {
  // memcached's out_string() stays silent once set_noreply_maybe() saw "noreply".
  ParseLimits limits;
  limits.max_value_bytes = 4;
  const std::string key(251, 'k');
  expectError({"set " + key + " 0 0 1 noreply\r\n", "", false, kAll});
  expectError({"set k x 0 1 noreply\r\n", "", false, kAll});
  expectError({"set k 0 0 1 noreply\r\nabc", "", false, kAll});
  expectError({"set k 0 0 5 noreply\r\n12345\r\n", "", false, kAll}, limits);
  expectError({"incr k x noreply\r\n", "", false, kAll});
  expectError({"touch k x noreply\r\n", "", false, kAll});
  expectError({"delete k 5 noreply\r\n", "", false, kAll});
  expectError({"flush_all x noreply\r\n", "", false, kAll});
  expectError({"verbosity x noreply\r\n", "", false, kAll});
}

TEST(TextRequestParserErrorTest, NoreplyDoesNotSilenceTokenCountErrors) {
  // WANT_TOKENS runs before memcached looks for noreply.
  expectError({"set k 0 noreply\r\n", kError, false, kAll});
}

TEST(TextRequestParserErrorTest, ExtraTokenThatIsNotNoreplyIsIgnored) {
  // memcached only looks at the last token for "noreply"; anything else there is ignored.
  Request r = parseWhole("set k 0 0 1 junk\r\nv\r\n");
  expectSameRequest(storage(Command::kSet, "k", 0, 0, "v"), r);
  Request incr = parseWhole("incr k 2 junk\r\n");
  EXPECT_FALSE(incr.noreply);
  EXPECT_EQ(incr.delta, 2u);
}

TEST(TextRequestParserErrorTest, OverlongLineWithoutNewlineClosesSilently) {
  TextRequestParser parser;
  std::string wire = "set k 0 0 1 " + std::string(8192, 'x');
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), "");
  EXPECT_TRUE(parser.shouldClose());
  EXPECT_EQ(p.consumed, wire.size());
}

TEST(TextRequestParserErrorTest, LineJustUnderTheLimitStillWaits) {
  TextRequestParser parser;
  std::string wire = "stats " + std::string(8192 - 6, 'x');
  EXPECT_EQ(parseOnce(parser, wire).status, ParseStatus::kNeedMore);
}

TEST(TextRequestParserErrorTest, OverlongLineWithNewlineAlsoCloses) {
  TextRequestParser parser;
  Parsed p = parseOnce(parser, "stats " + std::string(9000, 'x') + "\r\nget k\r\n");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_TRUE(parser.shouldClose());
}

TEST(TextRequestParserErrorTest, OverlongGatLineCloses) {
  // Only "get " and "gets " lines may grow (memcached's try_read_command_ascii).
  TextRequestParser parser;
  std::string wire = "gat 10";
  while (wire.size() <= 8192) wire += " somekey";
  EXPECT_EQ(parseOnce(parser, wire).status, ParseStatus::kError);
  EXPECT_TRUE(parser.shouldClose());
}

TEST(TextRequestParserErrorTest, EndlessGetLineClosesPastTheMultigetBound) {
  ParseLimits limits;
  limits.max_keys_per_get = 4;
  TextRequestParser parser(limits);
  std::string wire = "get " + std::string(8192 + 4 * 251 + 1, 'k');
  EXPECT_EQ(parseOnce(parser, wire).status, ParseStatus::kError);
  EXPECT_TRUE(parser.shouldClose());
}

TEST(TextRequestParserErrorTest, TooManyKeysIsBadFormat) {
  ParseLimits limits;
  limits.max_keys_per_get = 3;
  expectError({"get a b c d\r\n", kBadFormat, false, kAll}, limits);
}

TEST(TextRequestParserErrorTest, HttpRequestLineClosesSilently) {
  TextRequestParser parser;
  Parsed p = parseOnce(parser, "GET / HTTP/1.1\r\nHost: x\r\n");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), "");
  EXPECT_TRUE(parser.shouldClose());
}

TEST(TextRequestParserErrorTest, ErrorStateIsClearedByTheNextParse) {
  TextRequestParser parser;
  Parsed p = parseOnce(parser, "bogus\r\n");
  ASSERT_EQ(p.status, ParseStatus::kError);
  p = parseOnce(parser, "get k\r\n");
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(parser.errorReply(), "");
  EXPECT_FALSE(parser.shouldClose());
}

TEST(TextRequestParserErrorTest, ErrorsSplitAtEveryByte) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bogus\r\n", kError},
      {"set k 0 0 3\r\nabcd\r\n", kBadChunk},
      {"get " + std::string(251, 'k') + "\r\n", kBadFormat},
      {"incr k x\r\n", kBadDelta},
  };
  for (const auto& c : cases) {
    for (size_t cut = 0; cut < c.first.size(); ++cut) {
      SCOPED_TRACE(c.first.substr(0, 40) + " cut " + std::to_string(cut));
      TextRequestParser parser;
      const absl::string_view prefix = absl::string_view(c.first).substr(0, cut);
      Parsed p = parseOnce(parser, prefix);
      // Bad data chunks are known once <bytes>+2 have arrived, before the whole wire.
      if (p.status == ParseStatus::kError) {
        EXPECT_EQ(parser.errorReply(), c.second);
        continue;
      }
      EXPECT_EQ(p.status, ParseStatus::kNeedMore);
      p = parseOnce(parser, c.first);
      EXPECT_EQ(p.status, ParseStatus::kError);
      EXPECT_EQ(parser.errorReply(), c.second);
    }
  }
}

}  // namespace
}  // namespace mcmesh::codec
