// Internal to projections/ and its tests: seams that let a test wait for a
// moment inside the runner instead of sleeping.
#ifndef ANNALS_PROJECTIONS_TESTING_HOOKS_H_
#define ANNALS_PROJECTIONS_TESTING_HOOKS_H_

#include <functional>

namespace annals::projection_internal {

// `hook` runs in every ProjectionRunner::WaitForPosition of the process,
// under the projection's lock, just before the call starts waiting: any
// change of state after it wakes that waiter. Empty: none (the default).
// The hook must not call into the runner.
void SetWaitHookForTesting(std::function<void()> hook);

}  // namespace annals::projection_internal

#endif  // ANNALS_PROJECTIONS_TESTING_HOOKS_H_
