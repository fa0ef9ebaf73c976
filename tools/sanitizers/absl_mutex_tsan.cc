// ThreadSanitizer annotations for Debian's Abseil, which is built without TSan.
//
// absl::Mutex and absl::CondVar live in libabsl_synchronization.so, where TSan sees neither their
// atomics nor their futex waits: every access our (instrumented) code protects with an
// absl::Mutex would be reported as a race. This file defines the public Mutex/CondVar entry points
// in the executable (so they interpose on the library's, for our code and for gRPC's alike), tells
// TSan about each lock and unlock with its mutex annotations, and forwards to the library's real
// function (dlsym RTLD_NEXT). The real Await/CondVar::Wait release and retake the mutex inside:
// they are modelled as unlock + lock around the call, with accesses in between (condition
// evaluation, done by absl on whichever thread) ignored, exactly as TSan-built Abseil does.
// Linked only into --config=tsan builds (see BUILD, --custom_malloc in .bazelrc).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

extern "C" {
void __tsan_mutex_pre_lock(void* addr, unsigned flags);
void __tsan_mutex_post_lock(void* addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void* addr, unsigned flags);
void __tsan_mutex_post_unlock(void* addr, unsigned flags);
}

namespace {

// Flags of sanitizer/tsan_interface.h.
constexpr unsigned kReadLock = 1 << 3;
constexpr unsigned kTryLock = 1 << 4;
constexpr unsigned kTryLockFailed = 1 << 5;

#define MCMESH_STR2(x) #x
#define MCMESH_STR(x) MCMESH_STR2(x)
constexpr bool sameString(const char* a, const char* b) {
  return *a == *b && (*a == '\0' || sameString(a + 1, b + 1));
}
// The mangled names below spell Debian's inline namespace; a different Abseil needs new names.
static_assert(ABSL_OPTION_USE_INLINE_NAMESPACE == 1 &&
                  sameString(MCMESH_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME), "debian3"),
              "absl_mutex_tsan.cc: mangled names assume absl::debian3");
#define ABSL_MANGLED(tail) "_ZN4absl7debian3" tail

template <typename Fn>
Fn realFunction(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: %s not found: %s\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

// Lock-side and unlock-side annotations around a call that holds the mutex on return.
template <typename Call>
auto locking(absl::Mutex* mu, unsigned flags, Call call) {
  __tsan_mutex_pre_lock(mu, flags);
  auto result = call();
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

// A call entered and left with the mutex held, which releases it while it waits.
template <typename Call>
auto waiting(absl::Mutex* mu, Call call) {
  __tsan_mutex_pre_unlock(mu, 0);
  auto result = call();
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

}  // namespace

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Time;

#define REAL(type, name) static const auto real = realFunction<type>(name)

// void Mutex::Lock() / ReaderLock()
#define N_LOCK ABSL_MANGLED("5Mutex4LockEv")
extern "C" void mcmeshTsanLock(Mutex* mu) __asm__(N_LOCK);
void mcmeshTsanLock(Mutex* mu) {
  REAL(void (*)(Mutex*), N_LOCK);
  locking(mu, 0, [&] { return (real(mu), 0); });
}
#define N_RLOCK ABSL_MANGLED("5Mutex10ReaderLockEv")
extern "C" void mcmeshTsanReaderLock(Mutex* mu) __asm__(N_RLOCK);
void mcmeshTsanReaderLock(Mutex* mu) {
  REAL(void (*)(Mutex*), N_RLOCK);
  locking(mu, kReadLock, [&] { return (real(mu), 0); });
}

// void Mutex::Unlock() / ReaderUnlock()
#define N_UNLOCK ABSL_MANGLED("5Mutex6UnlockEv")
extern "C" void mcmeshTsanUnlock(Mutex* mu) __asm__(N_UNLOCK);
void mcmeshTsanUnlock(Mutex* mu) {
  REAL(void (*)(Mutex*), N_UNLOCK);
  __tsan_mutex_pre_unlock(mu, 0);
  real(mu);
  __tsan_mutex_post_unlock(mu, 0);
}
#define N_RUNLOCK ABSL_MANGLED("5Mutex12ReaderUnlockEv")
extern "C" void mcmeshTsanReaderUnlock(Mutex* mu) __asm__(N_RUNLOCK);
void mcmeshTsanReaderUnlock(Mutex* mu) {
  REAL(void (*)(Mutex*), N_RUNLOCK);
  __tsan_mutex_pre_unlock(mu, kReadLock);
  real(mu);
  __tsan_mutex_post_unlock(mu, kReadLock);
}

// bool Mutex::TryLock() / ReaderTryLock()
#define N_TRY ABSL_MANGLED("5Mutex7TryLockEv")
extern "C" bool mcmeshTsanTryLock(Mutex* mu) __asm__(N_TRY);
bool mcmeshTsanTryLock(Mutex* mu) {
  REAL(bool (*)(Mutex*), N_TRY);
  __tsan_mutex_pre_lock(mu, kTryLock);
  const bool ok = real(mu);
  __tsan_mutex_post_lock(mu, ok ? kTryLock : kTryLock | kTryLockFailed, 0);
  return ok;
}
#define N_RTRY ABSL_MANGLED("5Mutex13ReaderTryLockEv")
extern "C" bool mcmeshTsanReaderTryLock(Mutex* mu) __asm__(N_RTRY);
bool mcmeshTsanReaderTryLock(Mutex* mu) {
  REAL(bool (*)(Mutex*), N_RTRY);
  __tsan_mutex_pre_lock(mu, kReadLock | kTryLock);
  const bool ok = real(mu);
  __tsan_mutex_post_lock(mu, kReadLock | (ok ? kTryLock : kTryLock | kTryLockFailed), 0);
  return ok;
}

// void Mutex::LockWhen(const Condition&) / ReaderLockWhen
#define N_LOCKWHEN ABSL_MANGLED("5Mutex8LockWhenERKNS0_9ConditionE")
extern "C" void mcmeshTsanLockWhen(Mutex* mu, const Condition& c) __asm__(N_LOCKWHEN);
void mcmeshTsanLockWhen(Mutex* mu, const Condition& c) {
  REAL(void (*)(Mutex*, const Condition&), N_LOCKWHEN);
  locking(mu, 0, [&] { return (real(mu, c), 0); });
}
#define N_RLOCKWHEN ABSL_MANGLED("5Mutex14ReaderLockWhenERKNS0_9ConditionE")
extern "C" void mcmeshTsanReaderLockWhen(Mutex* mu, const Condition& c) __asm__(N_RLOCKWHEN);
void mcmeshTsanReaderLockWhen(Mutex* mu, const Condition& c) {
  REAL(void (*)(Mutex*, const Condition&), N_RLOCKWHEN);
  locking(mu, kReadLock, [&] { return (real(mu, c), 0); });
}

// bool Mutex::[Reader]LockWhenWithDeadline: the mutex is held on return either way. The
// *WithTimeout variants are not wrapped: the library forwards them to *WithDeadline through its
// PLT, i.e. to the wrappers here (wrapping both would annotate twice).
#define N_LWD ABSL_MANGLED("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE")
extern "C" bool mcmeshTsanLockWhenWithDeadline(Mutex* mu, const Condition& c, Time t)
    __asm__(N_LWD);
bool mcmeshTsanLockWhenWithDeadline(Mutex* mu, const Condition& c, Time t) {
  REAL(bool (*)(Mutex*, const Condition&, Time), N_LWD);
  return locking(mu, 0, [&] { return real(mu, c, t); });
}
#define N_RLWD ABSL_MANGLED("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE")
extern "C" bool mcmeshTsanReaderLockWhenWithDeadline(Mutex* mu, const Condition& c, Time t)
    __asm__(N_RLWD);
bool mcmeshTsanReaderLockWhenWithDeadline(Mutex* mu, const Condition& c, Time t) {
  REAL(bool (*)(Mutex*, const Condition&, Time), N_RLWD);
  return locking(mu, kReadLock, [&] { return real(mu, c, t); });
}

// Mutex::Await / AwaitWithDeadline (AwaitWithTimeout forwards): held on entry and on return.
#define N_AWAIT ABSL_MANGLED("5Mutex5AwaitERKNS0_9ConditionE")
extern "C" void mcmeshTsanAwait(Mutex* mu, const Condition& c) __asm__(N_AWAIT);
void mcmeshTsanAwait(Mutex* mu, const Condition& c) {
  REAL(void (*)(Mutex*, const Condition&), N_AWAIT);
  waiting(mu, [&] { return (real(mu, c), 0); });
}
#define N_AWD ABSL_MANGLED("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE")
extern "C" bool mcmeshTsanAwaitWithDeadline(Mutex* mu, const Condition& c, Time t)
    __asm__(N_AWD);
bool mcmeshTsanAwaitWithDeadline(Mutex* mu, const Condition& c, Time t) {
  REAL(bool (*)(Mutex*, const Condition&, Time), N_AWD);
  return waiting(mu, [&] { return real(mu, c, t); });
}

// CondVar::Wait / WaitWithDeadline (WaitWithTimeout forwards): held on entry and on return.
#define N_WAIT ABSL_MANGLED("7CondVar4WaitEPNS0_5MutexE")
extern "C" void mcmeshTsanWait(CondVar* cv, Mutex* mu) __asm__(N_WAIT);
void mcmeshTsanWait(CondVar* cv, Mutex* mu) {
  REAL(void (*)(CondVar*, Mutex*), N_WAIT);
  waiting(mu, [&] { return (real(cv, mu), 0); });
}
#define N_WWD ABSL_MANGLED("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE")
extern "C" bool mcmeshTsanWaitWithDeadline(CondVar* cv, Mutex* mu, Time t) __asm__(N_WWD);
bool mcmeshTsanWaitWithDeadline(CondVar* cv, Mutex* mu, Time t) {
  REAL(bool (*)(CondVar*, Mutex*, Time), N_WWD);
  return waiting(mu, [&] { return real(cv, mu, t); });
}
