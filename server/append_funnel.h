// AppendFunnel: one thread that commits the server's appends in groups
// through EventStore::AppendEach. Appends that arrive while a group commits
// (its fsync) make up the next one, so concurrent clients share group
// commits with no thread held per append: a reactor hands its append over
// and returns.
//
// Answers are written by a second thread while the next group commits:
// writing an answer is a socket write (tens of µs here), and a group's
// answers written by the committing thread would keep the next group's
// fsync waiting for them. When nothing is queued for the next group (a lone
// client), the committing thread answers itself, saving the hand-off.
// Either way, answers go out in commit order.
#ifndef ANNALS_SERVER_APPEND_FUNNEL_H_
#define ANNALS_SERVER_APPEND_FUNNEL_H_

#include <condition_variable>
#include <deque>
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
  // Called once the append is committed or refused, on one of the funnel's
  // threads; it must not block (it writes an answer).
  using Done = std::function<void(absl::StatusOr<AppendResult>)>;

  explicit AppendFunnel(EventStore& store);
  ~AppendFunnel();  // Stop()
  AppendFunnel(const AppendFunnel&) = delete;
  AppendFunnel& operator=(const AppendFunnel&) = delete;

  // Queues `request` for the next group. After Stop, `done` runs at once
  // with Unavailable.
  void Submit(AppendRequest request, Done done) ABSL_LOCKS_EXCLUDED(mu_);

  // Commits and answers what is queued, then ends the threads. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // A committed group's callbacks and their results, to be answered.
  struct Answers {
    std::vector<Done> done;
    std::vector<absl::StatusOr<AppendResult>> results;
    void Run();
  };

  void CommitLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void AnswerLoop() ABSL_LOCKS_EXCLUDED(mu_);

  EventStore& store_;
  internal::Mutex mu_;
  std::vector<std::pair<AppendRequest, Done>> queued_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Groups committed and not yet answered, oldest first, and whether the
  // answer thread is answering one (then the committing thread does not
  // answer: that would overtake it).
  std::deque<Answers> unanswered_ ABSL_GUARDED_BY(mu_);
  bool answering_ ABSL_GUARDED_BY(mu_) = false;
  bool committed_all_ ABSL_GUARDED_BY(mu_) = false;  // CommitLoop has returned
  std::condition_variable answers_cv_;               // unanswered_ grew, or committed_all_
  std::thread commit_thread_;
  std::thread answer_thread_;
};

}  // namespace annals::server

#endif  // ANNALS_SERVER_APPEND_FUNNEL_H_
