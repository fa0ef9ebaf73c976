// Meta commands through mcmesh answer exactly what memcached 1.6.18 answers: each pipeline below
// runs against a memcached reached directly and against mcmesh (2 primaries + a backup), and the
// replies must be byte-identical once cas values (which differ per server) are masked.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

// Masks cas values: "c123" tokens of meta replies and "cas=123" of me replies.
std::string maskCas(const std::string& reply) {
  std::string out;
  size_t i = 0;
  while (i < reply.size()) {
    const bool token_start = i == 0 || reply[i - 1] == ' ';
    if (token_start && reply[i] == 'c' && i + 1 < reply.size() &&
        absl::ascii_isdigit(static_cast<unsigned char>(reply[i + 1]))) {
      out += "c#";
      i += 1;
      while (i < reply.size() && absl::ascii_isdigit(static_cast<unsigned char>(reply[i]))) ++i;
      continue;
    }
    if (token_start && reply.compare(i, 4, "cas=") == 0) {
      out += "cas=#";
      i += 4;
      while (i < reply.size() && absl::ascii_isdigit(static_cast<unsigned char>(reply[i]))) ++i;
      continue;
    }
    out.push_back(reply[i++]);
  }
  return out;
}

// Each pipeline ends with "mn", whose "MN" marks the end of the replies (q hides some).
const char* const kPipelines[] = {
    "set foo 5 0 2\r\nhi\r\nmg foo s v t f c k\r\n",
    "set foo 5 0 2\r\nhi\r\nmg foo\r\nmg foo q\r\nmg foo v q\r\nmg miss q\r\nmg miss\r\n",
    "set foo 5 0 2\r\nhi\r\nmg foo k v Oabc q\r\nmg foo O123456789012345678901234567890123 v\r\n",
    "set foo 5 0 2\r\nhi\r\nmg Zm9v b v\r\nmg !!! b v\r\nmg foo s\r\nmg foo v s\r\n",
    "set foo 5 0 2\r\nhi\r\nmg foo T30 t v\r\nmg foo t\r\n",
    "mg newkey N30 v c t\r\nmg newkey N30 v c t\r\n",
    "set foo 0 0 2\r\nhi\r\nmg foo x\r\nmg foo v v\r\nmg foo Tx v\r\nmg\r\n",
    "ms k1 2\r\nhi\r\nms k1 2 c k Oxy\r\nhi\r\nms k1 2 q\r\nhi\r\nms k1 2 T0 F7 MS\r\nhi\r\n"
    "mg k1 f t v\r\n",
    "ms k2 2 ME\r\nhi\r\nms k2 2 ME\r\nhi\r\nms k2 2 ME q\r\nhi\r\n",
    "ms k3 2 MR\r\nhi\r\nms k3 2 MA\r\nhi\r\nms k1 2\r\nhi\r\nms k1 2 MA c\r\n!!\r\n"
    "ms k1 2 MP\r\n<<\r\nmg k1 v\r\n",
    "ms k1 2\r\nhi\r\nms k1 2 C1\r\nhi\r\nms k4 2 C1\r\nhi\r\nms k1 2 C1 q\r\nhi\r\n",
    "ms k1 2 Mz\r\nhi\r\nms k1 2 MS Mz\r\nhi\r\nms k1 x\r\nhi\r\nms k1 2\r\nhiX\r\nms k1\r\n",
    "ms Zm9v 2 b k c\r\nhi\r\nmg foo v\r\nms k1 2 Tabc\r\nhi\r\nms k1 2 S5\r\nhi\r\n",
    "ms fk 2\r\nhi\r\nms fk 2 ME c Oa k\r\nhi\r\nms fk 2 C1 c Oa k\r\nhi\r\n"
    "ms nofk 2 C1 c Oa k\r\nhi\r\nms nofk 2 MR c Oa k\r\nhi\r\n",
    "ms d1 2\r\nhi\r\nmd d1\r\nmd d1\r\nmd d1 q\r\nms d1 2\r\nhi\r\nmd d1 q k Oa\r\n",
    "ms d1 2\r\nhi\r\nmd d1 C1\r\nmd ZDE= b k Oz\r\nmd d1 x\r\nmd d1 I T30\r\nmg d1 v\r\n",
    "ma n1\r\nma n1 q\r\nma n1 N0 J10 v c t\r\nma n1 N0 J10 v c t\r\nma n1 D5 v\r\n"
    "ma n1 MD D100 v\r\nma n1 M- v\r\nma n1 M+ D3 v\r\nma n1 MI\r\nma n1 q\r\nma n1 q v\r\n",
    "ms n1 1\r\n1\r\nma n1 C1 v\r\nma n1 Mx\r\nma n1 Dabc\r\nms nn 2\r\nhi\r\nma nn v\r\n"
    "ma n1 T30 t v\r\nma n1 k Oq v\r\n",
    "ma n2 N0 J18446744073709551615 v\r\nma n2 v\r\n",
    "ma nofk Oa k t c v\r\nms fn 1\r\n5\r\nma fn Oa k t c\r\nma fn Oa k t c v\r\n",
    "ms e1 2\r\nhi\r\nme e1x\r\nme\r\nme e1 b\r\n",
    "mg miss O1 k v\r\nmg miss O1 k v q\r\nmn x\r\n",
    "md k 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\n"
    "mg a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n",
    "set t 0 0 1\r\na\r\nmg t v\r\nget t\r\nmg t v f k\r\n",
};

class MetaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&reference_, &primary1_, &primary2_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    auto proxy = McmeshProcess::start({"-s", primary1_->address(), "-s", primary2_->address(),
                                       "-b", backup_->address(), "--concurrency=2"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }

  // Sends `pipeline` + "mn" on a fresh connection after emptying the server(s).
  std::string run(int port, const std::string& pipeline) {
    auto client = TextClient::connect(port);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return "";
    auto flushed = (*client)->roundTrip("flush_all\r\n", "\r\n");
    EXPECT_TRUE(flushed.ok() && *flushed == "OK\r\n");
    auto reply = (*client)->roundTrip(pipeline + "mn\r\n", "MN\r\n");
    EXPECT_TRUE(reply.ok()) << reply.status() << " for " << pipeline;
    return reply.ok() ? maskCas(*reply) : "";
  }

  MemcachedServerPtr reference_, primary1_, primary2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
};

TEST_F(MetaParityTest, EveryPipelineAnswersLikeMemcached) {
  for (const char* pipeline : kPipelines) {
    SCOPED_TRACE(absl::CEscape(pipeline));
    const std::string expected = run(reference_->port(), pipeline);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(absl::CEscape(run(proxy_->port(), pipeline)), absl::CEscape(expected));
  }
}

TEST_F(MetaParityTest, QuietGetsAcrossBothPrimariesEndAtTheNoop) {
  // Keys spread over both primaries; only hits answer, in request order, then MN.
  std::string sets, gets, expected;
  for (int i = 0; i < 40; ++i) {
    const std::string key = absl::StrCat("spread", i);
    if (i % 3 != 0) {
      absl::StrAppend(&sets, "ms ", key, " 1 T0\r\n", i % 10, "\r\n");
      absl::StrAppend(&expected, "VA 1 k", key, " O", i, "\r\n", i % 10, "\r\n");
    }
    absl::StrAppend(&gets, "mg ", key, " v k O", i, " q\r\n");
  }
  auto client = TextClient::connect(proxy_->port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->send(sets).ok());
  for (int i = 0; i < 40; ++i) {
    if (i % 3 != 0) ASSERT_EQ(*(*client)->readLine(), "HD\r\n");
  }
  EXPECT_EQ(*(*client)->roundTrip(gets + "mn\r\n", "MN\r\n"), expected + "MN\r\n");
}

}  // namespace
}  // namespace mcmesh::testing
