// A count that a test waits on while other threads (callbacks, hooks,
// handlers) raise it: the condition-based wait that replaces a sleep
// (STYLE.md rule 12). std::mutex, so ThreadSanitizer sees the hand-off.
#ifndef ANNALS_TESTS_TESTING_COUNTER_H_
#define ANNALS_TESTS_TESTING_COUNTER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace annals::testing {

class Counter {
 public:
  void Add(int64_t n = 1) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      count_ += n;
    }
    cv_.notify_all();
  }
  // True once the count reached `target`; false after `timeout`, so a
  // missing event fails the test instead of hanging it.
  bool WaitFor(int64_t target, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= target; });
  }
  int64_t value() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t count_ = 0;
};

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TESTING_COUNTER_H_
