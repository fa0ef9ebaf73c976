// One worker, two clients: a client that streams commands the proxy answers itself (meta no-ops)
// as fast as it can must not hold the worker's loop, so another client is still served promptly.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

int connectWithTimeouts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{0, 100 * 1000};  // every send/recv gives up after 100 ms: the threads always stop.
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(FairnessTest, AClientStreamingLocalRepliesDoesNotStarveAnother) {
  auto server = MemcachedServer::start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto proxy = McmeshProcess::start({"-s", (*server)->address(), "--concurrency=1"});
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto other = TextClient::connect((*proxy)->port());
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(*(*other)->set("k", "v"), "STORED");

  int flood = connectWithTimeouts((*proxy)->port());
  ASSERT_GE(flood, 0);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> replied{0};
  std::thread writer([&] {
    std::string chunk;
    for (int i = 0; i < 16384; ++i) chunk += "mn\r\n";
    while (!stop.load()) (void)!::send(flood, chunk.data(), chunk.size(), MSG_NOSIGNAL);
  });
  std::thread reader([&] {
    char buf[1 << 16];
    while (!stop.load()) {
      ssize_t n = ::recv(flood, buf, sizeof(buf), 0);
      if (n > 0) replied += static_cast<uint64_t>(n);
    }
  });

  absl::SleepFor(absl::Milliseconds(200));
  absl::Duration worst;
  int gets = 0;
  absl::Time end = absl::Now() + absl::Seconds(2);
  while (absl::Now() < end) {
    absl::Time start = absl::Now();
    auto v = (*other)->get("k");
    worst = std::max(worst, absl::Now() - start);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->value_or("<miss>"), "v");
    ++gets;
    absl::SleepFor(absl::Milliseconds(20));
  }
  stop = true;
  writer.join();
  reader.join();
  ::close(flood);
  std::cout << "flooding client got " << replied.load() / 4 << " no-op replies; the other client's "
            << gets << " gets took at most " << worst << "\n";
  EXPECT_GT(replied.load(), 0u) << "the flood must actually have been served";
  // Generous for sanitizer builds; a starved client would wait for the whole 2 s flood.
  EXPECT_LT(worst, absl::Milliseconds(1500));
}

}  // namespace
}  // namespace mcmesh::testing
