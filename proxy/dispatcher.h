// One libevent loop: timers, cross-thread posting and deferred deletion for a worker or main thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/time/time.h"

struct event_base;
struct event;

namespace mcmesh {

// A one-shot or re-armable timer on a Dispatcher. Destroying it cancels it.
class Timer {
 public:
  Timer(event_base* base, std::function<void()> callback);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void enable(absl::Duration after);
  void disable();
  bool enabled() const;

 private:
  static void onFire(int, short, void* arg);
  std::function<void()> callback_;
  event* event_;
};
using TimerPtr = std::unique_ptr<Timer>;

// Objects that may be destroyed from inside their own callbacks are handed to deferredDelete()
// and freed on a later loop turn (Envoy's DeferredDeletable).
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

// Work that should run once after the loop has handled the events it is handling now (e.g. a
// socket's pending writes: many requests queued in one batch of events go out in one writev).
class EndOfBatchWork {
 public:
  virtual ~EndOfBatchWork() = default;
  virtual void runEndOfBatch() = 0;

 private:
  friend class Dispatcher;
  bool end_of_batch_scheduled_ = false;
};

class Dispatcher {
 public:
  Dispatcher();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  event_base* base() { return base_; }
  /** Runs the loop until exit() is called. */
  void run();
  /** Stops the loop; safe from any thread. */
  void exit();
  /** Runs `callback` on this loop's thread; safe from any thread. Never capture the owner. */
  void post(std::function<void()> callback);
  TimerPtr createTimer(std::function<void()> callback);
  void deferredDelete(std::unique_ptr<DeferredDeletable>&& object);
  /** Frees everything handed to deferredDelete() now (shutdown). */
  void clearDeferred();
  /**
   * Runs `work` once after the events of the current loop iteration (at most once however often
   * it is scheduled before it runs). Call cancelEndOfBatch() before destroying scheduled work.
   */
  void scheduleEndOfBatch(EndOfBatchWork& work);
  void cancelEndOfBatch(EndOfBatchWork& work);
  /**
   * A buffer for the read in progress (BufferedSocket reads into it when a connection has no
   * partial request buffered, so most reads need no allocation). One per loop: valid only until
   * the read's callback returns.
   */
  static constexpr size_t kReadScratchSize = 64 * 1024;
  char* readScratch() { return read_scratch_.get(); }
  /** A cached clock for the data path (refreshed once per loop iteration by libevent). */
  absl::Time now();

 private:
  static void onPosted(int, short, void* arg);
  void runPosted();
  static void onEndOfBatch(int, short, void* arg);

  event_base* base_;
  int wake_fd_ = -1;  // eventfd: post() writes, the loop reads (the base itself has no locks).
  event* post_event_;
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posted_;
  bool wake_pending_ = false;  // guarded by post_mutex_.
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_;
  TimerPtr deferred_timer_;
  // An fd-less event made active when work is scheduled: libevent runs it after the events
  // already active in this iteration, so it sees everything they queued.
  event* end_of_batch_event_;
  std::vector<EndOfBatchWork*> end_of_batch_;
  std::vector<EndOfBatchWork*> end_of_batch_running_;
  std::unique_ptr<char[]> read_scratch_{new char[kReadScratchSize]};
};

}  // namespace mcmesh
