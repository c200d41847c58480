#include "append_funnel.h"

#include <algorithm>

namespace annals::server {
namespace {

// The most appends one AppendEach takes (the store splits larger groups).
constexpr size_t kMaxGroup = 1024;

}  // namespace

AppendFunnel::AppendFunnel(EventStore& store) : store_(store) {
  thread_ = std::thread([this] { Loop(); });
}

AppendFunnel::~AppendFunnel() { Stop(); }

void AppendFunnel::Submit(AppendRequest request, Done done) {
  {
    internal::MutexLock lock(&mu_);
    if (!stopping_) {
      if (queued_.empty()) mu_.SignalAll();  // Loop sleeps while nothing is queued
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
  if (thread_.joinable()) thread_.join();
}

void AppendFunnel::Loop() {
  while (true) {
    std::vector<std::pair<AppendRequest, Done>> group;
    {
      internal::MutexLock lock(&mu_);
      mu_.Await([this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queued_.empty(); });
      if (queued_.empty()) return;  // stopping, and everything committed
      if (queued_.size() <= kMaxGroup) {
        group.swap(queued_);
      } else {
        auto end = queued_.begin() + static_cast<std::ptrdiff_t>(kMaxGroup);
        group.assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(end));
        queued_.erase(queued_.begin(), end);
      }
    }
    std::vector<AppendRequest> requests;
    requests.reserve(group.size());
    for (auto& [request, done] : group) requests.push_back(std::move(request));
    std::vector<absl::StatusOr<AppendResult>> results = store_.AppendEach(std::move(requests));
    for (size_t i = 0; i < group.size(); ++i) group[i].second(std::move(results[i]));
  }
}

}  // namespace annals::server
