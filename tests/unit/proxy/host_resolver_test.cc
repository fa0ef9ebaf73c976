// HostResolver: lookup scheduling, record choice and the failure policy, against a scripted DnsClient.
#include "proxy/upstream/host_resolver.h"

#include <arpa/inet.h>
#include <event2/event.h>

#include <deque>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace mcmesh::upstream {
namespace {

DnsRecord record(const std::string& ip) {
  DnsRecord r;
  if (ip.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&r.addr);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &in->sin_addr);
    r.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&r.addr);
    in6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr);
    r.len = sizeof(sockaddr_in6);
  }
  return r;
}

// Records lookups; the test answers them (or answers inline, as a hosts file does).
class FakeDnsClient : public DnsClient {
 public:
  struct Query : public DnsQuery {
    Query(FakeDnsClient& c, std::string n, DnsCallback cb)
        : client(c), name(std::move(n)), callback(std::move(cb)) {}
    void cancel() override {
      ++client.cancelled;
      client.forget(this);
    }
    FakeDnsClient& client;
    std::string name;
    DnsCallback callback;
  };

  DnsQuery* resolve(const std::string& name, DnsCallback callback) override {
    ++started;
    auto inline_answer = inline_answers.find(name);
    if (inline_answer != inline_answers.end()) {
      DnsResult copy = inline_answer->second;
      callback(std::move(copy));
      return nullptr;
    }
    queries.push_back(std::make_unique<Query>(*this, name, std::move(callback)));
    return queries.back().get();
  }
  size_t pendingFor(const std::string& name) const {
    size_t n = 0;
    for (const auto& q : queries) n += q->name == name;
    return n;
  }
  /** Completes the oldest lookup of `name`. */
  bool answer(const std::string& name, DnsResult result) {
    for (auto it = queries.begin(); it != queries.end(); ++it) {
      if ((*it)->name != name) continue;
      std::unique_ptr<Query> q = std::move(*it);
      queries.erase(it);
      q->callback(std::move(result));
      return true;
    }
    return false;
  }
  void forget(Query* q) {
    for (auto it = queries.begin(); it != queries.end(); ++it) {
      if (it->get() == q) {
        queries.erase(it);
        return;
      }
    }
  }

  std::deque<std::unique_ptr<Query>> queries;
  std::map<std::string, DnsResult> inline_answers;
  int started = 0;
  int cancelled = 0;
};

bool runUntil(Dispatcher& dispatcher, const std::function<bool()>& done,
              absl::Duration limit = absl::Seconds(3)) {
  absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    event_base_loop(dispatcher.base(), EVLOOP_NONBLOCK);
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

HostConfig hostOf(const std::string& address) { return *parseHostAddress(address); }

class HostResolverTest : public ::testing::Test {
 protected:
  void makeResolver(ResolverOptions options = {}) {
    resolver_ = std::make_unique<HostResolver>(
        dispatcher_, dns_, options, [this](AddressTableConstSharedPtr table) {
          ++publishes_;
          last_ = std::move(table);
        });
  }
  void setHosts(const std::vector<std::string>& addresses) {
    hosts_.clear();
    for (const auto& a : addresses) hosts_.push_back(hostOf(a));
    std::vector<const HostConfig*> pointers;
    for (const auto& h : hosts_) pointers.push_back(&h);
    resolver_->setHosts(pointers);
  }
  const HostAddress& entry(const std::string& address) { return last_->at(address); }

  Dispatcher dispatcher_;
  FakeDnsClient dns_;
  std::vector<HostConfig> hosts_;
  std::unique_ptr<HostResolver> resolver_;
  int publishes_ = 0;
  AddressTableConstSharedPtr last_;
};

TEST(HostAddressTest, LiteralsParseAndNamesDoNot) {
  EXPECT_TRUE(isIpLiteral("10.1.2.3"));
  EXPECT_TRUE(isIpLiteral("::1"));
  EXPECT_FALSE(isIpLiteral("memcached-0.cache.svc"));
  auto v4 = HostAddress::fromLiteral("10.1.2.3", 11211);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->text, "10.1.2.3:11211");
  EXPECT_STREQ(v4->stateName(), "literal");
  auto v6 = HostAddress::fromLiteral("::1", 11211);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->text, "[::1]:11211");
  EXPECT_FALSE(HostAddress::fromLiteral("cache.example", 1).ok());
}

TEST_F(HostResolverTest, LiteralsBypassTheResolverAndNamesStartPending) {
  makeResolver();
  setHosts({"127.0.0.1:11211", "cache-a:11211"});
  EXPECT_EQ(dns_.started, 1);
  EXPECT_EQ(dns_.pendingFor("cache-a"), 1u);
  ASSERT_NE(last_, nullptr);
  EXPECT_EQ(last_->count("127.0.0.1:11211"), 0u);
  EXPECT_EQ(entry("cache-a:11211").state, HostAddress::State::kPending);
  EXPECT_FALSE(entry("cache-a:11211").usable());
}

TEST_F(HostResolverTest, AnswerPublishesTheAddressWithTheConfiguredPort) {
  makeResolver();
  setHosts({"cache-a:11311"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  EXPECT_EQ(entry("cache-a:11311").state, HostAddress::State::kResolved);
  EXPECT_EQ(entry("cache-a:11311").text, "10.0.0.2:11311");
}

TEST_F(HostResolverTest, SeveralRecordsTheLowestIPv4WinsAndReorderingIsNoChange) {
  ResolverOptions options;
  options.min_refresh_gap = absl::ZeroDuration();
  makeResolver(options);
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.9"), record("::1"),
                                                           record("10.0.0.3")}));
  EXPECT_EQ(entry("cache-a:1").text, "10.0.0.3:1");
  int before = publishes_;
  resolver_->refresh("cache-a:1");
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.3"), record("::1"),
                                                           record("10.0.0.9")}));
  EXPECT_EQ(publishes_, before);  // round-robin order is not a move.
}

TEST_F(HostResolverTest, OnlyIPv6RecordsAreUsed) {
  makeResolver();
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("fd00::2"), record("fd00::1")}));
  EXPECT_EQ(entry("cache-a:1").text, "[fd00::1]:1");
}

TEST_F(HostResolverTest, NxdomainMakesTheHostUnavailableAndCountsIt) {
  makeResolver();
  setHosts({"gone:1"});
  ASSERT_TRUE(dns_.answer("gone", absl::NotFoundError("gone does not resolve")));
  EXPECT_EQ(entry("gone:1").state, HostAddress::State::kFailed);
  EXPECT_FALSE(entry("gone:1").usable());
  EXPECT_EQ(entry("gone:1").failures, 1u);
  EXPECT_EQ(entry("gone:1").error, "gone does not resolve");
}

TEST_F(HostResolverTest, NxdomainAfterAnAnswerDropsTheAddress) {
  ResolverOptions options;
  options.min_refresh_gap = absl::ZeroDuration();
  makeResolver(options);
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  resolver_->refresh("cache-a:1");
  ASSERT_TRUE(dns_.answer("cache-a", absl::NotFoundError("deleted")));
  EXPECT_EQ(entry("cache-a:1").state, HostAddress::State::kFailed);
  EXPECT_TRUE(entry("cache-a:1").text.empty());
}

TEST_F(HostResolverTest, NoAnswerKeepsTheLastAddressAsStale) {
  ResolverOptions options;
  options.min_refresh_gap = absl::ZeroDuration();
  makeResolver(options);
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  resolver_->refresh("cache-a:1");
  ASSERT_TRUE(dns_.answer("cache-a", absl::UnavailableError("timeout")));
  const HostAddress& a = entry("cache-a:1");
  EXPECT_TRUE(a.usable());
  EXPECT_TRUE(a.stale);
  EXPECT_STREQ(a.stateName(), "stale");
  EXPECT_EQ(a.text, "10.0.0.2:1");
  EXPECT_EQ(a.failures, 1u);
  // The next answer clears the stale mark.
  resolver_->refresh("cache-a:1");
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  EXPECT_FALSE(entry("cache-a:1").stale);
}

TEST_F(HostResolverTest, NoAnswerBeforeAnyAnswerIsAFailure) {
  makeResolver();
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", absl::UnavailableError("timeout")));
  EXPECT_EQ(entry("cache-a:1").state, HostAddress::State::kFailed);
}

TEST_F(HostResolverTest, AMovedNamePublishesTheNewAddress) {
  ResolverOptions options;
  options.min_refresh_gap = absl::ZeroDuration();
  makeResolver(options);
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  AddressTableConstSharedPtr first = last_;
  resolver_->refresh("cache-a:1");
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.5")}));
  EXPECT_EQ(entry("cache-a:1").text, "10.0.0.5:1");
  EXPECT_EQ(first->at("cache-a:1").text, "10.0.0.2:1");  // published tables never change.
}

TEST_F(HostResolverTest, NamesAreLookedUpAgainEveryPeriod) {
  ResolverOptions options;
  options.refresh_interval = absl::Milliseconds(30);
  makeResolver(options);
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  EXPECT_EQ(dns_.pendingFor("cache-a"), 0u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return dns_.pendingFor("cache-a") == 1; }));
  EXPECT_EQ(dns_.started, 2);
}

TEST_F(HostResolverTest, FailedNamesAreRetriedOnTheRetryInterval) {
  ResolverOptions options;
  options.retry_interval = absl::Milliseconds(30);
  makeResolver(options);
  setHosts({"gone:1"});
  ASSERT_TRUE(dns_.answer("gone", absl::NotFoundError("no")));
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return dns_.pendingFor("gone") == 1; }));
}

TEST_F(HostResolverTest, OneLookupInFlightPerNameHoweverSlowTheServer) {
  ResolverOptions options;
  options.refresh_interval = absl::Milliseconds(10);
  options.min_refresh_gap = absl::ZeroDuration();
  makeResolver(options);
  setHosts({"slow:1"});
  for (int i = 0; i < 5; ++i) resolver_->refresh("slow:1");
  runUntil(dispatcher_, [] { return false; }, absl::Milliseconds(50));
  EXPECT_EQ(dns_.started, 1);
  EXPECT_EQ(resolver_->lookupsInFlight(), 1u);
}

TEST_F(HostResolverTest, RefreshAfterFailuresIsRateLimited) {
  ResolverOptions options;
  options.min_refresh_gap = absl::Milliseconds(100);
  makeResolver(options);
  setHosts({"cache-a:1"});
  ASSERT_TRUE(dns_.answer("cache-a", std::vector<DnsRecord>{record("10.0.0.2")}));
  resolver_->refresh("cache-a:1");
  EXPECT_EQ(dns_.started, 1);  // too soon after the last lookup: deferred, not dropped.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return dns_.started == 2; }));
}

TEST_F(HostResolverTest, ARemovedNameIsCancelledAndForgotten) {
  makeResolver();
  setHosts({"cache-a:1", "cache-b:1"});
  setHosts({"cache-b:1"});
  EXPECT_EQ(dns_.cancelled, 1);
  EXPECT_EQ(last_->count("cache-a:1"), 0u);
  EXPECT_EQ(last_->count("cache-b:1"), 1u);
}

TEST_F(HostResolverTest, AnInlineAnswerIsPublishedAtOnce) {
  dns_.inline_answers["from-hosts-file"] = std::vector<DnsRecord>{record("10.9.9.9")};
  makeResolver();
  setHosts({"from-hosts-file:1"});
  EXPECT_EQ(entry("from-hosts-file:1").text, "10.9.9.9:1");
  EXPECT_EQ(resolver_->lookupsInFlight(), 0u);
}

TEST_F(HostResolverTest, DestroyingTheResolverCancelsItsLookups) {
  makeResolver();
  setHosts({"cache-a:1"});
  resolver_.reset();
  EXPECT_EQ(dns_.cancelled, 1);
  EXPECT_TRUE(dns_.queries.empty());
}

}  // namespace
}  // namespace mcmesh::upstream
