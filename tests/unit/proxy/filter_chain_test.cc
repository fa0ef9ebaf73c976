// ActiveRequest: forward order, reverse order, local replies, stop/resume, registry errors.
#include "proxy/filter_chain.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/filter_registry.h"

namespace mcmesh {
namespace {

class RecordingOwner : public RequestOwner {
 public:
  replication::Upstreams& cluster() override { std::abort(); }  // these filters never send.
  Dispatcher& dispatcher() override { std::abort(); }
  const std::string& clientAddress() const override { return address_; }
  uint64_t connectionId() const override { return 1; }
  void onRequestComplete(ActiveRequest& r) override { completed.push_back(r.response().text); }
  std::vector<std::string> completed;
  std::string address_ = "test";
};

// Appends its name to the request on the way in and to the response on the way back.
class TagFilter : public PassThroughFilter {
 public:
  TagFilter(std::string name, std::vector<std::string>* log) : name_(name), log_(log) {}
  FilterStatus onRequest(Request&) override {
    log_->push_back(">" + name_);
    return FilterStatus::kContinue;
  }
  FilterStatus onResponse(Response& r) override {
    log_->push_back("<" + name_);
    r.text += name_;
    return FilterStatus::kContinue;
  }
  std::string name_;
  std::vector<std::string>* log_;
};

// Terminal: answers with "R" immediately, or later when `held` is set.
class Terminal : public PassThroughFilter {
 public:
  explicit Terminal(FilterCallbacks** held) : held_(held) {}
  FilterStatus onRequest(Request&) override {
    if (held_ != nullptr) {
      *held_ = callbacks_;
      return FilterStatus::kStopIteration;
    }
    Response r = Response::ofType(ResponseType::kOk);
    r.text = "R";
    callbacks_->sendResponse(std::move(r));
    return FilterStatus::kStopIteration;
  }
  FilterCallbacks** held_;
};

FilterChain chainOf(std::vector<FilterFactory> factories) {
  FilterChain chain;
  chain.factories = std::move(factories);
  return chain;
}

TEST(FilterChainTest, RequestsGoForwardAndResponsesComeBackInReverse) {
  RecordingOwner owner;
  std::vector<std::string> log;
  FilterChain chain = chainOf({[&] { return std::make_unique<TagFilter>("a", &log); },
                               [&] { return std::make_unique<TagFilter>("b", &log); },
                               [] { return std::make_unique<Terminal>(nullptr); }});
  ActiveRequest request(owner, Request{}, chain);
  request.start();
  EXPECT_EQ(log, (std::vector<std::string>{">a", ">b", "<b", "<a"}));
  ASSERT_EQ(owner.completed.size(), 1u);
  EXPECT_EQ(owner.completed[0], "Rba");
  EXPECT_TRUE(request.complete());
}

TEST(FilterChainTest, AsyncTerminalCompletesLater) {
  RecordingOwner owner;
  std::vector<std::string> log;
  FilterCallbacks* held = nullptr;
  FilterChain chain = chainOf({[&] { return std::make_unique<TagFilter>("a", &log); },
                               [&] { return std::make_unique<Terminal>(&held); }});
  ActiveRequest request(owner, Request{}, chain);
  request.start();
  EXPECT_TRUE(owner.completed.empty());
  ASSERT_NE(held, nullptr);
  Response r = Response::ofType(ResponseType::kOk);
  r.text = "late";
  held->sendResponse(std::move(r));
  ASSERT_EQ(owner.completed.size(), 1u);
  EXPECT_EQ(owner.completed[0], "latea");
}

// Answers locally: later filters never see the request; earlier ones see the reply.
class LocalReply : public PassThroughFilter {
 public:
  FilterStatus onRequest(Request&) override {
    Response r = Response::ofType(ResponseType::kServerError);
    r.text = "L";
    callbacks_->sendResponse(std::move(r));
    return FilterStatus::kStopIteration;
  }
};

TEST(FilterChainTest, LocalReplySkipsLaterFilters) {
  RecordingOwner owner;
  std::vector<std::string> log;
  FilterChain chain = chainOf({[&] { return std::make_unique<TagFilter>("a", &log); },
                               [] { return std::make_unique<LocalReply>(); },
                               [&] { return std::make_unique<TagFilter>("never", &log); },
                               [] { return std::make_unique<Terminal>(nullptr); }});
  ActiveRequest request(owner, Request{}, chain);
  request.start();
  EXPECT_EQ(log, (std::vector<std::string>{">a", "<a"}));
  EXPECT_EQ(owner.completed[0], "La");
}

TEST(FilterChainTest, ChainWithoutTerminalAnswersServerError) {
  RecordingOwner owner;
  std::vector<std::string> log;
  FilterChain chain = chainOf({[&] { return std::make_unique<TagFilter>("a", &log); }});
  ActiveRequest request(owner, Request{}, chain);
  request.start();
  ASSERT_EQ(owner.completed.size(), 1u);
  EXPECT_EQ(owner.completed[0], "filter chain has no terminal filtera");
}

TEST(FilterRegistryTest, RejectsUnknownNamesMisplacedTerminalsAndBadConfig) {
  FilterRegistry registry;
  ASSERT_TRUE(registry.add("pass", [](const FilterConfigMap& c, const FilterContext&)
                                       -> absl::StatusOr<FilterFactory> {
    if (!c.empty()) return absl::InvalidArgumentError("takes no options");
    return FilterFactory([] { return std::make_unique<PassThroughFilter>(); });
  }).ok());
  ASSERT_TRUE(registry.add("router", [](const FilterConfigMap&, const FilterContext&)
                                         -> absl::StatusOr<FilterFactory> {
    return FilterFactory([] { return std::make_unique<Terminal>(nullptr); });
  }, true).ok());
  EXPECT_FALSE(registry.add("pass", nullptr).ok());
  FilterContext context;
  EXPECT_TRUE(registry.buildChain({{"pass", {}}, {"router", {}}}, context).ok());
  auto unknown = registry.buildChain({{"nope", {}}, {"router", {}}}, context);
  EXPECT_EQ(unknown.status().message(), "unknown filter 'nope' (known: pass, router)");
  auto misplaced = registry.buildChain({{"router", {}}, {"pass", {}}}, context);
  EXPECT_EQ(misplaced.status().message(), "terminal filter 'router' must be last in the chain (nothing may run after the router)");
  auto no_router = registry.buildChain({{"pass", {}}}, context);
  EXPECT_EQ(no_router.status().message(), "chain must end with a router; 'pass' is not one");
  auto bad = registry.buildChain({{"pass", {{"x", "1"}}}, {"router", {}}}, context);
  EXPECT_EQ(bad.status().message(), "filter 'pass': takes no options");
}

}  // namespace
}  // namespace mcmesh
