// TextResponseParser: every memcached reply type, split at every byte, length-driven values.
#include <string>
#include <vector>

#include "codec/text_codec.h"
#include "gtest/gtest.h"
#include "tests/unit/codec/codec_test_util.h"

namespace mcmesh::codec {
namespace {

struct ReplyCase {
  Command command;
  std::string wire;
  Response expected;
};

Response values(std::vector<Item> items) {
  Response r = Response::ofType(ResponseType::kValues);
  r.items = std::move(items);
  return r;
}

Response stats(std::vector<std::pair<std::string, std::string>> pairs) {
  Response r = Response::ofType(ResponseType::kStats);
  r.stats = std::move(pairs);
  return r;
}

std::vector<ReplyCase> allReplies() {
  return {
      {Command::kGet, "END\r\n", values({})},
      {Command::kGet, "VALUE k 5 3\r\nabc\r\nEND\r\n", values({makeItem("k", 5, "abc")})},
      {Command::kGets,
       "VALUE k 0 3 77\r\nabc\r\nVALUE k2 4294967295 0 18446744073709551615\r\n"
       "\r\nEND\r\n",
       values(
           {makeItem("k", 0, "abc", 77), makeItem("k2", 4294967295u, "", 18446744073709551615u)})},
      {Command::kGat, "VALUE a 1 1\r\nx\r\nEND\r\n", values({makeItem("a", 1, "x")})},
      {Command::kGats, "VALUE a 1 1 9\r\nx\r\nEND\r\n", values({makeItem("a", 1, "x", 9)})},
      // The value holds reply syntax: only its length says where it ends.
      {Command::kGet, "VALUE k 0 18\r\nEND\r\nVALUE x 0 1\r\n\r\nEND\r\n",
       values({makeItem("k", 0, "END\r\nVALUE x 0 1\r\n")})},
      {Command::kGet, "VALUE k 0 7\r\n\r\nEND\r\n\r\nEND\r\n",
       values({makeItem("k", 0, "\r\nEND\r\n")})},
      {Command::kSet, "STORED\r\n", typed(ResponseType::kStored)},
      {Command::kAdd, "NOT_STORED\r\n", typed(ResponseType::kNotStored)},
      {Command::kCas, "EXISTS\r\n", typed(ResponseType::kExists)},
      {Command::kCas, "NOT_FOUND\r\n", typed(ResponseType::kNotFound)},
      {Command::kDelete, "DELETED\r\n", typed(ResponseType::kDeleted)},
      {Command::kDelete, "NOT_FOUND\r\n", typed(ResponseType::kNotFound)},
      {Command::kTouch, "TOUCHED\r\n", typed(ResponseType::kTouched)},
      {Command::kFlushAll, "OK\r\n", typed(ResponseType::kOk)},
      {Command::kVerbosity, "OK\r\n", typed(ResponseType::kOk)},
      {Command::kIncr, "42\r\n", typed(ResponseType::kNumber, "42")},
      {Command::kDecr, "18446744073709551615\r\n",
       typed(ResponseType::kNumber, "18446744073709551615")},
      {Command::kIncr, "NOT_FOUND\r\n", typed(ResponseType::kNotFound)},
      {Command::kVersion, "VERSION 1.6.21\r\n", typed(ResponseType::kVersion, "1.6.21")},
      {Command::kStats, "STAT pid 1\r\nSTAT version 1.6.21\r\nSTAT rusage_user 0.1 2\r\nEND\r\n",
       stats({{"pid", "1"}, {"version", "1.6.21"}, {"rusage_user", "0.1 2"}})},
      {Command::kStats, "END\r\n", stats({})},
      {Command::kStats, "RESET\r\n", typed(ResponseType::kOk, "RESET")},
      {Command::kStats, "OK\r\n", typed(ResponseType::kOk)},
      {Command::kStats, "ITEM foo [3 b; 0 s]\r\nEND\r\n", stats({{"", "ITEM foo [3 b; 0 s]"}})},
      {Command::kGet, "ERROR\r\n", typed(ResponseType::kError)},
      {Command::kSet, "ERROR\r\n", typed(ResponseType::kError)},
      {Command::kStats, "ERROR\r\n", typed(ResponseType::kError)},
      {Command::kSet, "CLIENT_ERROR bad data chunk\r\n",
       typed(ResponseType::kClientError, "bad data chunk")},
      {Command::kGet, "CLIENT_ERROR bad command line format\r\n",
       typed(ResponseType::kClientError, "bad command line format")},
      {Command::kSet, "SERVER_ERROR object too large for cache\r\n",
       typed(ResponseType::kServerError, "object too large for cache")},
      {Command::kGet, "SERVER_ERROR out of memory writing get response\r\n",
       typed(ResponseType::kServerError, "out of memory writing get response")},
      {Command::kIncr, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
       typed(ResponseType::kClientError, "cannot increment or decrement non-numeric value")},
      // Meta get, as memcached 1.6 answers "mg <key> s v f t" (flags without a field are kept).
      {Command::kMetaGet, "VA 3 s3 f5 t-1\r\nabc\r\n",
       values({makeItem("", 5, "abc", 0, -1, "s3")})},
      {Command::kMetaGet, "VA 2 t120 f7 s2\r\nxy\r\n",
       values({makeItem("", 7, "xy", 0, 120, "s2")})},
      {Command::kMetaGet, "VA 5 s5 f0 t3 c12 kmykey\r\nEN\r\n\r\r\n",
       values({makeItem("mykey", 0, "EN\r\n\r", 12, 3, "s5")})},
      {Command::kMetaGet, "EN\r\n", values({})},
      {Command::kMetaGet, "HD f3 t10\r\n", values({makeItem("", 3, "", 0, 10)})},
      {Command::kMetaGet, "VA 0\r\n\r\n", values({makeItem("", 0, "", 0, -1)})},
      {Command::kMetaGet, "CLIENT_ERROR bad command line format\r\n",
       typed(ResponseType::kClientError, "bad command line format")},
      {Command::kMetaGet, "ERROR\r\n", typed(ResponseType::kError)},
  };
}

TEST(TextResponseParserTest, ParsesEveryReplyType) {
  for (const ReplyCase& c : allReplies()) {
    SCOPED_TRACE(c.wire);
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(c.wire, c.command, &response, &consumed), ParseStatus::kOk);
    EXPECT_EQ(consumed, c.wire.size());
    expectSameResponse(c.expected, response);
  }
}

TEST(TextResponseParserTest, ErrorRepliesCarryTheirKind) {
  const std::pair<std::string, ErrorKind> cases[] = {
      {"SERVER_ERROR object too large for cache\r\n", ErrorKind::kTooLarge},
      {"SERVER_ERROR out of memory storing object\r\n", ErrorKind::kOutOfMemory},
      {"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", ErrorKind::kNonNumeric},
      {"SERVER_ERROR temporary failure\r\n", ErrorKind::kOther},
      {"CLIENT_ERROR bad data chunk\r\n", ErrorKind::kOther},
  };
  for (const auto& [reply, kind] : cases) {
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(reply, Command::kSet, &response, &consumed), ParseStatus::kOk) << reply;
    EXPECT_EQ(static_cast<int>(response.error), static_cast<int>(kind)) << reply;
  }
}

TEST(TextResponseParserTest, EveryReplySplitAtEveryByte) {
  for (const ReplyCase& c : allReplies()) {
    for (size_t cut = 0; cut < c.wire.size(); ++cut) {
      SCOPED_TRACE(c.wire + " cut at " + std::to_string(cut));
      TextResponseParser parser;
      Response response;
      size_t consumed = 99;
      EXPECT_EQ(
          parser.parse(absl::string_view(c.wire).substr(0, cut), c.command, &response, &consumed),
          ParseStatus::kNeedMore);
      EXPECT_EQ(consumed, 0u);
      ASSERT_EQ(parser.parse(c.wire, c.command, &response, &consumed), ParseStatus::kOk);
      EXPECT_EQ(consumed, c.wire.size());
      expectSameResponse(c.expected, response);
    }
  }
}

TEST(TextResponseParserTest, PipelinedRepliesParseOneAtATime) {
  std::string wire;
  const std::vector<ReplyCase> cases = allReplies();
  for (const ReplyCase& c : cases) wire += c.wire;
  TextResponseParser parser;
  absl::string_view rest = wire;
  for (const ReplyCase& c : cases) {
    SCOPED_TRACE(c.wire);
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(rest, c.command, &response, &consumed), ParseStatus::kOk);
    EXPECT_EQ(consumed, c.wire.size());
    expectSameResponse(c.expected, response);
    rest.remove_prefix(consumed);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(TextResponseParserTest, ValueContainingEndIsNotMistakenForTheEnd) {
  // A reply cut right after the embedded "\r\nEND\r\n" is still incomplete.
  const std::string wire = "VALUE k 0 11\r\nab\r\nEND\r\ncd\r\nEND\r\n";
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  EXPECT_EQ(parser.parse(wire.substr(0, 23), Command::kGet, &response, &consumed),
            ParseStatus::kNeedMore);
  ASSERT_EQ(parser.parse(wire, Command::kGet, &response, &consumed), ParseStatus::kOk);
  EXPECT_EQ(consumed, wire.size());
  ASSERT_EQ(response.items.size(), 1u);
  EXPECT_EQ(response.items[0].value, "ab\r\nEND\r\ncd");
}

TEST(TextResponseParserTest, LargeMultiValueReply) {
  std::string wire;
  std::vector<Item> items;
  for (int i = 0; i < 200; ++i) {
    items.push_back(makeItem("key" + std::to_string(i), i, std::string(1000 + i, 'a' + i % 26)));
    wire += "VALUE " + items.back().key + " " + std::to_string(i) + " " +
            std::to_string(items.back().value.size()) + "\r\n" + items.back().value + "\r\n";
  }
  wire += "END\r\n";
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse(wire, Command::kGet, &response, &consumed), ParseStatus::kOk);
  EXPECT_EQ(consumed, wire.size());
  expectSameResponse(values(items), response);
}

TEST(TextResponseParserTest, ErrorAfterValuesReplacesThem) {
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  const std::string wire = "VALUE k 0 1\r\nx\r\nSERVER_ERROR out of memory\r\n";
  ASSERT_EQ(parser.parse(wire, Command::kGet, &response, &consumed), ParseStatus::kOk);
  EXPECT_EQ(consumed, wire.size());
  expectSameResponse(typed(ResponseType::kServerError, "out of memory"), response);
}

TEST(TextResponseParserTest, ParsedResponseIsResetFirst) {
  TextResponseParser parser;
  Response response = values({makeItem("old", 1, "v")});
  response.failed_keys = {"x"};
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("STORED\r\n", Command::kSet, &response, &consumed), ParseStatus::kOk);
  expectSameResponse(typed(ResponseType::kStored), response);
}

TEST(TextResponseParserTest, MalformedRepliesAreErrors) {
  const std::vector<std::pair<Command, std::string>> cases = {
      {Command::kGet, "STORED\r\n"},
      {Command::kGet, "VALUE k x 1\r\nx\r\nEND\r\n"},
      {Command::kGet, "VALUE k 0 x\r\nx\r\nEND\r\n"},
      {Command::kGet, "VALUE k 0\r\nx\r\nEND\r\n"},
      {Command::kGet, "VALUE k 0 1 2 3\r\nx\r\nEND\r\n"},
      {Command::kGet, "VALUE k 0 1\r\nxy\r\nEND\r\n"},  // Data not followed by CRLF.
      {Command::kGet, "VALUE k 0 99999999999\r\n"},
      {Command::kSet, "WHATEVER\r\n"},
      {Command::kSet, "42\r\n"},  // Numbers answer only incr/decr.
      {Command::kIncr, "4x2\r\n"},
      {Command::kMetaGet, "VA x f1\r\n"},
      {Command::kMetaGet, "VA 1 fX\r\nx\r\n"},
      {Command::kMetaGet, "VA 1 t1\r\nxyz\r\n"},
      {Command::kMetaGet, "ZZ\r\n"},
      {Command::kVersion, std::string(70000, 'v')},  // A line that never ends.
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.second.substr(0, 40));
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    EXPECT_EQ(parser.parse(c.second, c.first, &response, &consumed), ParseStatus::kError);
    EXPECT_EQ(consumed, c.second.size());
  }
}

TEST(TextResponseParserTest, StatLineWithoutValue) {
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("STAT lonely\r\nEND\r\n", Command::kStats, &response, &consumed),
            ParseStatus::kOk);
  expectSameResponse(stats({{"lonely", ""}}), response);
}

// Found by //fuzz:text_response_fuzzer: a STAT line with an empty name was re-encoded for the
// client without its "STAT " ("STAT  OK" became "OK", the client then read a stray END).
TEST(TextResponseParserTest, NamelessStatLinesReachTheClientUnchanged) {
  for (const std::string wire : {"STAT  OK\r\nEND\r\n", "STAT  STAT 19\nSTAT\nEND\r\n"}) {
    SCOPED_TRACE(wire);
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(wire, Command::kStats, &response, &consumed), ParseStatus::kOk);
    ASSERT_EQ(consumed, wire.size());
    Request request;
    request.command = Command::kStats;
    std::string client;
    encodeResponse(request, response, &client);
    Response again;
    ASSERT_EQ(parser.parse(client, Command::kStats, &again, &consumed), ParseStatus::kOk);
    EXPECT_EQ(consumed, client.size()) << client;
    expectSameResponse(response, again);
  }
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("STAT  OK\r\nEND\r\n", Command::kStats, &response, &consumed),
            ParseStatus::kOk);
  expectSameResponse(stats({{"", "STAT  OK"}}), response);
}

TEST(TextResponseParserTest, BareNewlineLineEndingsAreAccepted) {
  // A VALUE header line may end in a bare "\n" (memcached never sends one, but nothing is lost).
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("VALUE k 0 1\nx\r\nEND\n", Command::kGet, &response, &consumed),
            ParseStatus::kOk);
  expectSameResponse(values({makeItem("k", 0, "x")}), response);
}

TEST(TextResponseParserTest, TrailingBytesOfTheNextReplyAreLeftAlone) {
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("VALUE k 0 1\r\nx\r\nEND\r\nSTO", Command::kGet, &response, &consumed),
            ParseStatus::kOk);
  EXPECT_EQ(consumed, 21u);
}

TEST(TextResponseParserTest, EmptyInputNeedsMore) {
  TextResponseParser parser;
  Response response;
  size_t consumed = 5;
  EXPECT_EQ(parser.parse("", Command::kGet, &response, &consumed), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 0u);
}

}  // namespace
}  // namespace mcmesh::codec

namespace mcmesh::codec {
namespace {

// The parser switches to scan-only while a reply is incomplete and back to one pass afterwards:
// both paths must give the same responses, in stream order.
TEST(TextResponseParserTest, SplitReplyThenWholeRepliesOnOneParser) {
  const std::string first = "VALUE a 1 3\r\nabc\r\nVALUE b 2 1\r\nx\r\nEND\r\n";
  const std::string second = "VALUE c 3 2\r\nyz\r\nEND\r\n";
  ReplyContext context;
  context.command = Command::kGet;
  context.keys = 2;
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse(absl::string_view(first).substr(0, 20), context, &response, &consumed),
            ParseStatus::kNeedMore);
  EXPECT_TRUE(response.items.empty());  // nothing half-built is left behind.
  const std::string stream = first + second;
  ASSERT_EQ(parser.parse(stream, context, &response, &consumed), ParseStatus::kOk);
  ASSERT_EQ(consumed, first.size());
  ASSERT_EQ(response.items.size(), 2u);
  EXPECT_EQ(response.items[0].key, "a");
  EXPECT_EQ(response.items[0].value, "abc");
  EXPECT_EQ(response.items[1].flags, 2u);
  context.keys = 1;
  ASSERT_EQ(parser.parse(absl::string_view(stream).substr(consumed), context, &response, &consumed),
            ParseStatus::kOk);
  EXPECT_EQ(consumed, second.size());
  ASSERT_EQ(response.items.size(), 1u);
  EXPECT_EQ(response.items[0].value, "yz");
  EXPECT_EQ(response.items[0].flags, 3u);
}

}  // namespace
}  // namespace mcmesh::codec
