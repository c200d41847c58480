// Internal: the storage and writer behind an open EventStore, for the
// engine's own free functions (RepairStore, the read-side extension in
// read_side.cc) and the tests. Not installed; projections/ reaches the
// store through annals/read_side.h instead.
#ifndef ANNALS_ENGINE_INTERNAL_ACCESS_H_
#define ANNALS_ENGINE_INTERNAL_ACCESS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "annals/event_store.h"
#include "storage.h"
#include "writer.h"

namespace annals::internal {

struct EngineHandles {
  std::shared_ptr<Storage> storage;
  std::shared_ptr<Writer> writer;
  bool sync = true;
};

// Unavailable once the store is closed; InvalidArgument for a store that is
// not annals' own implementation (a test double).
absl::StatusOr<EngineHandles> EngineHandlesOf(EventStore& store);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_INTERNAL_ACCESS_H_
