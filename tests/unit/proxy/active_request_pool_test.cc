// ActiveRequestPool: reuse only after the batch, only resettable filters, only the same chain.
#include "proxy/active_request_pool.h"

#include <event2/event.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mcmesh {
namespace {

class Owner : public RequestOwner {
 public:
  replication::Upstreams& cluster() override { std::abort(); }  // these filters never send.
  Dispatcher& dispatcher() override { std::abort(); }
  const std::string& clientAddress() const override { return address_; }
  uint64_t connectionId() const override { return 7; }
  void onRequestComplete(ActiveRequest& r) override {
    completed.push_back(r.request().keys.empty() ? "" : r.request().keys[0]);
  }
  std::vector<std::string> completed;
  std::string address_ = "test";
};

struct Counts {
  int built = 0;
  int destroyed = 0;  // onDestroy calls
  int resets = 0;
};

// Terminal: echoes the key's request back; counts its lifecycle. Holds per-request state
// (`seen_`) that a reset must clear.
class CountingFilter : public PassThroughFilter {
 public:
  CountingFilter(Counts* counts, bool resettable) : counts_(counts), resettable_(resettable) {
    ++counts_->built;
  }
  FilterStatus onRequest(Request& request) override {
    EXPECT_FALSE(seen_) << "a reused filter kept the previous request's state";
    seen_ = true;
    Response r = Response::ofType(ResponseType::kOk);
    r.text = request.keys[0];
    callbacks_->sendResponse(std::move(r));
    return FilterStatus::kStopIteration;
  }
  void onDestroy() override { ++counts_->destroyed; }
  bool resetForReuse() override {
    ++counts_->resets;
    seen_ = false;
    return resettable_;
  }

 private:
  Counts* counts_;
  bool resettable_;
  bool seen_ = false;
};

FilterChainConstSharedPtr chainOf(Counts* counts, bool resettable) {
  auto chain = std::make_shared<FilterChain>();
  chain->names = {"counting"};
  chain->factories = {[counts, resettable] {
    return std::make_unique<CountingFilter>(counts, resettable);
  }};
  return chain;
}

Request get(const std::string& key) {
  Request r;
  r.command = Command::kGet;
  r.keys = {key};
  return r;
}

void endBatch(Dispatcher& dispatcher) { event_base_loop(dispatcher.base(), EVLOOP_NONBLOCK); }

TEST(ActiveRequestPoolTest, AReleasedRequestIsReusedOnlyAfterTheBatch) {
  Dispatcher dispatcher;
  ActiveRequestPool pool(dispatcher);
  Owner owner;
  Counts counts;
  auto chain = chainOf(&counts, true);

  ActiveRequestPtr first = pool.acquire(owner, get("a"), chain, {});
  first->start();
  ActiveRequest* first_raw = first.get();
  pool.release(std::move(first));
  // Still in the batch (the request may be on the stack): a second one is built anew.
  ActiveRequestPtr second = pool.acquire(owner, get("b"), chain, {});
  EXPECT_NE(second.get(), first_raw);
  EXPECT_EQ(counts.built, 2);
  second->start();
  pool.release(std::move(second));
  endBatch(dispatcher);
  EXPECT_EQ(counts.destroyed, 2);  // onDestroy ran once per request, at recycle.
  EXPECT_EQ(pool.idleCount(), 2u);

  ActiveRequestPtr third = pool.acquire(owner, get("c"), chain, {});
  third->start();
  EXPECT_EQ(counts.built, 2);  // reused, nothing built.
  EXPECT_EQ(owner.completed, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(third->response().text, "c");
  pool.release(std::move(third));
  pool.clear();
  EXPECT_EQ(counts.destroyed, 3);
}

TEST(ActiveRequestPoolTest, FiltersThatCannotResetAreDestroyedOnce) {
  Dispatcher dispatcher;
  ActiveRequestPool pool(dispatcher);
  Owner owner;
  Counts counts;
  auto chain = chainOf(&counts, false);
  ActiveRequestPtr request = pool.acquire(owner, get("a"), chain, {});
  request->start();
  pool.release(std::move(request));
  endBatch(dispatcher);
  EXPECT_EQ(pool.idleCount(), 0u);
  EXPECT_EQ(counts.destroyed, 1);  // not again in the destructor.
  ActiveRequestPtr next = pool.acquire(owner, get("b"), chain, {});
  EXPECT_EQ(counts.built, 2);
}

TEST(ActiveRequestPoolTest, ANewChainNeverGetsTheOldChainsFilters) {
  Dispatcher dispatcher;
  ActiveRequestPool pool(dispatcher);
  Owner owner;
  Counts old_counts, new_counts;
  auto old_chain = chainOf(&old_counts, true);
  auto new_chain = chainOf(&new_counts, true);
  ActiveRequestPtr request = pool.acquire(owner, get("a"), old_chain, {});
  request->start();
  pool.release(std::move(request));
  endBatch(dispatcher);
  ASSERT_EQ(pool.idleCount(), 1u);
  ActiveRequestPtr next = pool.acquire(owner, get("b"), new_chain, {});
  EXPECT_EQ(new_counts.built, 1);
  EXPECT_EQ(pool.idleCount(), 0u);  // the old chain's idle request was dropped.
  // A request of the old chain released after the switch is not kept either.
  ActiveRequestPtr late = std::make_unique<ActiveRequest>(owner, get("x"), *old_chain);
  late->pinChain(old_chain);
  pool.release(std::move(late));
  endBatch(dispatcher);
  EXPECT_EQ(pool.idleCount(), 0u);
}

TEST(ActiveRequestPoolTest, LocalRepliesAreNotKept) {
  Dispatcher dispatcher;
  ActiveRequestPool pool(dispatcher);
  Owner owner;
  pool.release(std::make_unique<ActiveRequest>(owner, std::string("ERROR\r\n")));
  endBatch(dispatcher);
  EXPECT_EQ(pool.idleCount(), 0u);
}

}  // namespace
}  // namespace mcmesh
