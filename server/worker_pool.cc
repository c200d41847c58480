#include "worker_pool.h"

#include <pthread.h>

#include <utility>

namespace annals::server {

WorkerPool::WorkerPool(int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "annals-worker");  // as top -H shows it
      Loop();
    });
  }
}

WorkerPool::~WorkerPool() {
  {
    internal::MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::Run(std::function<void()> work) {
  {
    internal::MutexLock lock(&mu_);
    queue_.push_back(std::move(work));
  }
  work_.notify_one();
}

void WorkerPool::Loop() {
  while (true) {
    std::function<void()> work;
    {
      internal::MutexLock lock(&mu_);
      mu_.AwaitOn(work_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace annals::server
