// The retry loop of the relay and the follower (retry.h).
#include "retry.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace annals::relay {
namespace {

// Sleeps `d` in short steps, returning early once stopped.
void SleepUnlessStopped(absl::Duration d, const std::atomic<bool>* stop) {
  const absl::Time until = absl::Now() + d;
  while (!Stopped(stop) && absl::Now() < until) {
    absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
  }
}

}  // namespace

bool Stopped(const std::atomic<bool>* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

bool Permanent(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) || absl::IsInvalidArgument(status) ||
         absl::IsPermissionDenied(status) || absl::IsDataLoss(status);
}

absl::Status RunWithRetries(const RetryPolicy& policy, const std::function<absl::Status()>& round,
                            const std::function<bool()>& progressed,
                            const std::function<void(const absl::Status&)>& on_retry) {
  absl::Duration backoff = policy.min;
  int failures = 0;
  while (!Stopped(policy.stop)) {
    absl::Status status = round();
    if (status.ok() || Permanent(status)) return status;
    if (Stopped(policy.stop)) break;  // the round ended because it was asked to
    if (progressed()) {               // it got somewhere: start over
      failures = 0;
      backoff = policy.min;
    }
    ++failures;
    if (policy.max_retries >= 0 && failures > policy.max_retries) return status;
    on_retry(status);
    SleepUnlessStopped(backoff, policy.stop);
    backoff = std::min(backoff * 2, policy.max);
  }
  return absl::OkStatus();
}

}  // namespace annals::relay
