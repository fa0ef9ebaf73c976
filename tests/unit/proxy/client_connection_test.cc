// ClientConnection on a real Worker (driven from the test thread) with a scripted terminal
// filter in place of the router: replies leave in request order whatever order they are
// answered in, `stats` waits for the requests before it and holds those after it, the in-flight
// cap pauses parsing, and a client that goes away cancels what it had in flight.
#include "proxy/client_connection.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proxy/worker.h"
#include "tests/support/child_process.h"
#include "tests/unit/proxy/scripted_server.h"

namespace mcmesh {
namespace {

using upstream::runUntil;

// What the scripted filter saw, shared by every instance of one test's chain.
struct Script {
  std::vector<std::string> seen;                 // "get a", "stats", ... in onRequest order.
  std::map<std::string, FilterCallbacks*> held;  // gets waiting for answer(key).
  int destroyed_while_held = 0;

  void answer(const std::string& key) {
    FilterCallbacks* callbacks = held.at(key);
    held.erase(key);
    Response r = Response::ofType(ResponseType::kValues);
    Item item;
    item.key = key;
    item.value = "v-" + key;
    r.items.push_back(std::move(item));
    callbacks->sendResponse(std::move(r));
  }
};

// Terminal filter: a get waits until the test answers it; anything else (stats) is answered at
// once with how many requests the chain has seen.
class ScriptedFilter : public PassThroughFilter {
 public:
  explicit ScriptedFilter(Script& script) : script_(script) {}
  FilterStatus onRequest(Request& request) override {
    if (request.command == Command::kGet) {
      script_.seen.push_back("get " + request.keys[0]);
      key_ = request.keys[0];
      script_.held[key_] = callbacks_;
      return FilterStatus::kStopIteration;
    }
    script_.seen.push_back(std::string(commandName(request.command)));
    Response r = Response::ofType(ResponseType::kStats);
    r.stats.emplace_back("seen", std::to_string(script_.seen.size()));
    callbacks_->sendResponse(std::move(r));
    return FilterStatus::kStopIteration;
  }
  void onDestroy() override {
    if (!key_.empty() && script_.held.erase(key_) != 0) ++script_.destroyed_while_held;
  }

 private:
  Script& script_;
  std::string key_;
};

class ClientConnectionTest : public ::testing::Test {
 protected:
  void start(size_t max_inflight = 64) {
    WorkerOptions options;
    options.limits.max_inflight = max_inflight;
    worker_ = std::make_unique<Worker>(0, options, budget_);
    port_ = testing::pickFreePort();
    ASSERT_TRUE(worker_->listenTcp("127.0.0.1", port_).ok());
    upstream::ClusterConfig config;  // never used: the scripted filter is terminal.
    config.primaries.push_back(*upstream::parseHostAddress("127.0.0.1:1"));
    auto snapshot = upstream::ClusterSnapshot::create(config, nullptr, absl::Now());
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    auto chain = std::make_shared<FilterChain>();
    chain->names = {"scripted"};
    chain->factories = {[this] { return std::make_unique<ScriptedFilter>(script_); }};
    worker_->applyRouting(*snapshot, chain);
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ~ClientConnectionTest() override {
    if (client_ >= 0) ::close(client_);
    worker_.reset();
  }

  void send(const std::string& bytes) {
    ASSERT_EQ(::write(client_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // Runs the worker's loop until `n` requests were seen by the filter (or 5 s).
  bool seen(size_t n) {
    return runUntil(worker_->dispatcher(), [&] { return script_.seen.size() >= n; });
  }
  // Runs the loop for a few turns: what has not happened by then is not going to by itself.
  void settle() {
    for (int i = 0; i < 20; ++i) event_base_loop(worker_->dispatcher().base(), EVLOOP_NONBLOCK);
  }
  // Everything the client has received so far, after running the loop until `want` is a prefix.
  std::string received(const std::string& want) {
    runUntil(worker_->dispatcher(), [&] {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(client_, buf, sizeof(buf), MSG_DONTWAIT)) > 0) got_.append(buf, n);
      return got_.size() >= want.size();
    });
    return got_;
  }

  ConnectionBudget budget_;
  std::unique_ptr<Worker> worker_;
  Script script_;
  int port_ = 0;
  int client_ = -1;
  std::string got_;
};

TEST_F(ClientConnectionTest, RepliesLeaveInRequestOrderWhateverOrderTheyAreAnsweredIn) {
  ASSERT_NO_FATAL_FAILURE(start());
  send("get a\r\nget b\r\nget c\r\n");
  ASSERT_TRUE(seen(3));
  script_.answer("c");
  script_.answer("b");
  settle();
  EXPECT_EQ(received(""), "") << "b and c must wait for a";
  script_.answer("a");
  const std::string want =
      "VALUE a 0 3\r\nv-a\r\nEND\r\nVALUE b 0 3\r\nv-b\r\nEND\r\nVALUE c 0 3\r\nv-c\r\nEND\r\n";
  EXPECT_EQ(received(want), want);
}

TEST_F(ClientConnectionTest, StatsWaitsForTheRequestsBeforeItAndHoldsThoseAfterIt) {
  ASSERT_NO_FATAL_FAILURE(start());
  send("get a\r\nstats\r\nget c\r\n");
  ASSERT_TRUE(seen(1));
  settle();
  EXPECT_EQ(script_.seen, std::vector<std::string>{"get a"})
      << "stats started while get a was unanswered";
  script_.answer("a");
  ASSERT_TRUE(seen(3));
  EXPECT_EQ(script_.seen, (std::vector<std::string>{"get a", "stats", "get c"}));
  script_.answer("c");
  const std::string want =
      "VALUE a 0 3\r\nv-a\r\nEND\r\nSTAT seen 2\r\nEND\r\nVALUE c 0 3\r\nv-c\r\nEND\r\n";
  EXPECT_EQ(received(want), want);
}

TEST_F(ClientConnectionTest, StatsWithNothingBeforeItIsAnsweredAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start());
  send("stats\r\nget a\r\n");
  ASSERT_TRUE(seen(2));
  EXPECT_EQ(received("STAT seen 1\r\nEND\r\n"), "STAT seen 1\r\nEND\r\n");
}

TEST_F(ClientConnectionTest, TheInFlightCapPausesParsingUntilARequestIsAnswered) {
  ASSERT_NO_FATAL_FAILURE(start(/*max_inflight=*/2));
  send("get a\r\nget b\r\nget c\r\nget d\r\n");
  ASSERT_TRUE(seen(2));
  settle();
  EXPECT_EQ(script_.seen.size(), 2u);
  script_.answer("a");
  ASSERT_TRUE(seen(3));
  settle();
  EXPECT_EQ(script_.seen.size(), 3u);
  EXPECT_EQ(worker_->counters().inflight_limit_pauses.value(), 1u);
}

TEST_F(ClientConnectionTest, AClientThatGoesAwayCancelsWhatItHadInFlight) {
  ASSERT_NO_FATAL_FAILURE(start());
  send("get a\r\nget b\r\n");
  ASSERT_TRUE(seen(2));
  ::close(client_);
  client_ = -1;
  ASSERT_TRUE(runUntil(worker_->dispatcher(), [&] { return script_.held.empty(); }));
  EXPECT_EQ(script_.destroyed_while_held, 2);
  EXPECT_EQ(budget_.open.load(), 0u);
}

}  // namespace
}  // namespace mcmesh
