// Checks the integration harness itself: real memcached lifecycle, TextClient and ChildProcess.
#include <csignal>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"

namespace mcmesh::testing {
namespace {

TEST(HarnessTest, SetAndGetThroughRealMemcached) {
  absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), "127.0.0.1:" + std::to_string((*server)->port()));

  absl::StatusOr<TextClientPtr> client = TextClient::connect((*server)->port());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> stored = (*client)->set("greeting", "hello\r\nworld", 42);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, "STORED");

  absl::StatusOr<std::optional<std::string>> hit = (*client)->get("greeting");
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_EQ(*hit, std::optional<std::string>("hello\r\nworld"));

  absl::StatusOr<std::optional<std::string>> miss = (*client)->get("absent");
  ASSERT_TRUE(miss.ok()) << miss.status();
  EXPECT_FALSE(miss->has_value());

  absl::StatusOr<std::string> raw = (*client)->roundTrip("get greeting\r\n", "END\r\n");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, "VALUE greeting 42 12\r\nhello\r\nworld\r\nEND\r\n");
}

TEST(HarnessTest, RestartKeepsPortAndEmptiesCache) {
  absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start();
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  const pid_t first_pid = (*server)->pid();
  {
    absl::StatusOr<TextClientPtr> client = TextClient::connect(port);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_EQ(*(*client)->set("k", "v"), "STORED");
  }
  (*server)->kill();
  EXPECT_EQ((*server)->pid(), -1);
  EXPECT_FALSE(TextClient::connect(port).ok());

  ASSERT_TRUE((*server)->restart().ok());
  EXPECT_EQ((*server)->port(), port);
  EXPECT_NE((*server)->pid(), first_pid);
  absl::StatusOr<TextClientPtr> client = TextClient::connect(port);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::optional<std::string>> value = (*client)->get("k");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_FALSE(value->has_value());
}

TEST(HarnessTest, ReadTimesOutInsteadOfHanging) {
  absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<TextClientPtr> client =
      TextClient::connect((*server)->port(), absl::Milliseconds(200));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> line = (*client)->readLine();  // Nothing was asked: no reply.
  EXPECT_EQ(line.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HarnessTest, StartOnExplicitPort) {
  const int port = pickFreePort();
  ASSERT_GT(port, 0);
  absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start(port);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->port(), port);
  EXPECT_TRUE(waitForPort(port, absl::Seconds(1)));
}

// Any 127/8 address is loopback on Linux; tests use them to run servers on the default port.
TEST(HarnessTest, ListensOnAnotherLoopbackAddress) {
  absl::StatusOr<MemcachedServerPtr> server = MemcachedServer::start(0, "127.0.0.2");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->host(), "127.0.0.2");
  EXPECT_EQ((*server)->address(), "127.0.0.2:" + std::to_string((*server)->port()));
  EXPECT_TRUE(waitForAddress("127.0.0.2", (*server)->port(), absl::Seconds(1)));
  absl::StatusOr<TextClientPtr> client = TextClient::connectTo("127.0.0.2", (*server)->port());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(*(*client)->set("k", "v"), "STORED");
  EXPECT_FALSE(TextClient::connectTo("not-an-ip", (*server)->port()).ok());
}

TEST(HarnessTest, ChildProcessStopAndMissingBinary) {
  absl::StatusOr<ChildProcessPtr> sleeper = ChildProcess::start({"/bin/sleep", "30"});
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  EXPECT_TRUE((*sleeper)->running());
  (*sleeper)->stop();
  EXPECT_FALSE((*sleeper)->running());
  ASSERT_TRUE((*sleeper)->waitStatus().has_value());
  EXPECT_TRUE(WIFSIGNALED(*(*sleeper)->waitStatus()));
  EXPECT_EQ(WTERMSIG(*(*sleeper)->waitStatus()), SIGTERM);

  absl::StatusOr<ChildProcessPtr> missing = ChildProcess::start({"/nonexistent/binary"});
  EXPECT_FALSE(missing.ok());
}

// Under --config=asan/tsan a child stops at its first sanitizer report with exit code 86: reaping
// it must fail the test even if the test never looks at the child's exit status.
TEST(HarnessTest, ChildStoppedByASanitizerFailsTheTest) {
  absl::StatusOr<ChildProcessPtr> child = ChildProcess::start(
      {"/bin/sh", "-c", absl::StrCat("echo report >&2; exit ", ChildProcess::kSanitizerExitCode)});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_NONFATAL_FAILURE((*child)->waitForExit(absl::Seconds(10)),
                          "exited with code 86, the sanitizers' exit code");
  absl::StatusOr<ChildProcessPtr> fine = ChildProcess::start({"/bin/sh", "-c", "exit 3"});
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ((*fine)->waitForExit(absl::Seconds(10)), 3);
}

}  // namespace
}  // namespace mcmesh::testing
