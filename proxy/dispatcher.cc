// libevent-backed Dispatcher and Timer.
#include "proxy/dispatcher.h"

#include <event2/event.h>
#include <event2/thread.h>

#include <cstdlib>

namespace mcmesh {
namespace {

timeval toTimeval(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return absl::ToTimeval(d);
}

// libevent must be told to use pthread locks before any base is created, since post() and
// exit() are called from other threads (control-plane client, signal handling).
void ensureThreadSupport() {
  static const bool ok = [] { return evthread_use_pthreads() == 0; }();
  if (!ok) std::abort();
}

}  // namespace

Timer::Timer(event_base* base, std::function<void()> callback)
    : callback_(std::move(callback)), event_(evtimer_new(base, &Timer::onFire, this)) {}

Timer::~Timer() { event_free(event_); }

void Timer::enable(absl::Duration after) {
  timeval tv = toTimeval(after);
  evtimer_add(event_, &tv);
}

void Timer::disable() { evtimer_del(event_); }

bool Timer::enabled() const { return evtimer_pending(event_, nullptr) != 0; }

void Timer::onFire(int, short, void* arg) {
  auto* self = static_cast<Timer*>(arg);
  self->callback_();
}

Dispatcher::Dispatcher() {
  ensureThreadSupport();
  base_ = event_base_new();
  if (base_ == nullptr) std::abort();
  post_event_ = event_new(base_, -1, EV_PERSIST, &Dispatcher::onPosted, this);
  event_add(post_event_, nullptr);
  deferred_timer_ = createTimer([this] { clearDeferred(); });
}

Dispatcher::~Dispatcher() {
  clearDeferred();
  deferred_timer_.reset();
  event_free(post_event_);
  event_base_free(base_);
}

void Dispatcher::run() { event_base_loop(base_, 0); }

void Dispatcher::exit() { event_base_loopbreak(base_); }

void Dispatcher::post(std::function<void()> callback) {
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    posted_.push_back(std::move(callback));
  }
  event_active(post_event_, EV_READ, 0);
}

void Dispatcher::onPosted(int, short, void* arg) { static_cast<Dispatcher*>(arg)->runPosted(); }

void Dispatcher::runPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    batch.swap(posted_);
  }
  for (auto& callback : batch) callback();
}

TimerPtr Dispatcher::createTimer(std::function<void()> callback) {
  return std::make_unique<Timer>(base_, std::move(callback));
}

void Dispatcher::deferredDelete(std::unique_ptr<DeferredDeletable>&& object) {
  deferred_.push_back(std::move(object));
  if (!deferred_timer_->enabled()) deferred_timer_->enable(absl::ZeroDuration());
}

void Dispatcher::clearDeferred() {
  // Deleting may defer more objects; loop until the list stays empty.
  while (!deferred_.empty()) {
    std::vector<std::unique_ptr<DeferredDeletable>> batch;
    batch.swap(deferred_);
    batch.clear();
  }
}

absl::Time Dispatcher::now() {
  timeval tv;
  event_base_gettimeofday_cached(base_, &tv);
  return absl::TimeFromTimeval(tv);
}

}  // namespace mcmesh
