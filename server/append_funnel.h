// AppendFunnel: one thread that commits the server's appends in groups
// through EventStore::AppendEach. Appends that arrive while a group commits
// (its fsync) make up the next one, so concurrent clients share group
// commits with no thread held per append: a reactor hands its append over
// and returns, and its answer is written from the funnel's thread.
#ifndef ANNALS_SERVER_APPEND_FUNNEL_H_
#define ANNALS_SERVER_APPEND_FUNNEL_H_

#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "annals/base/mutex.h"
#include "annals/event_store.h"

namespace annals::server {

class AppendFunnel {
 public:
  // Called on the funnel's thread once the append is committed or refused;
  // it must not block (it writes an answer).
  using Done = std::function<void(absl::StatusOr<AppendResult>)>;

  explicit AppendFunnel(EventStore& store);
  ~AppendFunnel();  // Stop()
  AppendFunnel(const AppendFunnel&) = delete;
  AppendFunnel& operator=(const AppendFunnel&) = delete;

  // Queues `request` for the next group. After Stop, `done` runs at once
  // with Unavailable.
  void Submit(AppendRequest request, Done done) ABSL_LOCKS_EXCLUDED(mu_);

  // Commits what is queued, then ends the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  EventStore& store_;
  internal::Mutex mu_;
  std::vector<std::pair<AppendRequest, Done>> queued_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace annals::server

#endif  // ANNALS_SERVER_APPEND_FUNNEL_H_
