// A fixed set of threads that run the store's calls (appends, reads) for
// the gRPC reactors, whose own threads must never block on the store.
#ifndef ANNALS_SERVER_WORKER_POOL_H_
#define ANNALS_SERVER_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "annals/base/mutex.h"

namespace annals::server {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Runs what was queued, then joins.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `work`; it runs on one of the pool's threads, in FIFO order.
  void Run(std::function<void()> work) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  internal::Mutex mu_;
  std::condition_variable work_;  // a task was queued, or stopping
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace annals::server

#endif  // ANNALS_SERVER_WORKER_POOL_H_
