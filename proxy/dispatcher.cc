// libevent-backed Dispatcher and Timer.
#include "proxy/dispatcher.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace mcmesh {
namespace {

timeval toTimeval(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return absl::ToTimeval(d);
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
  // Each base is used by one thread only, so it needs no locks: libevent's locking cost ~5% of
  // the per-request instructions. The one cross-thread entry, post(), wakes the loop through an
  // eventfd instead of event_active().
  event_config* config = event_config_new();
  event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
  base_ = event_base_new_with_config(config);
  event_config_free(config);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (base_ == nullptr || wake_fd_ < 0) std::abort();
  post_event_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &Dispatcher::onPosted, this);
  event_add(post_event_, nullptr);
  deferred_timer_ = createTimer([this] { clearDeferred(); });
  end_of_batch_event_ = event_new(base_, -1, 0, &Dispatcher::onEndOfBatch, this);
}

Dispatcher::~Dispatcher() {
  clearDeferred();
  deferred_timer_.reset();
  event_free(end_of_batch_event_);
  event_free(post_event_);
  event_base_free(base_);
  close(wake_fd_);
}

void Dispatcher::run() { event_base_loop(base_, 0); }

void Dispatcher::exit() {
  event_base* base = base_;
  post([base] { event_base_loopbreak(base); });
}

void Dispatcher::post(std::function<void()> callback) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    posted_.push_back(std::move(callback));
    wake = !wake_pending_;  // one wake-up per batch, not one syscall per post.
    wake_pending_ = true;
  }
  if (wake) {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
}

void Dispatcher::onPosted(int, short, void* arg) { static_cast<Dispatcher*>(arg)->runPosted(); }

void Dispatcher::runPosted() {
  uint64_t count;
  (void)!::read(wake_fd_, &count, sizeof(count));
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    batch.swap(posted_);
    wake_pending_ = false;
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

void Dispatcher::scheduleEndOfBatch(EndOfBatchWork& work) {
  if (work.end_of_batch_scheduled_) return;
  work.end_of_batch_scheduled_ = true;
  if (end_of_batch_.empty()) event_active(end_of_batch_event_, 0, 0);
  end_of_batch_.push_back(&work);
}

void Dispatcher::cancelEndOfBatch(EndOfBatchWork& work) {
  if (!work.end_of_batch_scheduled_) return;
  work.end_of_batch_scheduled_ = false;
  for (auto* list : {&end_of_batch_, &end_of_batch_running_}) {
    for (auto*& entry : *list) {
      if (entry == &work) entry = nullptr;
    }
  }
}

void Dispatcher::onEndOfBatch(int, short, void* arg) {
  auto* self = static_cast<Dispatcher*>(arg);
  // Work may schedule more work (a flush that frees room makes a client send more): that lands
  // in the fresh list and re-activates the event, which runs again in this same iteration.
  self->end_of_batch_running_.swap(self->end_of_batch_);
  for (size_t i = 0; i < self->end_of_batch_running_.size(); ++i) {
    EndOfBatchWork* work = self->end_of_batch_running_[i];
    if (work == nullptr) continue;
    work->end_of_batch_scheduled_ = false;
    work->runEndOfBatch();
  }
  self->end_of_batch_running_.clear();
}

absl::Time Dispatcher::now() {
  timeval tv;
  event_base_gettimeofday_cached(base_, &tv);
  return absl::TimeFromTimeval(tv);
}

}  // namespace mcmesh
