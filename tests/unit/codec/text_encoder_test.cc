// Encoders: exact bytes for upstreams and clients, and request round trips through the parser.
#include <string>
#include <vector>

#include "codec/text_codec.h"
#include "gtest/gtest.h"
#include "tests/unit/codec/codec_test_util.h"

namespace mcmesh::codec {
namespace {

Request req(Command command, std::vector<std::string> keys) {
  Request r;
  r.command = command;
  r.keys = std::move(keys);
  return r;
}

std::string encoded(const Request& request) {
  std::string out = "prefix:";  // Encoders append; they must not clobber.
  encodeRequest(request, &out);
  EXPECT_EQ(out.substr(0, 7), "prefix:");
  return out.substr(7);
}

std::string encoded(const Request& request, const Response& response) {
  std::string out;
  encodeResponse(request, response, &out);
  return out;
}

std::vector<Request> sampleRequests() {
  std::vector<Request> out;
  out.push_back(req(Command::kGet, {"a"}));
  out.push_back(req(Command::kGet, {"a", "b", "c"}));
  out.push_back(req(Command::kGets, {"a", "b"}));
  Request gat = req(Command::kGat, {"a", "b"});
  gat.exptime = -5;
  out.push_back(gat);
  gat.command = Command::kGats;
  gat.exptime = 2147483647;
  out.push_back(gat);
  for (Command c : {Command::kSet, Command::kAdd, Command::kReplace, Command::kAppend,
                    Command::kPrepend, Command::kCas}) {
    Request s = req(c, {"key"});
    s.flags = 4294967295u;
    s.exptime = 3600;
    s.value = std::string("bin\0\r\nEND\r\n", 11);
    s.cas_unique = c == Command::kCas ? 18446744073709551615u : 0;
    s.noreply = true;  // Dropped by the encoder.
    out.push_back(s);
  }
  Request empty_value = req(Command::kSet, {"k"});
  out.push_back(empty_value);
  Request del = req(Command::kDelete, {"k"});
  del.noreply = true;
  out.push_back(del);
  Request incr = req(Command::kIncr, {"n"});
  incr.delta = 18446744073709551615u;
  out.push_back(incr);
  Request decr = req(Command::kDecr, {"n"});
  decr.delta = 0;
  out.push_back(decr);
  Request touch = req(Command::kTouch, {"t"});
  touch.exptime = 10;
  touch.noreply = true;
  out.push_back(touch);
  out.push_back(req(Command::kFlushAll, {}));
  Request flush = req(Command::kFlushAll, {});
  flush.args = "30";
  flush.noreply = true;
  out.push_back(flush);
  out.push_back(req(Command::kVersion, {}));
  Request verbosity = req(Command::kVerbosity, {});
  verbosity.args = "2";
  out.push_back(verbosity);
  out.push_back(req(Command::kStats, {}));
  Request stats = req(Command::kStats, {});
  stats.args = "items";
  out.push_back(stats);
  out.push_back(req(Command::kQuit, {}));
  return out;
}

TEST(TextEncoderTest, RequestBytes) {
  Request set = req(Command::kSet, {"k"});
  set.flags = 3;
  set.exptime = 100;
  set.value = "hello";
  set.noreply = true;
  EXPECT_EQ(encoded(set), "set k 3 100 5\r\nhello\r\n");
  Request cas = set;
  cas.command = Command::kCas;
  cas.cas_unique = 42;
  EXPECT_EQ(encoded(cas), "cas k 3 100 5 42\r\nhello\r\n");
  EXPECT_EQ(encoded(req(Command::kGets, {"a", "b"})), "gets a b\r\n");
  Request gat = req(Command::kGat, {"a"});
  gat.exptime = 9;
  EXPECT_EQ(encoded(gat), "gat 9 a\r\n");
  Request del = req(Command::kDelete, {"k"});
  del.noreply = true;
  EXPECT_EQ(encoded(del), "delete k\r\n");
  Request incr = req(Command::kIncr, {"n"});
  incr.delta = 7;
  incr.noreply = true;
  EXPECT_EQ(encoded(incr), "incr n 7\r\n");
  Request touch = req(Command::kTouch, {"t"});
  touch.exptime = -1;
  EXPECT_EQ(encoded(touch), "touch t -1\r\n");
  Request flush = req(Command::kFlushAll, {});
  flush.noreply = true;
  EXPECT_EQ(encoded(flush), "flush_all\r\n");
  flush.args = "10";
  EXPECT_EQ(encoded(flush), "flush_all 10\r\n");
  Request verbosity = req(Command::kVerbosity, {});
  verbosity.args = "1";
  EXPECT_EQ(encoded(verbosity), "verbosity 1\r\n");
  Request stats = req(Command::kStats, {});
  stats.args = "slabs";
  EXPECT_EQ(encoded(stats), "stats slabs\r\n");
  EXPECT_EQ(encoded(req(Command::kVersion, {})), "version\r\n");
  EXPECT_EQ(encoded(req(Command::kQuit, {})), "quit\r\n");
}

TEST(TextEncoderTest, HeadIsTheRequestWithoutItsDataBlock) {
  std::vector<Request> requests = sampleRequests();
  Request negative_ttl = req(Command::kSet, {"k"});
  negative_ttl.exptime = -1;
  negative_ttl.value = "v";
  requests.push_back(negative_ttl);
  Request meta_set = req(Command::kSet, {"k"});  // travels as "ms" (the client wants a cas).
  meta_set.meta.return_cas = true;
  meta_set.value = "meta value";
  requests.push_back(meta_set);
  Request binary_key = req(Command::kAdd, {"a key"});  // base64 in meta form.
  binary_key.value = std::string(600, 'x');
  requests.push_back(binary_key);
  for (const Request& r : requests) {
    std::string whole;
    encodeRequest(r, &whole);
    std::string head = "prefix:";
    encodeRequestHead(r, &head);
    ASSERT_EQ(head.substr(0, 7), "prefix:");
    head.erase(0, 7);
    SCOPED_TRACE(whole);
    if (isStorage(r.command)) {
      EXPECT_EQ(head + r.value + "\r\n", whole);
    } else {
      EXPECT_EQ(head, whole);
    }
  }
  std::string out;
  encodeRequestHead(negative_ttl, &out);
  EXPECT_EQ(out, "set k 0 -1 1\r\n");
}

TEST(TextEncoderTest, MetaGetAsksForSizeValueFlagsAndTtl) {
  EXPECT_EQ(encoded(req(Command::kMetaGet, {"some:key"})), "mg some:key s v f t c\r\n");
}

TEST(TextEncoderTest, NeverEmitsNoreply) {
  for (Request r : sampleRequests()) {
    r.noreply = true;
    EXPECT_EQ(encoded(r).find("noreply"), std::string::npos) << encoded(r);
  }
}

TEST(TextEncoderTest, RequestRoundTripsThroughTheParser) {
  for (const Request& original : sampleRequests()) {
    const std::string wire = encoded(original);
    SCOPED_TRACE(wire);
    TextRequestParser parser;
    Request parsed;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(wire, &parsed, &consumed), ParseStatus::kOk);
    EXPECT_EQ(consumed, wire.size());
    Request expected = original;
    expected.noreply = false;
    expectSameRequest(expected, parsed);
  }
}

TEST(TextEncoderTest, AllRequestsPipelinedRoundTrip) {
  std::string wire;
  const std::vector<Request> requests = sampleRequests();
  for (const Request& r : requests) encodeRequest(r, &wire);
  TextRequestParser parser;
  absl::string_view rest = wire;
  for (const Request& original : requests) {
    Request parsed;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(rest, &parsed, &consumed), ParseStatus::kOk);
    Request expected = original;
    expected.noreply = false;
    expectSameRequest(expected, parsed);
    rest.remove_prefix(consumed);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(TextEncoderTest, ValuesWithoutCasForGetAndGat) {
  Response r = Response::ofType(ResponseType::kValues);
  r.items = {makeItem("a", 1, "xy", 5), makeItem("b", 0, "", 6)};
  const std::string expected = "VALUE a 1 2\r\nxy\r\nVALUE b 0 0\r\n\r\nEND\r\n";
  EXPECT_EQ(encoded(req(Command::kGet, {"a", "b"}), r), expected);
  EXPECT_EQ(encoded(req(Command::kGat, {"a", "b"}), r), expected);
}

TEST(TextEncoderTest, ValuesWithCasForGetsAndGats) {
  Response r = Response::ofType(ResponseType::kValues);
  r.items = {makeItem("a", 1, "xy", 5)};
  const std::string expected = "VALUE a 1 2 5\r\nxy\r\nEND\r\n";
  EXPECT_EQ(encoded(req(Command::kGets, {"a"}), r), expected);
  EXPECT_EQ(encoded(req(Command::kGats, {"a"}), r), expected);
}

TEST(TextEncoderTest, EmptyValuesAndFailedKeysReadAsMisses) {
  Response r = Response::ofType(ResponseType::kValues);
  r.failed_keys = {"lost"};
  EXPECT_EQ(encoded(req(Command::kGet, {"lost"}), r), "END\r\n");
}

TEST(TextEncoderTest, StatusReplies) {
  const Request set = req(Command::kSet, {"k"});
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kStored)), "STORED\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kNotStored)), "NOT_STORED\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kExists)), "EXISTS\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kNotFound)), "NOT_FOUND\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kDeleted)), "DELETED\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kTouched)), "TOUCHED\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kOk)), "OK\r\n");
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kError)), "ERROR\r\n");
  Response number = Response::ofType(ResponseType::kNumber);
  number.text = "12";
  EXPECT_EQ(encoded(req(Command::kIncr, {"n"}), number), "12\r\n");
  Response version = Response::ofType(ResponseType::kVersion);
  version.text = "1.6.21";
  EXPECT_EQ(encoded(req(Command::kVersion, {}), version), "VERSION 1.6.21\r\n");
  Response client_error = Response::ofType(ResponseType::kClientError);
  client_error.text = "bad data chunk";
  EXPECT_EQ(encoded(set, client_error), "CLIENT_ERROR bad data chunk\r\n");
  EXPECT_EQ(encoded(set, Response::serverError("out of memory")), "SERVER_ERROR out of memory\r\n");
}

TEST(TextEncoderTest, UpstreamFailureBecomesServerError) {
  EXPECT_EQ(encoded(req(Command::kGet, {"k"}), Response::upstreamFailure("all hosts down")),
            "SERVER_ERROR all hosts down\r\n");
}

TEST(TextEncoderTest, StatsReply) {
  Response r = Response::ofType(ResponseType::kStats);
  r.stats = {{"pid", "1"}, {"version", "1.6.21"}, {"", "ITEM foo [1 b; 0 s]"}};
  EXPECT_EQ(encoded(req(Command::kStats, {}), r),
            "STAT pid 1\r\nSTAT version 1.6.21\r\nITEM foo [1 b; 0 s]\r\nEND\r\n");
  Response reset = Response::ofType(ResponseType::kOk);
  reset.text = "RESET";
  EXPECT_EQ(encoded(req(Command::kStats, {}), reset), "RESET\r\n");
}

TEST(TextEncoderTest, NoreplyRequestGetsNothing) {
  Request set = req(Command::kSet, {"k"});
  set.noreply = true;
  EXPECT_EQ(encoded(set, Response::ofType(ResponseType::kStored)), "");
  EXPECT_EQ(encoded(set, Response::upstreamFailure("down")), "");
  EXPECT_EQ(encoded(req(Command::kQuit, {}), Response::ofType(ResponseType::kOk)), "");
}

TEST(TextEncoderTest, EncodeResponseAppends) {
  std::string out = "VALUE";
  encodeResponse(req(Command::kSet, {"k"}), Response::ofType(ResponseType::kStored), &out);
  EXPECT_EQ(out, "VALUESTORED\r\n");
}

// Replies the parser reads from an upstream re-encode to the same bytes for the client.
TEST(TextEncoderTest, ResponseRoundTripsThroughTheParser) {
  const std::vector<std::pair<Request, std::string>> cases = {
      {req(Command::kGet, {"k"}), "VALUE k 5 3\r\nabc\r\nEND\r\n"},
      {req(Command::kGets, {"k"}), "VALUE k 5 3 99\r\nabc\r\nEND\r\n"},
      {req(Command::kGet, {"k"}), "END\r\n"},
      {req(Command::kSet, {"k"}), "STORED\r\n"},
      {req(Command::kIncr, {"k"}), "7\r\n"},
      {req(Command::kVersion, {}), "VERSION 1.6.21\r\n"},
      {req(Command::kStats, {}), "STAT pid 1\r\nSTAT curr_items 0\r\nEND\r\n"},
      {req(Command::kStats, {}), "RESET\r\n"},
      {req(Command::kSet, {"k"}), "SERVER_ERROR object too large for cache\r\n"},
      {req(Command::kGet, {"k"}), "CLIENT_ERROR bad command line format\r\n"},
      {req(Command::kSet, {"k"}), "ERROR\r\n"},
      {req(Command::kMetaGet, {"k"}), "VA 3 s3 f5 t-1\r\nabc\r\n"},
      {req(Command::kMetaGet, {"k"}), "EN\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.second);
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(c.second, c.first.command, &response, &consumed), ParseStatus::kOk);
    EXPECT_EQ(encoded(c.first, response), c.second);
  }
}

}  // namespace
}  // namespace mcmesh::codec
