// annals/base/mutex.h (internal, build-only, not installed): an annotated
// mutex with absl::Mutex's Await shape, built on std::mutex. Why not
// absl::Mutex itself: Debian's libabsl is not built with ThreadSanitizer, so
// TSan cannot see its lock/unlock and reports a race on every guarded field
// (checked: a two-thread counter under absl::MutexLock is flagged).
// std::mutex goes through pthreads, which TSan intercepts. The annotations
// keep Clang's -Wthread-safety checking every guarded field.
#ifndef ANNALS_BASE_MUTEX_H_
#define ANNALS_BASE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace annals::internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

  // Blocks until `ready()` holds. REQUIRES: held. `ready` runs under the lock.
  template <typename Predicate>
  void Await(Predicate ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.wait(lock, ready);
    lock.release();
  }

  // As Await, giving up after `timeout`. Returns ready().
  template <typename Predicate>
  bool AwaitWithTimeout(Predicate ready, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool result = cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), ready);
    lock.release();
    return result;
  }

  // As Await / AwaitWithTimeout, but sleeping on `cv` rather than the shared
  // condition variable, so that a waker can wake exactly this waiter
  // (cv.notify_one()) instead of every thread waiting on the mutex.
  template <typename Predicate>
  void AwaitOn(std::condition_variable& cv, Predicate ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv.wait(lock, ready);
    lock.release();
  }
  template <typename Predicate>
  bool AwaitOnWithTimeout(std::condition_variable& cv, Predicate ready, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool result = cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), ready);
    lock.release();
    return result;
  }

  // Wakes every waiter so it re-checks its condition. Call after changing
  // state a waiter's condition reads. (absl::Mutex does this implicitly on
  // unlock; a std::condition_variable needs it said.)
  void SignalAll() { cv_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace annals::internal

#endif  // ANNALS_BASE_MUTEX_H_
