#include "sync_point.h"

#include <utility>

namespace annals::internal {

SyncPoints& SyncPoints::Get() {
  static SyncPoints* points = new SyncPoints();  // never destroyed: points may run at exit
  return *points;
}

void SyncPoints::TEST_Set(std::string name, std::function<void()> callback) {
  MutexLock lock(&mu_);
  callbacks_[std::move(name)] = std::move(callback);
  enabled_.store(true, std::memory_order_relaxed);
}

void SyncPoints::TEST_ClearAll() {
  MutexLock lock(&mu_);
  callbacks_.clear();
  enabled_.store(false, std::memory_order_relaxed);
}

void SyncPoints::Run(std::string_view name) {
  std::function<void()> callback;
  {
    MutexLock lock(&mu_);
    auto it = callbacks_.find(name);
    if (it == callbacks_.end()) return;
    callback = it->second;
  }
  callback();
}

}  // namespace annals::internal
