// The admin endpoint against real processes: memcached x3 (2 primaries, 1 backup) and mcmesh with
// --admin_port. Counters after a known mix of requests, strict parsing of /metrics, agreement
// with the `stats` command, /ready and /topology, and POST /drain under load.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/mcmesh_process.h"
#include "tests/support/prometheus_parser.h"

namespace mcmesh::testing {
namespace {

using Labels = std::map<std::string, std::string>;

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&primary1_, &primary2_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    // pickFreePort races with other tests: a taken admin port makes mcmesh exit 1; try again.
    for (int attempt = 0; attempt < 3 && proxy_ == nullptr; ++attempt) {
      int admin_port = pickFreePort();
      auto proxy = McmeshProcess::start({"-s", primary1_->address(), "-s", primary2_->address(),
                                         "-b", backup_->address(), "--concurrency=2",
                                         absl::StrCat("--admin_port=", admin_port)});
      ASSERT_TRUE(proxy.ok()) << proxy.status();
      if (waitForPort(admin_port, absl::Seconds(5)) && (*proxy)->process().running()) {
        proxy_ = std::move(*proxy);
        admin_port_ = admin_port;
      }
    }
    ASSERT_NE(proxy_, nullptr) << "mcmesh did not serve its admin port";
  }

  std::unique_ptr<TextClient> connect() {
    auto client = TextClient::connect(proxy_->port());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  HttpResponse http(absl::string_view method, absl::string_view path) {
    auto response = httpRequest(admin_port_, method, path);
    EXPECT_TRUE(response.ok()) << method << " " << path << ": " << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  PromExposition scrape() {
    HttpResponse r = http("GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    auto parsed = parsePrometheusText(r.body);
    EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << r.body;
    return parsed.ok() ? *parsed : PromExposition{};
  }

  // Polls /metrics until `name`{labels} equals `want` (async mirrors and probes lag a little).
  PromExposition scrapeUntil(absl::string_view name, const Labels& labels, double want) {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    PromExposition m = scrape();
    while (m.value(name, labels) != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      m = scrape();
    }
    return m;
  }

  HttpResponse waitForStatus(absl::string_view path, int status) {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    HttpResponse r = http("GET", path);
    while (r.status != status && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
      r = http("GET", path);
    }
    return r;
  }

  // 10 sets, 7 gets that hit and 3 that miss, one request at a time.
  void sendKnownMix(TextClient& client) {
    for (int i = 0; i < 10; ++i) {
      auto stored = client.set(absl::StrCat("key", i), absl::StrCat("value", i));
      ASSERT_TRUE(stored.ok()) << stored.status();
      ASSERT_EQ(*stored, "STORED");
    }
    for (int i = 0; i < 7; ++i) {
      auto got = client.get(absl::StrCat("key", i));
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->value_or("<miss>"), absl::StrCat("value", i));
    }
    for (int i = 0; i < 3; ++i) {
      auto got = client.get(absl::StrCat("absent", i));
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_FALSE(got->has_value());
    }
  }

  // Waits up to `timeout` for the proxy to exit. @return its exit code, or -1.
  // "exit N", "killed by signal N (name)" or "still running": a failure says which.
  std::string waitForExit(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (proxy_->process().running() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    auto status = proxy_->process().waitStatus();
    if (!status.has_value()) return "still running";
    if (WIFEXITED(*status)) return absl::StrCat("exit ", WEXITSTATUS(*status));
    if (WIFSIGNALED(*status)) {
      return absl::StrCat("killed by signal ", WTERMSIG(*status), " (", strsignal(WTERMSIG(*status)),
                          ")");
    }
    return absl::StrCat("wait status ", *status);
  }

  MemcachedServerPtr primary1_, primary2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
  int admin_port_ = 0;
};

TEST_F(AdminTest, MetricsCountWhatWasSentAndParseStrictly) {
  absl::Time started = absl::Now() - absl::Seconds(30);
  auto client = connect();
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(sendKnownMix(*client));

  // Mirrors to the backup are asynchronous: wait until all 10 were sent.
  PromExposition m = scrapeUntil("mcmesh_mirror_sent_total", {}, 10);
  EXPECT_EQ(m.value("mcmesh_requests_total", {{"command", "set"}}), 10);
  EXPECT_EQ(m.value("mcmesh_requests_total", {{"command", "get"}}), 10);
  EXPECT_EQ(m.sum("mcmesh_requests_total"), 20);
  EXPECT_EQ(m.value("mcmesh_get_hits_total"), 7);
  EXPECT_EQ(m.value("mcmesh_get_misses_total"), 3);
  EXPECT_EQ(m.value("mcmesh_protocol_errors_total"), 0);
  EXPECT_EQ(m.value("mcmesh_server_errors_total"), 0);
  EXPECT_EQ(m.value("mcmesh_mirror_sent_total"), 10);
  EXPECT_EQ(m.value("mcmesh_mirror_inflight"), 0);
  EXPECT_EQ(m.value("mcmesh_failover_reads_total"), 3);  // each primary miss re-read on the backup.
  EXPECT_EQ(m.value("mcmesh_backup_hits_total"), 0);
  EXPECT_EQ(m.value("mcmesh_request_duration_seconds_count"), 20);
  EXPECT_EQ(m.value("mcmesh_request_duration_seconds_bucket", {{"le", "+Inf"}}), 20);
  EXPECT_GT(*m.value("mcmesh_request_duration_seconds_sum"), 0);

  // Upstream: every set and get went to one primary (the 3 misses were looked up on the backup,
  // which missed too, so no copy took a lease); the backup got 10 mirrors + 3 re-reads.
  EXPECT_EQ(m.sum("mcmesh_upstream_requests_total", {{"pool", "primary"}}), 20);
  EXPECT_EQ(m.value("mcmesh_upstream_requests_total",
                    {{"pool", "backup"}, {"server", backup_->address()}}),
            13);
  EXPECT_EQ(m.sum("mcmesh_upstream_errors_total"), 0);
  EXPECT_EQ(m.sum("mcmesh_upstream_ejections_total"), 0);
  for (const auto* s : {primary1_.get(), primary2_.get()}) {
    EXPECT_EQ(m.value("mcmesh_upstream_up", {{"pool", "primary"}, {"server", s->address()}}), 1);
  }
  EXPECT_EQ(m.value("mcmesh_upstream_up", {{"pool", "backup"}, {"server", backup_->address()}}), 1);

  EXPECT_EQ(m.value("mcmesh_client_connections"), 1);
  // McmeshProcess::start's readiness probe is a connection too.
  EXPECT_GE(m.value("mcmesh_client_connections_total"), 1);
  EXPECT_EQ(m.value("mcmesh_workers"), 2);
  EXPECT_EQ(m.value("mcmesh_topology_version"), 0);
  EXPECT_EQ(m.value("mcmesh_topology_updates_total"), 1);
  EXPECT_GT(*m.value("mcmesh_topology_last_update_timestamp_seconds"),
            absl::ToUnixSeconds(started));
  EXPECT_EQ(m.value("mcmesh_control_plane_state"), 0);
  for (const auto& f : m.families) {
    EXPECT_TRUE(absl::StartsWith(f.name, "mcmesh_")) << f.name;
  }
}

// `stats` pipelined behind gets reports them (they are answered first) and not the get sent
// after it: before, the proxy answered `stats` when it parsed it, while the gets were still at
// memcached, so their hits were missing from it.
TEST_F(AdminTest, StatsInAPipelineCountsWhatCameBeforeItAndNothingAfter) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  ASSERT_EQ(client->set("pipelined-k", "v").value_or(""), "STORED");
  auto statsOf = [](absl::string_view reply) {
    std::map<std::string, int64_t> out;
    for (absl::string_view line : absl::StrSplit(reply, "\r\n", absl::SkipEmpty())) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      int64_t v = 0;
      if (parts.size() == 3 && parts[0] == "STAT" && absl::SimpleAtoi(parts[2], &v)) {
        out[parts[1]] = v;
      }
    }
    return out;
  };
  auto before = client->roundTrip("stats\r\n", "END\r\n");
  ASSERT_TRUE(before.ok()) << before.status();
  std::map<std::string, int64_t> b = statsOf(*before);
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(
        client->send("get pipelined-k\r\nget pipelined-none\r\nstats\r\nget pipelined-k\r\n").ok());
    ASSERT_TRUE(client->readUntil("END\r\n").ok());  // the hit
    ASSERT_TRUE(client->readUntil("END\r\n").ok());  // the miss
    auto during = client->readUntil("END\r\n");
    ASSERT_TRUE(during.ok()) << during.status();
    auto last = client->readUntil("END\r\n");
    ASSERT_TRUE(last.ok()) << last.status();
    EXPECT_TRUE(absl::StartsWith(*last, "VALUE pipelined-k ")) << *last;
    std::map<std::string, int64_t> d = statsOf(*during);
    // Each round adds 2 gets before the stats (1 hit, 1 miss), and the previous round's last.
    const int64_t gets_before = 2 * (round + 1) + round;
    EXPECT_EQ(d["cmd_get"] - b["cmd_get"], gets_before) << "round " << round;
    EXPECT_EQ(d["get_hits"] - b["get_hits"], (round + 1) + round) << "round " << round;
    EXPECT_EQ(d["get_misses"] - b["get_misses"], round + 1) << "round " << round;
  }
}

// A stats group the proxy does not know is answered ERROR, as memcached does, and the
// connection goes on.
TEST_F(AdminTest, AnUnknownStatsGroupIsAnErrorAndTheConnectionGoesOn) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  auto reply = client->roundTrip("stats nosuchgroup\r\n", "\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "ERROR\r\n");
  auto proxy = client->roundTrip("stats proxy\r\n", "END\r\n");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_NE(proxy->find("STAT pid "), std::string::npos) << *proxy;
}

// `stats proxy` / `stats servers` and /metrics read the same sums.
TEST_F(AdminTest, StatsCommandAgreesWithMetrics) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(sendKnownMix(*client));
  scrapeUntil("mcmesh_mirror_sent_total", {}, 10);
  auto reply = client->roundTrip("stats\r\n", "END\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status();
  PromExposition m = scrape();

  std::map<std::string, std::string> stats;
  for (absl::string_view line : absl::StrSplit(*reply, "\r\n", absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (parts.size() == 3 && parts[0] == "STAT") stats[parts[1]] = parts[2];
  }
  auto stat = [&stats](const std::string& name) {
    double v = -1;
    EXPECT_TRUE(absl::SimpleAtod(stats[name], &v)) << name << " = '" << stats[name] << "'";
    return v;
  };
  const std::map<std::string, std::string> pairs = {
      {"get_hits", "mcmesh_get_hits_total"},
      {"get_misses", "mcmesh_get_misses_total"},
      {"protocol_errors", "mcmesh_protocol_errors_total"},
      {"server_errors", "mcmesh_server_errors_total"},
      {"curr_connections", "mcmesh_client_connections"},
      {"total_connections", "mcmesh_client_connections_total"},
      {"rejected_connections", "mcmesh_client_connections_rejected_total"},
      {"failover_reads", "mcmesh_failover_reads_total"},
      {"failover_writes", "mcmesh_failover_writes_total"},
      {"backup_hits", "mcmesh_backup_hits_total"},
      {"repairs_done", "mcmesh_repairs_done_total"},
      {"mirror_sent", "mcmesh_mirror_sent_total"},
      {"mirror_dropped", "mcmesh_mirror_dropped_total"},
      {"mirror_inflight", "mcmesh_mirror_inflight"},
      {"dirty_invalidations", "mcmesh_dirty_invalidations_total"},
      {"topology_version", "mcmesh_topology_version"},
      {"control_plane_state", "mcmesh_control_plane_state"},
  };
  for (const auto& [stat_name, metric] : pairs) {
    EXPECT_EQ(stat(stat_name), m.value(metric)) << stat_name << " vs " << metric;
  }
  for (const char* command : {"get", "set", "stats"}) {
    EXPECT_EQ(stat(absl::StrCat("cmd_", command)),
              m.value("mcmesh_requests_total", {{"command", command}}))
        << command;
  }
  EXPECT_EQ(stat("cmd_stats"), 1);
  // Per server: "STAT primary_1 <address> ... requests=N ..." vs the labelled counter.
  int servers = 0;
  for (const auto& [name, value] : stats) {
    // Server lines are primary_<n> and backup_<n> (not backup_hits).
    bool primary = absl::StartsWith(name, "primary_");
    absl::string_view index = absl::string_view(name).substr(name.find('_') + 1);
    int n = 0;
    if ((!primary && !absl::StartsWith(name, "backup_")) || !absl::SimpleAtoi(index, &n)) continue;
    ++servers;
    std::vector<std::string> fields = absl::StrSplit(value, ' ');
    Labels labels = {{"pool", primary ? "primary" : "backup"}, {"server", fields[0]}};
    for (const auto& field : fields) {
      if (!absl::StartsWith(field, "requests=")) continue;
      EXPECT_EQ(std::stod(field.substr(9)), m.value("mcmesh_upstream_requests_total", labels))
          << value;
    }
  }
  EXPECT_EQ(servers, 3);
}

TEST_F(AdminTest, ReadyHealthzAndTopology) {
  EXPECT_EQ(http("GET", "/healthz").body, "ok\n");
  HttpResponse ready = waitForStatus("/ready", 200);
  EXPECT_EQ(ready.status, 200) << ready.body;

  HttpResponse topology = http("GET", "/topology");
  EXPECT_EQ(topology.status, 200);
  EXPECT_EQ(topology.headers["content-type"], "application/json");
  for (const std::string& field :
       {std::string("\"applied\":true"), std::string("\"cluster\":\"default\""),
        std::string("\"version\":0"), std::string("\"workers\":2"),
        absl::StrCat("\"primaries\":[{\"address\":\"", primary1_->address(), "\""),
        absl::StrCat("{\"address\":\"", primary2_->address(), "\",\"weight\":1"),
        absl::StrCat("\"backups\":[{\"address\":\"", backup_->address(), "\""),
        std::string("\"health\":{\"ejected\":false,\"ejected_workers\":0}"),
        std::string("\"filters\":[\"")}) {
    EXPECT_NE(topology.body.find(field), std::string::npos) << field << " in " << topology.body;
  }
  EXPECT_EQ(http("GET", "/nothing-here").status, 404);
  EXPECT_EQ(http("POST", "/metrics").status, 405);
}

TEST_F(AdminTest, NotReadyWhileEveryPrimaryIsDownThenReadyAgain) {
  ASSERT_EQ(waitForStatus("/ready", 200).status, 200);
  auto client = connect();
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(sendKnownMix(*client));  // so workers hold state for both primaries.
  primary1_->kill();
  primary2_->kill();
  HttpResponse down = waitForStatus("/ready", 503);
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("no primary is reachable"), std::string::npos) << down.body;
  PromExposition m =
      scrapeUntil("mcmesh_upstream_up", {{"pool", "primary"}, {"server", primary1_->address()}}, 0);
  EXPECT_EQ(m.value("mcmesh_upstream_up", {{"pool", "primary"}, {"server", primary1_->address()}}),
            0);
  EXPECT_GE(m.sum("mcmesh_upstream_ejections_total", {{"server", primary1_->address()}}), 1);

  ASSERT_TRUE(primary1_->restart().ok());
  HttpResponse up = waitForStatus("/ready", 200);
  EXPECT_EQ(up.status, 200) << up.body;
}

// Two clients run set/get for about a second; POST /drain lands in the middle. Every request
// must succeed (the drain closes only idle connections), new connections are refused, /ready
// says draining, and once the clients hang up the process exits 0.
TEST_F(AdminTest, DrainUnderLoadLosesNoRequestAndExitsZero) {
  std::atomic<bool> drain_sent{false};
  std::atomic<int> ok{0}, ok_after_drain{0};
  std::mutex mu;
  std::vector<std::string> failures;
  absl::Time end = absl::Now() + absl::Seconds(1);
  auto load = [&](int id) {
    auto client = TextClient::connect(proxy_->port());
    if (!client.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      failures.push_back(absl::StrCat("connect: ", client.status().ToString()));
      return;
    }
    for (int i = 0; absl::Now() < end; ++i) {
      std::string key = absl::StrCat("drain-", id, "-", i % 64);
      std::string value = absl::StrCat("v", i);
      auto stored = (*client)->set(key, value);
      auto got = (*client)->get(key);
      if (!stored.ok() || *stored != "STORED" || !got.ok() || got->value_or("") != value) {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(
            absl::StrCat(key, ": ", stored.ok() ? *stored : stored.status().ToString(), " / ",
                         got.ok() ? got->value_or("<miss>") : got.status().ToString()));
        return;
      }
      ok += 2;
      if (drain_sent) ok_after_drain += 2;
    }
  };
  std::thread a(load, 1), b(load, 2);
  absl::SleepFor(absl::Milliseconds(300));
  HttpResponse drain = http("POST", "/drain");
  drain_sent = true;
  EXPECT_EQ(drain.status, 200);
  EXPECT_EQ(drain.body, "draining\n");

  HttpResponse ready = http("GET", "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("draining"), std::string::npos) << ready.body;
  // The listeners close on each worker's next loop turn.
  bool refused = false;
  for (absl::Time deadline = absl::Now() + absl::Seconds(1); !refused && absl::Now() < deadline;) {
    refused = !TextClient::connect(proxy_->port(), absl::Milliseconds(200)).ok();
    if (!refused) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(refused) << "new connections are still accepted while draining";
  EXPECT_TRUE(proxy_->process().running()) << "exited while clients were busy";

  a.join();
  b.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures[0];
  EXPECT_GT(ok_after_drain.load(), 0) << "the load did not overlap the drain";
  EXPECT_GT(ok.load(), 100);
  EXPECT_EQ(waitForExit(absl::Seconds(10)), "exit 0");
}

// A client that keeps an idle connection open must not hold the drain until its deadline.
TEST_F(AdminTest, DrainClosesIdleConnectionsAndExitsPromptly) {
  auto idle = connect();
  ASSERT_NE(idle, nullptr);
  auto stored = idle->set("k", "v");
  ASSERT_TRUE(stored.ok()) << stored.status();
  absl::Time start = absl::Now();
  EXPECT_EQ(http("POST", "/drain").status, 200);
  EXPECT_EQ(waitForExit(absl::Seconds(10)), "exit 0");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_FALSE(idle->readLine().ok()) << "the idle connection was not closed";
}

TEST_F(AdminTest, AdminPortInUseFailsStartupWithStatusOne) {
  int blocker = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(blocker, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  ASSERT_EQ(::getsockname(blocker, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int taken = ntohs(addr.sin_port);

  auto child = ChildProcess::start({runfilePath("app/mcmesh"), "-D", "-l", "127.0.0.1", "-p",
                                    std::to_string(pickFreePort()), "-s", primary1_->address(),
                                    absl::StrCat("--admin_port=", taken)});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*child)->running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  auto status = (*child)->waitStatus();
  ::close(blocker);
  ASSERT_TRUE(status.has_value()) << "mcmesh kept running with its admin port taken";
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
}

}  // namespace
}  // namespace mcmesh::testing
