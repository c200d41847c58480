#include "append_funnel.h"

#include <pthread.h>

#include <algorithm>

namespace annals::server {
namespace {

// The most appends one AppendEach takes (the store splits larger groups).
constexpr size_t kMaxGroup = 1024;

}  // namespace

AppendFunnel::AppendFunnel(EventStore& store) : store_(store) {
  // Named as `top -H` shows them.
  commit_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "annals-commits");
    CommitLoop();
  });
  answer_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "annals-answers");
    AnswerLoop();
  });
}

AppendFunnel::~AppendFunnel() { Stop(); }

void AppendFunnel::Submit(AppendRequest request, Done done) {
  {
    internal::MutexLock lock(&mu_);
    if (!stopping_) {
      if (queued_.empty()) mu_.SignalAll();  // CommitLoop sleeps while nothing is queued
      queued_.emplace_back(std::move(request), std::move(done));
      return;
    }
  }
  done(absl::UnavailableError("the server is shutting down"));
}

void AppendFunnel::Stop() {
  {
    internal::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.SignalAll();
  }
  if (commit_thread_.joinable()) commit_thread_.join();
  if (answer_thread_.joinable()) answer_thread_.join();
}

void AppendFunnel::Answers::Run() {
  for (size_t i = 0; i < done.size(); ++i) done[i](std::move(results[i]));
}

void AppendFunnel::CommitLoop() {
  while (true) {
    std::vector<std::pair<AppendRequest, Done>> group;
    {
      internal::MutexLock lock(&mu_);
      mu_.Await([this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queued_.empty(); });
      if (queued_.empty()) {  // stopping, and everything committed
        committed_all_ = true;
        answers_cv_.notify_one();
        return;
      }
      if (queued_.size() <= kMaxGroup) {
        group.swap(queued_);
      } else {
        auto end = queued_.begin() + static_cast<std::ptrdiff_t>(kMaxGroup);
        group.assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(end));
        queued_.erase(queued_.begin(), end);
      }
    }
    std::vector<AppendRequest> requests;
    Answers answers;
    requests.reserve(group.size());
    answers.done.reserve(group.size());
    for (auto& [request, done] : group) {
      requests.push_back(std::move(request));
      answers.done.push_back(std::move(done));
    }
    answers.results = store_.AppendEach(std::move(requests));
    {
      internal::MutexLock lock(&mu_);
      if (!queued_.empty() || answering_ || !unanswered_.empty()) {
        // The next group is waiting (or earlier answers are still going
        // out): the answer thread writes these while it commits.
        unanswered_.push_back(std::move(answers));
        answers_cv_.notify_one();
        continue;
      }
    }
    answers.Run();  // nobody waits for the next commit: answer at once
  }
}

void AppendFunnel::AnswerLoop() {
  while (true) {
    Answers answers;
    {
      internal::MutexLock lock(&mu_);
      answering_ = false;
      mu_.AwaitOn(answers_cv_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return committed_all_ || !unanswered_.empty();
      });
      if (unanswered_.empty()) return;  // every group committed and answered
      answers = std::move(unanswered_.front());
      unanswered_.pop_front();
      answering_ = true;
    }
    answers.Run();
  }
}

}  // namespace annals::server
