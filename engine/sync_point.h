// Internal: named points in the engine's concurrent code where a test runs a
// callback, to force an interleaving instead of sleeping (STYLE.md rule 12;
// RocksDB's SyncPoint, reduced to what our tests need). Off by default: a
// point costs one relaxed atomic load until a test sets a callback.
#ifndef ANNALS_ENGINE_SYNC_POINT_H_
#define ANNALS_ENGINE_SYNC_POINT_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "annals/base/mutex.h"

namespace annals::internal {

class SyncPoints {
 public:
  static SyncPoints& Get();

  // Runs `callback` each time code passes the point `name`, on that thread
  // (possibly under the engine's locks: the callback must not call into the
  // store). Test-only.
  void TEST_Set(std::string name, std::function<void()> callback) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes every callback; points are free again once none is set.
  void TEST_ClearAll() ABSL_LOCKS_EXCLUDED(mu_);

  void Process(std::string_view name) ABSL_LOCKS_EXCLUDED(mu_) {
    if (!enabled_.load(std::memory_order_relaxed)) return;
    Run(name);
  }

 private:
  void Run(std::string_view name) ABSL_LOCKS_EXCLUDED(mu_);

  std::atomic<bool> enabled_{false};
  Mutex mu_;
  std::map<std::string, std::function<void()>, std::less<>> callbacks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace annals::internal

#define ANNALS_SYNC_POINT(name) ::annals::internal::SyncPoints::Get().Process(name)

#endif  // ANNALS_ENGINE_SYNC_POINT_H_
