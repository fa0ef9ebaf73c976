// StreamLoop: a thread that keeps a gRPC stream open, reconnecting between attempts, and that
// another thread can stop at any moment: stop() cancels the call in progress and cuts a backoff
// short. The discovery client (proxy -> control plane) and the etcd watch share it.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"

namespace mcmesh {
namespace control_plane {

class StreamLoop {
 public:
  StreamLoop() = default;
  StreamLoop(const StreamLoop&) = delete;
  StreamLoop& operator=(const StreamLoop&) = delete;
  /** The owner must stop() first: `body` uses the owner's members. */
  ~StreamLoop() { stop(); }

  /** Runs `body` on a new thread; it returns when stopping() says so. */
  void start(std::function<void()> body) { thread_ = std::thread(std::move(body)); }

  /** Marks the loop stopping, cancels the call in progress and joins the thread. Idempotent. */
  void stop() {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  bool stopping() const {
    absl::MutexLock lock(&mutex_);
    return stopping_;
  }

  /**
   * A context for the next call, registered so that stop() cancels it.
   * @return null if stopping (make no call).
   */
  std::shared_ptr<grpc::ClientContext> beginCall() {
    absl::MutexLock lock(&mutex_);
    if (stopping_) return nullptr;
    context_ = std::make_shared<grpc::ClientContext>();
    return context_;
  }

  /** The call is over. @return whether it ended because of stop() (then not an error). */
  bool endCall() {
    absl::MutexLock lock(&mutex_);
    context_.reset();
    return stopping_;
  }

  /** Waits `delay` unless stop() comes first. @return false if stopping. */
  bool sleepUnlessStopping(absl::Duration delay) {
    absl::MutexLock lock(&mutex_);
    mutex_.AwaitWithTimeout(absl::Condition(&stopping_), delay);
    return !stopping_;
  }

 private:
  mutable absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::shared_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace control_plane
}  // namespace mcmesh
