// Internal to relay/: the retry loop the relay and the follower share. Both
// start over from the broker's (or the replica's) own state after any error,
// so retrying is always safe; this decides when and how often.
#ifndef ANNALS_RELAY_RETRY_H_
#define ANNALS_RELAY_RETRY_H_

#include <atomic>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace annals::relay {

struct RetryPolicy {
  absl::Duration min;                       // the first wait after a failure
  absl::Duration max;                       // the longest (each failure doubles it)
  int max_retries = -1;                     // failures in a row before giving up; -1: never
  const std::atomic<bool>* stop = nullptr;  // set: no more rounds, no more waiting
};

// True once `stop` is set.
bool Stopped(const std::atomic<bool>* stop);

// Errors that retrying cannot cure: FailedPrecondition, InvalidArgument,
// PermissionDenied, DataLoss.
bool Permanent(const absl::Status& status);

// Runs `round` until it returns OK or `policy.stop` is set (then OK), or it
// fails for good: a Permanent error, or more than max_retries failures in a
// row (that error is returned). Before each wait `on_retry` sees the
// failure; a failed round for which `progressed()` is true (it got
// somewhere) starts the count and the backoff over.
absl::Status RunWithRetries(const RetryPolicy& policy, const std::function<absl::Status()>& round,
                            const std::function<bool()>& progressed,
                            const std::function<void(const absl::Status&)>& on_retry);

}  // namespace annals::relay

#endif  // ANNALS_RELAY_RETRY_H_
