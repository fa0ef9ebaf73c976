// Client limits, each with its counter: -n, idle timeout, value size, keys per get, pipelined
// requests in flight, and over-long command lines.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

class LimitsTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra) {
    auto s = MemcachedServer::start();
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    std::vector<std::string> args = {"-s", server_->address(), "--concurrency=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = McmeshProcess::start(args);
    ASSERT_TRUE(p.ok()) << p.status();
    proxy_ = std::move(*p);
  }

  std::unique_ptr<TextClient> client() {
    auto c = TextClient::connect(proxy_->port());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  std::string counter(const std::string& name) {
    auto c = client();
    auto stats = c->roundTrip("stats proxy\r\n", "END\r\n");
    for (absl::string_view line : absl::StrSplit(stats.value_or(""), "\r\n")) {
      std::string prefix = absl::StrCat("STAT ", name, " ");
      if (absl::StartsWith(line, prefix)) return std::string(line.substr(prefix.size()));
    }
    return "<missing>";
  }

  MemcachedServerPtr server_;
  std::unique_ptr<McmeshProcess> proxy_;
};

TEST_F(LimitsTest, ConnectionsOverTheCapAreToldAndClosed) {
  start({"-n", "3"});
  std::vector<std::unique_ptr<TextClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(client());
    ASSERT_EQ(held.back()->set("k", "v").value_or(""), "STORED");  // accepted and working
  }
  auto extra = client();
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(extra->readLine().value_or(""), "SERVER_ERROR too many connections\r\n");
  EXPECT_FALSE(extra->readLine().ok()) << "the connection must be closed";
  held.pop_back();  // frees a slot
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(counter("rejected_connections"), "1");
  EXPECT_EQ(held[0]->get("k").value_or(std::nullopt).value_or(""), "v");
}

TEST_F(LimitsTest, IdleConnectionsAreClosedAfterTheTimeout) {
  start({"--idle_timeout_s=1"});
  auto idle = client();
  auto busy = client();
  absl::Time end = absl::Now() + absl::Milliseconds(1800);
  while (absl::Now() < end) {
    ASSERT_EQ(busy->set("k", "v").value_or(""), "STORED");
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_FALSE(idle->readLine().ok()) << "idle connection should have been closed";
  EXPECT_EQ(busy->set("k", "v").value_or(""), "STORED") << "active connection must survive";
  EXPECT_EQ(counter("idle_closed"), "1");
}

TEST_F(LimitsTest, OversizedValuesAreRefusedAndTheConnectionContinues) {
  start({"--max_value_bytes=1000"});
  auto c = client();
  std::string big(2000, 'x');
  EXPECT_EQ(c->roundTrip(absl::StrCat("set big 0 0 2000\r\n", big, "\r\n"), "\r\n").value_or(""),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(c->set("small", std::string(1000, 'y')).value_or(""), "STORED");
  EXPECT_EQ(counter("values_too_large"), "1");
}

// Values up to 512 B travel to memcached inside the command's buffer, larger ones are copied into
// the socket buffer on their own (conn_pool.cc), and big replies pass the 16 KiB buffer limit:
// every size must arrive byte for byte, through the proxy and on the server itself.
TEST_F(LimitsTest, ValuesOfEverySizeTravelIntact) {
  start({});
  auto c = client();
  auto direct = TextClient::connect(server_->port());
  ASSERT_TRUE(direct.ok()) << direct.status();
  const std::vector<size_t> sizes = {0, 1, 511, 512, 513, 4096, 16 * 1024 + 1, 65537, 512 * 1024};
  auto valueOf = [](size_t size) {
    std::string v(size, 'x');
    for (size_t i = 0; i < size; ++i) v[i] = "ab\r\n\0 END"[i % 9];  // lines and NULs inside.
    return v;
  };
  for (size_t size : sizes) {
    const std::string key = absl::StrCat("size:", size);
    ASSERT_EQ(c->set(key, valueOf(size)).value_or(""), "STORED") << size;
  }
  for (int round = 0; round < 2; ++round) {  // twice: buffers are reused after shrinking.
    for (size_t size : sizes) {
      const std::string key = absl::StrCat("size:", size);
      auto through_proxy = c->get(key);
      ASSERT_TRUE(through_proxy.ok() && through_proxy->has_value()) << size;
      EXPECT_EQ(**through_proxy, valueOf(size)) << size;
      auto on_server = (*direct)->get(key);
      ASSERT_TRUE(on_server.ok() && on_server->has_value()) << size;
      EXPECT_EQ(**on_server, valueOf(size)) << size;
    }
  }
}

TEST_F(LimitsTest, TooManyKeysInOneGetIsAClientError) {
  start({"--max_keys_per_get=3"});
  auto c = client();
  EXPECT_EQ(c->roundTrip("get a b c\r\n", "END\r\n").value_or(""), "END\r\n");
  EXPECT_EQ(c->roundTrip("get a b c d\r\n", "\r\n").value_or(""),
            "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(c->roundTrip("get a\r\n", "END\r\n").value_or(""), "END\r\n");
  EXPECT_EQ(counter("protocol_errors"), "1");
}

TEST_F(LimitsTest, DeepPipelinesPauseReadingButKeepEveryReplyInOrder) {
  start({"--max_inflight=4"});
  auto c = client();
  ASSERT_EQ(c->set("p", "v").value_or(""), "STORED");
  std::string batch, expected;
  for (int i = 0; i < 200; ++i) {
    if (i % 2 == 0) {
      absl::StrAppend(&batch, "get p\r\n");
      absl::StrAppend(&expected, "VALUE p 0 1\r\nv\r\nEND\r\n");
    } else {
      absl::StrAppend(&batch, "get missing", i, "\r\n");
      absl::StrAppend(&expected, "END\r\n");
    }
  }
  ASSERT_TRUE(c->send(batch).ok());
  std::string got;
  while (got.size() < expected.size()) {
    auto line = c->readLine();
    ASSERT_TRUE(line.ok()) << line.status() << " after " << got.size() << " bytes";
    got += *line;
  }
  EXPECT_EQ(got, expected);
  EXPECT_NE(counter("inflight_limit_pauses"), "0");
}

TEST_F(LimitsTest, EndlessCommandLineClosesTheConnection) {
  start({});
  auto c = client();
  // No newline and far past the 8 KiB line limit: memcached closes such connections silently.
  ASSERT_TRUE(c->send(std::string(64 * 1024, 'z')).ok());
  EXPECT_FALSE(c->readLine().ok());
  EXPECT_EQ(counter("protocol_errors"), "1");
  auto fresh = client();
  EXPECT_EQ(fresh->set("k", "v").value_or(""), "STORED") << "other clients are unaffected";
}

}  // namespace
}  // namespace mcmesh::testing
