// Meta form both ways: replies to meta clients (memcached 1.6.18's bytes), requests to memcached
// in meta form (flags in the client's order, fields from the request) and memcached's replies.
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "codec/text_codec.h"
#include "gtest/gtest.h"
#include "tests/unit/codec/codec_test_util.h"

namespace mcmesh::codec {
namespace {

// Parses one client command line (which must be accepted).
Request parsed(absl::string_view wire) {
  TextRequestParser parser;
  Request request;
  size_t consumed = 0;
  EXPECT_EQ(parser.parse(wire, &request, &consumed), ParseStatus::kOk) << wire;
  EXPECT_EQ(consumed, wire.size()) << wire;
  return request;
}

std::string reply(absl::string_view wire, const Response& response) {
  std::string out;
  encodeResponse(parsed(wire), response, &out);
  return out;
}

Response hit(Item item) {
  Response r = Response::ofType(ResponseType::kValues);
  r.items.push_back(std::move(item));
  return r;
}

// A write reply as memcached reports the stored item (cas, ttl).
Response written(ResponseType type, uint64_t cas, int64_t ttl = -1, std::string number = "") {
  Response r = typed(type, std::move(number));
  r.items.push_back(makeItem("", 0, "", cas, ttl));
  return r;
}

const Response kMiss = Response::ofType(ResponseType::kValues);

// --- Replies to meta clients ---

TEST(MetaReplyTest, MgHitReturnsFlagsInTheClientsOrder) {
  const Response r = hit(makeItem("foo", 5, "hi", 189, -1, "s2 h1 l0"));
  EXPECT_EQ(reply("mg foo s v t f c k\r\n", r), "VA 2 s2 t-1 f5 c189 kfoo\r\nhi\r\n");
  EXPECT_EQ(reply("mg foo k v Oabc q\r\n", r), "VA 2 kfoo Oabc\r\nhi\r\n");
  EXPECT_EQ(reply("mg foo\r\n", r), "HD\r\n");
  EXPECT_EQ(reply("mg foo q\r\n", r), "HD\r\n");  // q hides only the miss.
  EXPECT_EQ(reply("mg foo h l t\r\n", r), "HD h1 l0 t-1\r\n");
  EXPECT_EQ(reply("mg foo O\r\n", r), "HD O\r\n");
  EXPECT_EQ(reply("mg foo T30 t v\r\n", hit(makeItem("foo", 0, "hi", 0, 30))), "VA 2 t30\r\nhi\r\n");
}

TEST(MetaReplyTest, MgSizeComesFromMemcachedOrFromTheValue) {
  EXPECT_EQ(reply("mg foo s\r\n", hit(makeItem("foo", 0, "", 0, -1, "s7"))), "HD s7\r\n");
  // An item found elsewhere (failover) carries no s token: the value's size stands in.
  EXPECT_EQ(reply("mg foo s v\r\n", hit(makeItem("foo", 0, "abc"))), "VA 3 s3\r\nabc\r\n");
}

TEST(MetaReplyTest, MgRecacheFlagsComeLast) {
  EXPECT_EQ(reply("mg k N30 v c t\r\n", hit(makeItem("k", 0, "", 190, 30, "W"))),
            "VA 0 c190 t30 W\r\n\r\n");
  EXPECT_EQ(reply("mg k c\r\n", hit(makeItem("k", 0, "", 7, -1, "Z X"))), "HD c7 Z X\r\n");
}

TEST(MetaReplyTest, MgMissSaysEnWithOpaqueAndKeyUnlessQuiet) {
  EXPECT_EQ(reply("mg miss\r\n", kMiss), "EN\r\n");
  EXPECT_EQ(reply("mg miss O1 k v c\r\n", kMiss), "EN O1 kmiss\r\n");
  EXPECT_EQ(reply("mg miss O1 k v q\r\n", kMiss), "");
}

TEST(MetaReplyTest, Base64KeysComeBackAsTheClientSpelledThem) {
  EXPECT_EQ(reply("mg YSBi b k v\r\n", hit(makeItem("a b", 0, "x"))), "VA 1 kYSBi b\r\nx\r\n");
  EXPECT_EQ(reply("mg YSBi b k\r\n", kMiss), "EN kYSBi b\r\n");
  EXPECT_EQ(reply("ms Zm9v 2 b k c\r\nhi\r\n", written(ResponseType::kStored, 266)),
            "HD kZm9v b c266\r\n");
  EXPECT_EQ(reply("md ZDE= b k Oz\r\n", typed(ResponseType::kDeleted)), "HD kZDE= b Oz\r\n");
}

TEST(MetaReplyTest, MsCodes) {
  EXPECT_EQ(reply("ms k 2\r\nhi\r\n", typed(ResponseType::kStored)), "HD\r\n");
  EXPECT_EQ(reply("ms k1 2 c k Oxy\r\nhi\r\n", written(ResponseType::kStored, 192)),
            "HD c192 kk1 Oxy\r\n");
  EXPECT_EQ(reply("ms k 2 q\r\nhi\r\n", written(ResponseType::kStored, 1)), "");
  // Failures always answer, with c0 as memcached sends.
  EXPECT_EQ(reply("ms fk 2 ME c Oa k\r\nhi\r\n", typed(ResponseType::kNotStored)),
            "NS c0 Oa kfk\r\n");
  EXPECT_EQ(reply("ms fk 2 C1 c Oa k\r\nhi\r\n", typed(ResponseType::kExists)), "EX c0 Oa kfk\r\n");
  EXPECT_EQ(reply("ms nofk 2 C1 c Oa k\r\nhi\r\n", typed(ResponseType::kNotFound)),
            "NF c0 Oa knofk\r\n");
  EXPECT_EQ(reply("ms k 2 ME q\r\nhi\r\n", typed(ResponseType::kNotStored)), "NS\r\n");
  // Flags ms ignores are not returned.
  EXPECT_EQ(reply("ms k 2 f t s\r\nhi\r\n", written(ResponseType::kStored, 3)), "HD\r\n");
}

TEST(MetaReplyTest, MdCodes) {
  EXPECT_EQ(reply("md d1\r\n", typed(ResponseType::kDeleted)), "HD\r\n");
  EXPECT_EQ(reply("md d1 q k Oa\r\n", typed(ResponseType::kDeleted)), "");
  EXPECT_EQ(reply("md nofk Oa k\r\n", typed(ResponseType::kNotFound)), "NF Oa knofk\r\n");
  EXPECT_EQ(reply("md d1 q\r\n", typed(ResponseType::kNotFound)), "NF\r\n");
  EXPECT_EQ(reply("md fk C1 Oa k\r\n", typed(ResponseType::kExists)), "EX Oa kfk\r\n");
}

TEST(MetaReplyTest, MaCodes) {
  EXPECT_EQ(reply("ma n1 N0 J10 v c t\r\n", written(ResponseType::kNumber, 202, -1, "10")),
            "VA 2 c202 t-1\r\n10\r\n");
  EXPECT_EQ(reply("ma fn Oa k t c\r\n", written(ResponseType::kNumber, 242, -1, "7")),
            "HD Oa kfn t-1 c242\r\n");
  EXPECT_EQ(reply("ma n1 MI\r\n", typed(ResponseType::kNumber)), "HD\r\n");
  EXPECT_EQ(reply("ma n1 q\r\n", typed(ResponseType::kNumber, "3")), "");
  EXPECT_EQ(reply("ma n1 q v\r\n", typed(ResponseType::kNumber, "3")), "");
  // Failures carry only O and k.
  EXPECT_EQ(reply("ma nofk Oa k t c v\r\n", typed(ResponseType::kNotFound)), "NF Oa knofk\r\n");
  EXPECT_EQ(reply("ma n1 q\r\n", typed(ResponseType::kNotFound)), "NF\r\n");
  EXPECT_EQ(reply("ma fk C1 Oa k v\r\n", typed(ResponseType::kExists)), "EX Oa kfk\r\n");
  EXPECT_EQ(reply("ma k N0 v\r\n", typed(ResponseType::kNotStored)), "NS\r\n");
  EXPECT_EQ(reply("ma nn v\r\n", typed(ResponseType::kClientError,
                                       "cannot increment or decrement non-numeric value")),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
}

TEST(MetaReplyTest, MnAndMe) {
  EXPECT_EQ(reply("mn\r\n", typed(ResponseType::kOk)), "MN\r\n");
  EXPECT_EQ(reply("me e1\r\n", typed(ResponseType::kDebug, "exp=-1 la=0 cas=216 fetch=no cls=1 size=63")),
            "ME e1 exp=-1 la=0 cas=216 fetch=no cls=1 size=63\r\n");
  EXPECT_EQ(reply("me nope\r\n", typed(ResponseType::kNotFound)), "EN\r\n");
}

TEST(MetaReplyTest, ErrorsAnswerEvenWhenQuiet) {
  EXPECT_EQ(reply("mg k v q\r\n", Response::upstreamFailure("server 10.0.0.1:11211 is down")),
            "SERVER_ERROR server 10.0.0.1:11211 is down\r\n");
  EXPECT_EQ(reply("ms k 1 q\r\nx\r\n", Response::serverError("out of memory storing object")),
            "SERVER_ERROR out of memory storing object\r\n");
  EXPECT_EQ(reply("md k q\r\n", typed(ResponseType::kError)), "ERROR\r\n");
  EXPECT_EQ(reply("mg k\r\n", typed(ResponseType::kStored)),
            "SERVER_ERROR unexpected reply from server\r\n");
}

// --- Requests to memcached ---

std::string upstream(const Request& request, ReplyContext* context = nullptr) {
  std::string out = "prefix:";
  encodeRequest(request, &out, context);
  EXPECT_EQ(out.substr(0, 7), "prefix:");
  return out.substr(7);
}

TEST(MetaUpstreamTest, MetaClientsFlagsGoUpstreamInTheirOrderWithoutQOAndK) {
  const std::pair<const char*, const char*> cases[] = {
      {"mg foo T30 t v O1 k q\r\n", "mg foo T30 t v\r\n"},
      {"mg foo t T30\r\n", "mg foo t T30\r\n"},  // Order changes what memcached reports.
      {"mg foo u N30 v c P1 Lx\r\n", "mg foo u N30 v c\r\n"},
      {"mg foo s h l f\r\n", "mg foo s h l f\r\n"},
      {"mg Zm9v b v\r\n", "mg foo v\r\n"},  // A text-safe decoded key travels as is.
      {"mg YSBi b v\r\n", "mg YSBi b v\r\n"},
      {"ms k 2 c F5 T100 ME\r\nhi\r\n", "ms k 2 c F5 T100 ME\r\nhi\r\n"},
      {"ms k 2 C7 q k Oz\r\nhi\r\n", "ms k 2 C7\r\nhi\r\n"},
      {"ms k 2 I MS\r\nhi\r\n", "ms k 2 I MS\r\nhi\r\n"},
      {"ms k 2 v\r\nhi\r\n", "ms k 2 v\r\nhi\r\n"},
      {"md k C5 I T30 q\r\n", "md k C5 I T30\r\n"},
      {"md k\r\n", "md k\r\n"},
      {"ma k N30 J5 D7 MD v c t\r\n", "ma k N30 J5 D7 MD v c t\r\n"},
      {"ma k T60 t v\r\n", "ma k T60 t v D1\r\n"},
      {"ma k\r\n", "ma k D1\r\n"},
      {"me k\r\n", "me k\r\n"},
  };
  for (const auto& [client, server] : cases) {
    EXPECT_EQ(upstream(parsed(client)), server) << client;
  }
}

Request keyed(Command command, std::string key) {
  Request r;
  r.command = command;
  r.keys.push_back(std::move(key));
  return r;
}

TEST(MetaUpstreamTest, BinaryClientRequestsUseMetaOnlyWhereTextFallsShort) {
  Request set = keyed(Command::kSet, "k");
  set.value = "hi";
  set.flags = 3;
  set.exptime = 10;
  EXPECT_EQ(upstream(set), "set k 3 10 2\r\nhi\r\n");
  set.meta.return_cas = true;  // A binary set must report the new cas.
  EXPECT_EQ(upstream(set), "ms k 2 F3 T10 c\r\nhi\r\n");
  Request cas = set;
  cas.command = Command::kCas;
  cas.cas_unique = 9;
  EXPECT_EQ(upstream(cas), "ms k 2 F3 T10 C9 c\r\nhi\r\n");
  Request add = set;
  add.command = Command::kAdd;
  EXPECT_EQ(upstream(add), "ms k 2 F3 T10 ME c\r\nhi\r\n");
  Request append = keyed(Command::kAppend, "k");
  append.value = "x";
  append.cas_unique = 5;  // A compare text append cannot express.
  EXPECT_EQ(upstream(append), "ms k 1 MA C5\r\nx\r\n");
  Request del = keyed(Command::kDelete, "k");
  EXPECT_EQ(upstream(del), "delete k\r\n");
  del.cas_unique = 5;
  EXPECT_EQ(upstream(del), "md k C5\r\n");
  Request incr = keyed(Command::kIncr, "k");
  incr.delta = 1;
  incr.meta.vivify = true;
  incr.meta.initial = 7;
  incr.meta.return_cas = true;
  EXPECT_EQ(upstream(incr), "ma k N0 J7 D1 v c\r\n");
  Request decr = keyed(Command::kDecr, "k");
  decr.delta = 2;
  decr.meta.return_cas = true;
  EXPECT_EQ(upstream(decr), "ma k D2 MD v c\r\n");
  Request touch = keyed(Command::kTouch, "k");
  touch.exptime = 10;
  touch.meta.return_cas = true;
  EXPECT_EQ(upstream(touch), "mg k T10 f c\r\n");
  Request gets = keyed(Command::kGets, "k");
  EXPECT_EQ(upstream(gets), "gets k\r\n");
  gets.keys = {"a b\r\nc"};  // Keys with spaces or control bytes travel base64-encoded.
  EXPECT_EQ(upstream(gets), "mg YSBiDQpj b v f c\r\n");
  Request gats = keyed(Command::kGats, std::string("\0", 1));
  gats.exptime = 5;
  EXPECT_EQ(upstream(gats), "mg AA== b v f c T5\r\n");
  Request big = keyed(Command::kSet, "a b");
  big.value = "v";
  EXPECT_EQ(upstream(big), "ms YSBi 1 b\r\nv\r\n");
  EXPECT_EQ(upstream(keyed(Command::kMetaGet, "a b")), "mg YSBi b s v f t c\r\n");
}

TEST(MetaUpstreamTest, NeedsMetaForm) {
  EXPECT_FALSE(needsMetaForm(keyed(Command::kGet, "k")));
  Request multi = keyed(Command::kGet, "a");
  multi.keys.push_back("b");
  EXPECT_FALSE(needsMetaForm(multi));
  Request flush;
  flush.command = Command::kFlushAll;
  EXPECT_FALSE(needsMetaForm(flush));
  Request cas = keyed(Command::kCas, "k");
  cas.cas_unique = 1;
  EXPECT_FALSE(needsMetaForm(cas));
  EXPECT_TRUE(needsMetaForm(keyed(Command::kMetaGet, "k")));
  EXPECT_TRUE(needsMetaForm(keyed(Command::kMetaDebug, "k")));
  EXPECT_TRUE(needsMetaForm(keyed(Command::kGet, "a b")));
  EXPECT_TRUE(needsMetaForm(parsed("mg k v\r\n")));
  Request extra = keyed(Command::kDelete, "k");
  extra.meta.extra = "I";
  EXPECT_TRUE(needsMetaForm(extra));
}

TEST(MetaUpstreamTest, ContextSaysHowToReadTheReply) {
  ReplyContext context;
  upstream(parsed("mg foo v\r\n"), &context);
  EXPECT_TRUE(context.meta);
  EXPECT_EQ(context.command, Command::kGet);
  EXPECT_EQ(context.key, "foo");
  upstream(parsed("ms k 1\r\nx\r\n"), &context);
  EXPECT_TRUE(context.meta);
  EXPECT_EQ(context.key, "");  // Writes need no key: nothing copied.
  upstream(keyed(Command::kGet, "k"), &context);
  EXPECT_FALSE(context.meta);
  EXPECT_EQ(context.command, Command::kGet);
}

// --- memcached's meta replies ---

struct ReplyCase {
  Command command;
  std::string key;
  std::string wire;
  Response expected;
};

std::vector<ReplyCase> metaReplies() {
  Response values = Response::ofType(ResponseType::kValues);
  std::vector<ReplyCase> c;
  c.push_back({Command::kGet, "foo", "VA 2 f5 c9 t-1 s2 h0 l3 W\r\nhi\r\n",
               hit(makeItem("foo", 5, "hi", 9, -1, "s2 h0 l3 W"))});
  c.push_back({Command::kGets, "foo", "HD f1\r\n", hit(makeItem("foo", 1, ""))});
  c.push_back({Command::kGat, "foo", "VA 0 t30\r\n\r\n", hit(makeItem("foo", 0, "", 0, 30))});
  c.push_back({Command::kGet, "foo", "EN\r\n", values});
  c.push_back({Command::kGet, "foo", "SERVER_ERROR out of memory\r\n",
               typed(ResponseType::kServerError, "out of memory")});
  c.push_back({Command::kTouch, "k", "HD f3 c7\r\n", [] {
                 Response r = typed(ResponseType::kTouched);
                 r.items.push_back(makeItem("k", 3, "", 7));
                 return r;
               }()});
  c.push_back({Command::kTouch, "k", "EN\r\n", typed(ResponseType::kNotFound)});
  c.push_back({Command::kSet, "", "HD c5\r\n", written(ResponseType::kStored, 5, -1)});
  c.push_back({Command::kAdd, "", "HD\r\n", typed(ResponseType::kStored)});
  c.push_back({Command::kAdd, "", "NS c0\r\n", typed(ResponseType::kNotStored)});
  c.push_back({Command::kCas, "", "EX\r\n", typed(ResponseType::kExists)});
  c.push_back({Command::kCas, "", "NF\r\n", typed(ResponseType::kNotFound)});
  c.push_back({Command::kDelete, "", "HD\r\n", typed(ResponseType::kDeleted)});
  c.push_back({Command::kDelete, "", "NF\r\n", typed(ResponseType::kNotFound)});
  c.push_back({Command::kDelete, "", "EX\r\n", typed(ResponseType::kExists)});
  c.push_back({Command::kIncr, "", "VA 2 c5 t-1\r\n10\r\n",
               written(ResponseType::kNumber, 5, -1, "10")});
  c.push_back({Command::kIncr, "", "HD c6\r\n", written(ResponseType::kNumber, 6, -1)});
  c.push_back({Command::kDecr, "", "NF\r\n", typed(ResponseType::kNotFound)});
  c.push_back({Command::kDecr, "", "NS\r\n", typed(ResponseType::kNotStored)});
  c.push_back({Command::kIncr, "", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
               typed(ResponseType::kClientError, "cannot increment or decrement non-numeric value")});
  c.push_back({Command::kMetaDebug, "e1", "ME e1 exp=-1 la=0 cas=216 fetch=no cls=1 size=63\r\n",
               typed(ResponseType::kDebug, "exp=-1 la=0 cas=216 fetch=no cls=1 size=63")});
  c.push_back({Command::kMetaDebug, "e1", "EN\r\n", typed(ResponseType::kNotFound)});
  return c;
}

ReplyContext contextFor(const ReplyCase& c) {
  ReplyContext context;
  context.command = c.command;
  context.meta = true;
  context.key = c.key;
  return context;
}

TEST(MetaUpstreamReplyTest, ParsesEveryReply) {
  for (const ReplyCase& c : metaReplies()) {
    SCOPED_TRACE(c.wire);
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(c.wire, contextFor(c), &response, &consumed), ParseStatus::kOk);
    EXPECT_EQ(consumed, c.wire.size());
    expectSameResponse(c.expected, response);
  }
}

TEST(MetaUpstreamReplyTest, EveryReplySplitAtEveryByte) {
  for (const ReplyCase& c : metaReplies()) {
    for (size_t cut = 0; cut < c.wire.size(); ++cut) {
      SCOPED_TRACE(c.wire + " cut at " + std::to_string(cut));
      TextResponseParser parser;
      Response response;
      size_t consumed = 0;
      EXPECT_EQ(parser.parse(absl::string_view(c.wire).substr(0, cut), contextFor(c), &response,
                             &consumed),
                ParseStatus::kNeedMore);
      EXPECT_EQ(consumed, 0u);
      ASSERT_EQ(parser.parse(c.wire + "HD\r\n", contextFor(c), &response, &consumed),
                ParseStatus::kOk);
      EXPECT_EQ(consumed, c.wire.size());
      expectSameResponse(c.expected, response);
    }
  }
}

TEST(MetaUpstreamReplyTest, MalformedRepliesAreErrors) {
  const std::pair<Command, const char*> cases[] = {
      {Command::kGet, "VA x\r\n"},        {Command::kGet, "VA 1 fX\r\nx\r\n"},
      {Command::kGet, "VA 2\r\nhiX\r\n"}, {Command::kGet, "HDX\r\n"},
      {Command::kGet, "ZZ\r\n"},          {Command::kGet, "NF\r\n"},
      {Command::kSet, "EN\r\n"},          {Command::kSet, "VA 1\r\n1\r\n"},
      {Command::kIncr, "VA 1\r\nx\r\n"},  {Command::kIncr, "VA 0\r\n\r\n"},
      {Command::kTouch, "VA 1\r\nx\r\n"}, {Command::kMetaDebug, "HD\r\n"},
      {Command::kDelete, "HD c1x\r\n"},
  };
  for (const auto& [command, wire] : cases) {
    SCOPED_TRACE(wire);
    ReplyContext context;
    context.command = command;
    context.meta = true;
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    EXPECT_EQ(parser.parse(wire, context, &response, &consumed), ParseStatus::kError);
    EXPECT_EQ(consumed, strlen(wire));
  }
}

TEST(MetaUpstreamReplyTest, RoundTripThroughTheClientEncoder) {
  // memcached's reply to the forwarded command, re-encoded for the client: the same bytes.
  const std::pair<const char*, const char*> cases[] = {
      {"mg foo s v t f c k\r\n", "VA 2 s2 t-1 f5 c189\r\nhi\r\n"},
      {"mg foo h l t\r\n", "HD h1 l0 t-1\r\n"},
      {"mg newkey N30 v c t\r\n", "VA 0 c190 t30 W\r\n\r\n"},
      {"ma fn Oa k t c v\r\n", "VA 1 t-1 c243\r\n7\r\n"},
      {"ms k1 2 c k Oxy\r\nhi\r\n", "HD c192\r\n"},
  };
  const char* expected[] = {"VA 2 s2 t-1 f5 c189 kfoo\r\nhi\r\n", "HD h1 l0 t-1\r\n",
                            "VA 0 c190 t30 W\r\n\r\n", "VA 1 Oa kfn t-1 c243\r\n7\r\n",
                            "HD c192 kk1 Oxy\r\n"};
  for (size_t i = 0; i < std::size(cases); ++i) {
    SCOPED_TRACE(cases[i].first);
    const Request request = parsed(cases[i].first);
    ReplyContext context;
    upstream(request, &context);
    TextResponseParser parser;
    Response response;
    size_t consumed = 0;
    ASSERT_EQ(parser.parse(cases[i].second, context, &response, &consumed), ParseStatus::kOk);
    std::string out;
    encodeResponse(request, response, &out);
    EXPECT_EQ(out, expected[i]);
  }
}

}  // namespace
}  // namespace mcmesh::codec
