// Meta commands through TextRequestParser: every flag of mg/ms/md/ma/mn/me, every split point,
// and memcached 1.6.18's error replies (each expectation was checked against the real server).
#include <functional>
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

// A request as a meta command produces it: `order` lists the client's flag letters.
Request meta(Command command, std::string key, std::string order,
             const std::function<void(Request&)>& edit = nullptr) {
  Request r;
  r.command = command;
  if (!key.empty()) r.keys.push_back(std::move(key));
  r.meta.meta = true;
  r.meta.order = std::move(order);
  if (edit) edit(r);
  return r;
}

struct Case {
  std::string wire;
  Request expected;
};

std::vector<Case> allMetaCommands() {
  std::vector<Case> c;
  // mg: return flags, touch, base64 keys, flags forwarded verbatim, proxy hints dropped.
  c.push_back({"mg foo\r\n", meta(Command::kGet, "foo", "")});
  c.push_back({"mg foo v\r\n", meta(Command::kGet, "foo", "v")});
  c.push_back({"mg foo v f t c k s h l O123 q\r\n",
               meta(Command::kGets, "foo", "vftckshlO", [](Request& r) {
                 r.meta.opaque = "123";
                 r.meta.quiet = true;
               })});
  c.push_back({"mg foo T30 t v\r\n",
               meta(Command::kGat, "foo", "Ttv", [](Request& r) { r.exptime = 30; })});
  c.push_back({"mg foo T-1 c\r\n",
               meta(Command::kGats, "foo", "Tc", [](Request& r) { r.exptime = -1; })});
  c.push_back({"mg Zm9v b v\r\n",
               meta(Command::kGet, "foo", "v", [](Request& r) { r.meta.base64_key = true; })});
  c.push_back({"mg YSBiDQpj b k\r\n", meta(Command::kGet, "a b\r\nc", "k", [](Request& r) {
                 r.meta.base64_key = true;
               })});
  c.push_back({"mg foo u N30 R10 v\r\n",
               meta(Command::kGet, "foo", "uNRv", [](Request& r) { r.meta.extra = "u N30 R10"; })});
  c.push_back({"mg foo P1 Lpath v\r\n", meta(Command::kGet, "foo", "v")});
  c.push_back({"mg foo I\r\n", meta(Command::kGet, "foo", "I", [](Request& r) {
                 r.meta.extra = "I";
               })});
  c.push_back({"mg foo O\r\n", meta(Command::kGet, "foo", "O")});
  c.push_back({"mg   foo   v  \r\n", meta(Command::kGet, "foo", "v")});
  c.push_back({"mg foo v\n", meta(Command::kGet, "foo", "v")});
  // ms: every mode, cas compare, flags, TTL, return flags.
  c.push_back({"ms k 2\r\nhi\r\n", meta(Command::kSet, "k", "", [](Request& r) {
                 r.value = "hi";
               })});
  c.push_back({"ms k 2 F5 T100 c k O1 q\r\nhi\r\n",
               meta(Command::kSet, "k", "FTckO", [](Request& r) {
                 r.value = "hi";
                 r.flags = 5;
                 r.exptime = 100;
                 r.meta.return_cas = true;
                 r.meta.opaque = "1";
                 r.meta.quiet = true;
               })});
  const std::pair<const char*, Command> modes[] = {{"MS", Command::kSet},
                                                   {"ME", Command::kAdd},
                                                   {"MR", Command::kReplace},
                                                   {"MA", Command::kAppend},
                                                   {"MP", Command::kPrepend}};
  for (const auto& [mode, command] : modes) {
    c.push_back({std::string("ms k 1 ") + mode + "\r\nx\r\n",
                 meta(command, "k", "M", [](Request& r) { r.value = "x"; })});
  }
  c.push_back({"ms k 2 C7\r\nab\r\n", meta(Command::kCas, "k", "C", [](Request& r) {
                 r.value = "ab";
                 r.cas_unique = 7;
               })});
  c.push_back({"ms k 2 MA C7\r\nab\r\n", meta(Command::kAppend, "k", "MC", [](Request& r) {
                 r.value = "ab";
                 r.cas_unique = 7;
               })});
  c.push_back({"ms k 1 I\r\nx\r\n", meta(Command::kSet, "k", "I", [](Request& r) {
                 r.value = "x";
                 r.meta.extra = "I";
               })});
  c.push_back({"ms AAE= 1 b\r\nx\r\n", meta(Command::kSet, std::string("\0\x01", 2), "",
                                            [](Request& r) {
                                              r.value = "x";
                                              r.meta.base64_key = true;
                                            })});
  c.push_back({"ms k 0\r\n\r\n", meta(Command::kSet, "k", "")});
  c.push_back({"ms k 4 P1\r\na\r\nb\r\n", meta(Command::kSet, "k", "", [](Request& r) {
                 r.value = "a\r\nb";
               })});
  // md.
  c.push_back({"md k\r\n", meta(Command::kDelete, "k", "")});
  c.push_back({"md k q k O1 C5 I T30\r\n", meta(Command::kDelete, "k", "kOCIT", [](Request& r) {
                 r.meta.quiet = true;
                 r.meta.opaque = "1";
                 r.cas_unique = 5;
                 r.meta.extra = "I T30";
               })});
  c.push_back({"md Zm9v b\r\n", meta(Command::kDelete, "foo", "", [](Request& r) {
                 r.meta.base64_key = true;
               })});
  // ma: modes, vivify, initial, delta, cas, return flags, TTL update forwarded.
  c.push_back({"ma k\r\n", meta(Command::kIncr, "k", "", [](Request& r) { r.delta = 1; })});
  c.push_back({"ma k N30 J5 D7 MD C9 v t c k O1 q T60\r\n",
               meta(Command::kDecr, "k", "NJDMCvtckOT", [](Request& r) {
                 r.delta = 7;
                 r.exptime = 30;
                 r.cas_unique = 9;
                 r.meta.vivify = true;
                 r.meta.initial = 5;
                 r.meta.return_cas = true;
                 r.meta.opaque = "1";
                 r.meta.quiet = true;
                 r.meta.extra = "T60";
               })});
  c.push_back({"ma k M+\r\n", meta(Command::kIncr, "k", "M", [](Request& r) { r.delta = 1; })});
  c.push_back({"ma k MI D18446744073709551615\r\n",
               meta(Command::kIncr, "k", "MD", [](Request& r) { r.delta = 18446744073709551615u; })});
  c.push_back({"ma k M-\r\n", meta(Command::kDecr, "k", "M", [](Request& r) { r.delta = 1; })});
  // mn, me.
  c.push_back({"mn\r\n", meta(Command::kNoop, "", "")});
  c.push_back({"mn x y\r\n", meta(Command::kNoop, "", "")});
  c.push_back({"me k\r\n", meta(Command::kMetaDebug, "k", "")});
  c.push_back({"me k x\r\n", meta(Command::kMetaDebug, "k", "")});
  c.push_back({"me Zm9v b\r\n", meta(Command::kMetaDebug, "foo", "", [](Request& r) {
                 r.meta.base64_key = true;
               })});
  return c;
}

TEST(MetaRequestParserTest, ParsesEveryFlagOfEveryMetaCommand) {
  for (const Case& c : allMetaCommands()) {
    SCOPED_TRACE(c.wire);
    TextRequestParser parser;
    Parsed p = parseOnce(parser, c.wire);
    ASSERT_EQ(p.status, ParseStatus::kOk) << parser.errorReply();
    EXPECT_EQ(p.consumed, c.wire.size());
    expectSameRequest(c.expected, p.request);
  }
}

TEST(MetaRequestParserTest, EverySplitPointGivesTheSameRequest) {
  for (const Case& c : allMetaCommands()) {
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

TEST(MetaRequestParserTest, ByteAtATimeMixedWithTextCommands) {
  std::vector<Case> cases = allMetaCommands();
  Request get;
  get.command = Command::kGet;
  get.keys = {"plain"};
  std::vector<Case> mixed;
  for (Case& c : cases) {
    mixed.push_back(std::move(c));
    mixed.push_back({"get plain\r\n", get});  // Text and meta share a connection.
  }
  std::string wire;
  for (const Case& c : mixed) wire += c.wire;
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
      ASSERT_LT(next, mixed.size());
      SCOPED_TRACE(mixed[next].wire);
      expectSameRequest(mixed[next].expected, request);
      ++next;
    } else {
      ASSERT_EQ(status, ParseStatus::kNeedMore);
    }
  }
  EXPECT_EQ(next, mixed.size());
  EXPECT_TRUE(buffer.empty());
}

TEST(MetaRequestParserTest, ReusedRequestIsResetBetweenCommands) {
  TextRequestParser parser;
  Request request;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("ma k N30 J5 v c O9 q\r\n", &request, &consumed), ParseStatus::kOk);
  ASSERT_EQ(parser.parse("get x\r\n", &request, &consumed), ParseStatus::kOk);
  Request expected;
  expected.command = Command::kGet;
  expected.keys = {"x"};
  expectSameRequest(expected, request);
}

// --- Errors ---

struct ErrorCase {
  std::string wire;
  std::string reply;
  size_t consumed;  // bytes dropped (the line, plus an ms data block memcached swallows).
};

void expectError(const ErrorCase& c) {
  SCOPED_TRACE(c.wire);
  TextRequestParser parser;
  // A following command must parse: nothing more and nothing less was dropped.
  const std::string wire = c.wire + "get a\r\n";
  Parsed p = parseOnce(parser, wire);
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), c.reply);
  EXPECT_FALSE(parser.shouldClose());
  EXPECT_EQ(p.consumed, c.consumed);
  Parsed after = parseOnce(parser, absl::string_view(wire).substr(p.consumed));
  ASSERT_EQ(after.status, ParseStatus::kOk);
  Request get;
  get.command = Command::kGet;
  get.keys = {"a"};
  expectSameRequest(get, after.request);
}

size_t len(absl::string_view s) { return s.size(); }

const char kError[] = "ERROR\r\n";
const char kBadFormat[] = "CLIENT_ERROR bad command line format\r\n";
const char kBadToken[] = "CLIENT_ERROR bad token in command line format\r\n";
const char kInvalidFlag[] = "CLIENT_ERROR invalid flag\r\n";
const char kDuplicate[] = "CLIENT_ERROR duplicate flag\r\n";
const char kInvalidOrDuplicate[] = "CLIENT_ERROR invalid or duplicate flag\r\n";

TEST(MetaRequestParserErrorTest, MissingKeyOrUnknownMetaCommand) {
  for (const char* wire : {"mg\r\n", "md\r\n", "ma\r\n", "ms\r\n", "mg   \r\n", "mz foo\r\n"}) {
    expectError({wire, kError, len(wire)});
  }
  expectError({"me\r\n", kBadFormat, 4});
  expectError({"ms k\r\n", kBadFormat, 6});
}

TEST(MetaRequestParserErrorTest, KeyTooLong) {
  const std::string key(251, 'k');
  for (const char* command : {"mg ", "md ", "ma ", "me "}) {
    const std::string wire = command + key + " v\r\n";
    expectError({wire, kBadFormat, wire.size()});
  }
  const std::string ms = "ms " + key + " 1\r\n";
  expectError({ms, kBadFormat, ms.size()});  // Refused before the length: nothing swallowed.
  expectError({"mg " + std::string(250, 'k') + " x\r\n", kInvalidFlag, 257});
}

TEST(MetaRequestParserErrorTest, TooManyFlags) {
  const std::string flags = " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18";
  const std::string mg = "mg k" + flags + "\r\n";
  expectError({mg, "CLIENT_ERROR options flags are too long\r\n", mg.size()});
  for (const char* command : {"md k", "ma k", "ms k 1"}) {
    const std::string wire = command + flags + "\r\n";
    expectError({wire, "CLIENT_ERROR options flags too long\r\n", wire.size()});
  }
  // 17 flags fit (memcached counts the command, the key and a terminal token: 20 in all).
  TextRequestParser parser;
  Request r;
  size_t consumed = 0;
  EXPECT_EQ(parser.parse("mg k v f t c k s O1 h l u q P L T1 N1 R1 I\r\n", &r, &consumed),
            ParseStatus::kOk);
}

TEST(MetaRequestParserErrorTest, MgFlagErrorsAreMemcachedsOwn) {
  const std::pair<const char*, const char*> cases[] = {
      {"mg foo x\r\n", kInvalidFlag},
      {"mg foo v v\r\n", kDuplicate},
      {"mg foo Tx v\r\n", kBadToken},
      {"mg foo N\r\n", kBadToken},
      {"mg foo R1x\r\n", kBadToken},
      {"mg foo C-1\r\n", kBadToken},
      {"mg foo MSS\r\n", "CLIENT_ERROR incorrect length for M token\r\n"},
      {"mg foo Jx\r\n", "CLIENT_ERROR invalid numeric initial value\r\n"},
      {"mg foo D-1\r\n", "CLIENT_ERROR invalid numeric delta value\r\n"},
      {"mg !!! b v\r\n", "CLIENT_ERROR error decoding key\r\n"},
      {"mg foo b\r\n", "CLIENT_ERROR error decoding key\r\n"},
      {"mg foo O123456789012345678901234567890123 v\r\n", "CLIENT_ERROR opaque token too long\r\n"},
      {"mg foo \x7f\r\n", kDuplicate},  // memcached's check for bytes past ASCII.
      // A bad token is remembered and the scan goes on: a later unknown flag wins.
      {"mg foo Tx x\r\n", kInvalidFlag},
      {"mg foo Tx v q\r\n", kBadToken},  // q does not hide errors.
  };
  for (const auto& [wire, reply] : cases) expectError({wire, reply, len(wire)});
}

TEST(MetaRequestParserErrorTest, MdAndMaAnswerOneLineForEveryFlagError) {
  for (const char* wire : {"md foo x\r\n", "md foo q q\r\n", "md foo Cx\r\n", "md foo O1 O2\r\n",
                           "md foo Tx\r\n", "md d1 b\r\n", "ma foo v v\r\n", "ma foo Nx\r\n",
                           "ma foo Jx N0\r\n", "ma foo Dabc\r\n", "ma foo b\r\n", "ma foo MII\r\n"}) {
    expectError({wire, kInvalidOrDuplicate, len(wire)});
  }
  const std::string long_opaque = "md k O123456789012345678901234567890123\r\n";
  expectError({long_opaque, "CLIENT_ERROR opaque token too long\r\n", long_opaque.size()});
  expectError({"ma k Mx\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", 9});
  expectError({"ma k Mi\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", 9});
}

// Deliberate difference, as for text set: memcached truncates client flags above 2^32-1.
TEST(MetaRequestParserErrorTest, FlagsAbove32BitsAreRefused) {
  expectError({"ms k 1 F4294967296\r\nx\r\n", kBadFormat, 23});
}

TEST(MetaRequestParserErrorTest, MeErrors) {
  expectError({"me k b x\r\n", kBadFormat, 10});
  expectError({"me !!! b\r\n", kBadFormat, 10});
}

TEST(MetaRequestParserErrorTest, MsRefusedAfterItsLengthSwallowsTheDataBlock) {
  const std::pair<const char*, const char*> cases[] = {
      {"ms k 2 Mz\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n"},
      {"ms k 2 Ms\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n"},
      {"ms k 2 MS Mz\r\nhi\r\n", kDuplicate},
      {"ms k 2 MEx\r\nhi\r\n", "CLIENT_ERROR incorrect length for M token\r\n"},
      {"ms k 2 Fx\r\nhi\r\n", kBadFormat},
      {"ms k 2 Tabc\r\nhi\r\n", kBadToken},
      {"ms k 2 S5\r\nhi\r\n", kInvalidFlag},
      {"ms foo 2 b\r\nhi\r\n", "CLIENT_ERROR error decoding key\r\n"},
      {"ms k 2 O123456789012345678901234567890123\r\nhi\r\n",
       "CLIENT_ERROR opaque token too long\r\n"},
      {"ms k 2 q Mz\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n"},
  };
  for (const auto& [wire, reply] : cases) expectError({wire, reply, len(wire)});
}

TEST(MetaRequestParserErrorTest, MsBadLengthSwallowsNothing) {
  expectError({"ms k x\r\n", kBadFormat, 8});
  expectError({"ms k -1\r\n", kBadFormat, 9});
  expectError({"ms k 2147483646\r\n", kBadFormat, 17});
}

TEST(MetaRequestParserErrorTest, MsBadDataChunk) {
  // Like set: the length's worth plus two bytes are consumed, then checked for "\r\n".
  TextRequestParser parser;
  Parsed p = parseOnce(parser, "ms k 2\r\nhiX\r\nmn\r\n");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), "CLIENT_ERROR bad data chunk\r\n");
  EXPECT_EQ(p.consumed, 12u);
}

TEST(MetaRequestParserErrorTest, MsTooLargeIsRefusedAndSwallowedAcrossReads) {
  ParseLimits limits;
  limits.max_value_bytes = 10;
  TextRequestParser parser(limits);
  const std::string line = "ms k 11 T0\r\n";
  Parsed p = parseOnce(parser, line + "0123");
  ASSERT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(parser.errorReply(), "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(p.consumed, line.size() + 4);
  // The rest of the block (7 bytes + "\r\n") arrives later and is dropped.
  Parsed more = parseOnce(parser, "45678");
  EXPECT_EQ(more.status, ParseStatus::kNeedMore);
  EXPECT_EQ(more.consumed, 5u);
  Parsed last = parseOnce(parser, "9X\r\nmn\r\n");
  ASSERT_EQ(last.status, ParseStatus::kOk);
  EXPECT_EQ(last.request.command, Command::kNoop);
  EXPECT_EQ(last.consumed, 8u);
}

}  // namespace
}  // namespace mcmesh::codec
