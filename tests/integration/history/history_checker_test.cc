// The black-box history check of issue 13 (item 7): 8 clients do random set / delete / get /
// multi-get on 50 keys for 10 s through one proxy (and, in the second test, two proxies sharing
// the servers) while a primary is killed and restarted empty, the other is SIGSTOPped for 1 s
// (1.8 s in sanitizer builds), and a third primary is added, drained and removed through the
// control plane. Every operation is recorded with its start and end time, and history.h's rule
// says which reads were stale.
// Only the wire protocol and mcmeshctl are used, so any build of the proxy can be checked.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/history/client_util.h"
#include "tests/integration/history/history.h"
#include "tests/support/control_plane_process.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::history {
namespace {

using testing::ControlPlaneProcess;
using testing::McmeshProcess;
using testing::MemcachedServer;
using testing::MemcachedServerPtr;
using testing::TextClient;

constexpr int kClients = 8;
constexpr int kKeys = 50;
constexpr absl::Duration kLoad = absl::Seconds(10);
constexpr absl::Duration kQuiescence = absl::Seconds(2);
// Bounds every client call (connect, send, each reply line): nothing can hang the test.
constexpr absl::Duration kOpTimeout = absl::Seconds(2);
// How long P2 stays SIGSTOPped: long enough for two upstream timeouts, so the proxies eject it
// and fail its keys over. Sanitizer builds run the proxy with --timeout_ms=750 (see
// extraProxyFlags()), so the stop is longer there.
#ifdef MCMESH_SANITIZED
constexpr absl::Duration kStopP2For = absl::Milliseconds(1800);
#else
constexpr absl::Duration kStopP2For = absl::Seconds(1);
#endif

std::string key(int i) { return absl::StrCat("hk:", i); }

// $HISTORY_SEED picks another client workload; the default keeps runs comparable.
uint32_t seed() {
  const char* text = std::getenv("HISTORY_SEED");
  uint32_t value = 1;
  if (text != nullptr && !absl::SimpleAtoi(text, &value)) value = 1;
  return value;
}

struct ClientResult {
  std::vector<Op> ops;
  size_t errors = 0;  // failed calls: error replies, timeouts, closed or refused connections
  std::vector<std::string> first_errors;
};

// One client: blocking request/reply on its own connection, reconnecting after a timeout or a
// closed connection (a late reply would otherwise be taken for the next request's).
void runClient(int id, int port, uint32_t workload_seed, const std::atomic<bool>& stop,
               ClientResult* out) {
  std::mt19937 rng(workload_seed * 1000 + id);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  auto error = [&](const std::string& what) {
    ++out->errors;
    if (out->first_errors.size() < 3)
      out->first_errors.push_back(absl::StrCat("client ", id, ": ", what));
  };
  std::unique_ptr<TextClient> c;
  for (int seq = 0; !stop.load(); ++seq) {
    if (c == nullptr) {
      auto connected = TextClient::connect(port, kOpTimeout);
      if (!connected.ok()) {
        error(connected.status().ToString());
        absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
      c = std::move(*connected);
    }
    const int op = pick(100);
    const int64_t start = nowNs();
    if (op < 45) {  // 30% set, 15% delete
      Op w{id, op < 30 ? OpKind::kSet : OpKind::kDelete, key(pick(kKeys))};
      w.start_ns = start;
      absl::StatusOr<std::string> reply;
      if (w.kind == OpKind::kSet) {
        w.value = absl::StrCat("c", id, "-", seq);
        reply = c->set(w.key, *w.value);
      } else {
        reply = c->roundTrip(absl::StrCat("delete ", w.key, "\r\n"), "\r\n");
        if (reply.ok()) reply = std::string(absl::StripSuffix(*reply, "\r\n"));
      }
      w.end_ns = nowNs();
      const bool acked =
          reply.ok() && (w.kind == OpKind::kSet ? *reply == "STORED"
                                                : *reply == "DELETED" || *reply == "NOT_FOUND");
      w.outcome = acked ? Outcome::kAcked : Outcome::kUncertain;
      if (!acked) error(reply.ok() ? *reply : reply.status().ToString());
      if (!reply.ok()) c.reset();
      out->ops.push_back(std::move(w));
      continue;
    }
    // 40% get of one key, 15% multi-get of 2-4 distinct keys.
    std::vector<std::string> keys = {key(pick(kKeys))};
    const size_t n = op < 85 ? 1 : 2 + pick(3);
    while (keys.size() < n) {
      std::string k = key(pick(kKeys));
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(std::move(k));
    }
    absl::Status sent = c->send(absl::StrCat("get ", absl::StrJoin(keys, " "), "\r\n"));
    absl::StatusOr<std::string> raw =
        sent.ok() ? readReply(*c, ReplyShape::kValues) : absl::StatusOr<std::string>(sent);
    const int64_t end = nowNs();
    if (!raw.ok()) {
      error(raw.status().ToString());
      c.reset();
      continue;
    }
    GetReply reply = parseGetReply(*raw);
    if (!reply.error.empty()) {
      error(reply.error);
      continue;
    }
    for (const std::string& k : keys) {
      Op r{id, OpKind::kRead, k, std::nullopt, Outcome::kAcked, start, end};
      for (const auto& [got_key, value] : reply.items) {
        if (got_key == k) r.value = value;
      }
      out->ops.push_back(std::move(r));
    }
  }
}

class HistoryCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&p1_, &p2_, &p3_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    auto cp = ControlPlaneProcess::start(testing::testTempPath("topology.pb"));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    ASSERT_EQ(cp_->ctl({"create-cluster", "default", p1_->address(), p2_->address(),
                        absl::StrCat("--backup=", backup_->address())}),
              0);
  }

  void TearDown() override {
    if (p2_ != nullptr && p2_->pid() > 0) ::kill(p2_->pid(), SIGCONT);  // never leave it stopped
  }

  // A proxy subscribed to the control plane, once it answers writes (it has the topology).
  void startProxy() {
    std::vector<std::string> args = {absl::StrCat("--control_plane=127.0.0.1:", cp_->port()),
                                     "--cluster=default"};
    for (const std::string& flag : extraProxyFlags()) args.push_back(flag);
    std::cout << "mcmesh flags: " << absl::StrJoin(args, " ") << "\n";
    auto proxy = McmeshProcess::start(args);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    std::string reply;
    while (reply != "STORED" && absl::Now() < deadline) {
      auto c = TextClient::connect((*proxy)->port());
      reply = c.ok() ? (*c)->set("ready-probe", "1").value_or("") : "";
      if (reply != "STORED") absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_EQ(reply, "STORED") << "the proxy never got its topology";
    proxies_.push_back(std::move(*proxy));
  }

  void ctlOrFail(const std::vector<std::string>& args) {
    EXPECT_EQ(cp_->ctl(args), 0) << "mcmeshctl " << absl::StrJoin(args, " ");
  }

  struct Fault {
    absl::Duration at;  // offset from the start of the load
    std::string what;
    std::function<void()> act;
    // mcmeshctl calls have taken seconds on a busy machine (the control plane fsyncs its
    // store): they run in order on a thread of their own so they never delay process faults.
    bool control_plane = false;
  };
  using Schedule = std::vector<Fault>;

  // `mcmeshctl <command> default P3` at `at`.
  Fault ctlOnP3(absl::Duration at, std::string command) {
    auto act = [this, command] { ctlOrFail({command, "default", p3_->address()}); };
    return {at, command + " P3", act, /*control_plane=*/true};
  }

  // The faults. Process faults run on this (the main) thread: children must be started by a
  // thread that outlives them (see ChildProcess).
  Schedule faults() {
    // The signal first: reaping (inside kill()) has taken seconds on a busy machine, and the
    // crash must happen on time.
    auto crash_p1 = [this] {
      ::kill(p1_->pid(), SIGKILL);
      p1_->kill();
    };
    return {
        {absl::Seconds(1), "SIGKILL P1 (and reap it)", crash_p1},
        {absl::Seconds(2), "restart P1 empty on its port",
         [this] { ASSERT_TRUE(p1_->restart().ok()); }},
        {absl::Milliseconds(3500), "SIGSTOP P2", [this] { ::kill(p2_->pid(), SIGSTOP); }},
        {absl::Milliseconds(3500) + kStopP2For, "SIGCONT P2",
         [this] { ::kill(p2_->pid(), SIGCONT); }},
        ctlOnP3(absl::Milliseconds(5500), "add-node"),
        ctlOnP3(absl::Seconds(7), "drain-node"),
        ctlOnP3(absl::Milliseconds(8500), "remove-node"),
    };
  }

  std::vector<int> proxyPorts() const {
    std::vector<int> ports;
    for (const auto& p : proxies_) ports.push_back(p->port());
    return ports;
  }

  // Runs the load against `ports` (clients alternate between them) with the schedule, then
  // reads every key through every port after quiescence, and checks the whole history.
  // `hold_load_reads` false: stale reads during the load are reported, not failed (the final
  // reads and the final state always are).
  void run(const std::vector<int>& ports, const Schedule& schedule, absl::Duration load,
           bool hold_load_reads = true) {
    const uint32_t workload_seed = seed();
    std::cout << "seed " << workload_seed << "; " << kClients << " clients over " << ports.size()
              << " port(s), " << kKeys << " keys, load " << load << "; P1 " << p1_->address()
              << ", P2 " << p2_->address() << ", P3 " << p3_->address() << ", backup "
              << backup_->address() << "\n";
    std::atomic<bool> stop{false};
    std::vector<ClientResult> results(kClients);
    std::vector<std::thread> clients;
    const absl::Time t0 = absl::Now();
    const int64_t t0_ns = nowNs();
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back(runClient, i, ports[i % ports.size()], workload_seed, std::cref(stop),
                           &results[i]);
    }
    std::mutex log_mutex;
    std::vector<std::pair<absl::Duration, std::string>> log;  // printed in time order below
    auto play = [&](bool control_plane) {
      for (const Fault& fault : schedule) {
        if (fault.control_plane != control_plane) continue;
        absl::SleepFor(fault.at - (absl::Now() - t0));
        const absl::Duration began = absl::Now() - t0;
        fault.act();
        const absl::Duration took = absl::Now() - t0 - began;
        std::lock_guard<std::mutex> lock(log_mutex);
        log.emplace_back(began, absl::StrCat("(scheduled ", absl::FormatDuration(fault.at), "): ",
                                             fault.what, ", took ", absl::FormatDuration(took)));
      }
    };
    std::thread control_plane_faults(play, true);
    play(false);
    control_plane_faults.join();
    absl::SleepFor(load - (absl::Now() - t0));
    stop = true;
    for (std::thread& t : clients) t.join();
    log.emplace_back(absl::Now() - t0, "load stopped");
    std::sort(log.begin(), log.end());
    for (const auto& [at, what] : log) {
      std::cout << "  t=" << absl::FormatDuration(at) << " " << what << "\n";
    }

    std::vector<Op> history;
    size_t errors = 0;
    std::vector<std::string> first_errors;
    for (ClientResult& r : results) {
      history.insert(history.end(), r.ops.begin(), r.ops.end());
      errors += r.errors;
      first_errors.insert(first_errors.end(), r.first_errors.begin(), r.first_errors.end());
    }

    // Quiescence: no faults, no clients. Then every key is read through every port, as
    // client 100 + the port's index.
    absl::SleepFor(kQuiescence);
    std::vector<std::vector<Op>> final_reads(ports.size());
    for (size_t p = 0; p < ports.size(); ++p) {
      auto c = TextClient::connect(ports[p], kOpTimeout);
      ASSERT_TRUE(c.ok()) << c.status();
      for (int i = 0; i < kKeys; ++i) {
        Op r{100 + static_cast<int>(p), OpKind::kRead, key(i)};
        r.start_ns = nowNs();
        auto value = (*c)->get(r.key);
        r.end_ns = nowNs();
        ASSERT_TRUE(value.ok()) << "final read of " << r.key << ": " << value.status();
        r.value = *value;
        final_reads[p].push_back(std::move(r));
      }
    }

    const CheckResult during = check(history);
    std::vector<Op> with_final = history;
    for (const auto& reads : final_reads) {
      with_final.insert(with_final.end(), reads.begin(), reads.end());
    }
    const CheckResult all = check(with_final);
    std::cout << "operations checked: " << all.ops << "; reads: " << during.reads
              << "; hit ratio seen by clients: "
              << (during.reads ? static_cast<double>(during.hits) / during.reads : 0.0)
              << "; client errors: " << errors << "\n";
    for (const std::string& e : first_errors) std::cout << "  error " << e << "\n";
    std::cout << "violations: " << all.violations << " (" << during.violations
              << " during the load, " << all.violations - during.violations
              << " in the final reads)\n";
    // Per second of load, to line them up with the fault schedule above.
    std::map<int64_t, int> per_second;
    for (int64_t start : all.violation_starts) per_second[(start - t0_ns) / 1000000000]++;
    if (!per_second.empty()) {
      std::cout << "  by second of load:";
      for (const auto& [second, n] : per_second) std::cout << " " << second << "s:" << n;
      std::cout << "\n";
    }
    for (const std::string& e : all.examples) std::cout << "  " << e << "\n";
    size_t strict_mismatches = 0;
    for (size_t p = 0; p < ports.size(); ++p) {
      const FinalStateResult strict = checkFinalState(history, final_reads[p]);
      strict_mismatches += strict.mismatches;
      std::cout << "final state through port " << p << ": " << strict.keys << " keys, "
                << strict.determinate << " whose last acknowledged write overlapped no other, "
                << strict.mismatches << " of them not holding it\n";
      for (const std::string& e : strict.examples) std::cout << "  " << e << "\n";
    }
    if (hold_load_reads) {
      EXPECT_EQ(all.violations, 0u);
    } else {
      EXPECT_EQ(all.violations - during.violations, 0u) << "stale values after the load";
    }
    EXPECT_EQ(strict_mismatches, 0u);
  }

  MemcachedServerPtr p1_, p2_, p3_, backup_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::vector<std::unique_ptr<McmeshProcess>> proxies_;
};

// The control: the same clients straight to one memcached, no faults. Any violation here is a
// bug in the clients or the checker, not in a proxy.
TEST_F(HistoryCheckerTest, ControlOneMemcachedWithoutAProxyHasNoViolations) {
  run({p3_->port()}, {}, absl::Seconds(3));
}

TEST_F(HistoryCheckerTest, OneProxyNeverServesAReplacedValue) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  run(proxyPorts(), faults(), kLoad);
}

// docs/consistency.md bounds (and does not exclude) stale reads while one proxy's view of a
// primary lags another's: a delete it writes around the primary reaches the primary one round
// trip later. The release and default builds hold this test to 0 (0 in every run so far). Under
// a sanitizer that round trip is 5-15x longer and such reads do occur (1 in 4 ASan runs):
// there, reads during the load are reported, and the final reads and state still held to 0.
TEST_F(HistoryCheckerTest, TwoProxiesSharingTheServersNeverServeAReplacedValue) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_NO_FATAL_FAILURE(startProxy());
#ifdef MCMESH_SANITIZED
  run(proxyPorts(), faults(), kLoad, /*hold_load_reads=*/false);
#else
  run(proxyPorts(), faults(), kLoad);
#endif
}

}  // namespace
}  // namespace mcmesh::history
