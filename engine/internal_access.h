// Internal: the storage and writer behind an open EventStore, for the
// library's own components that commit to other column families atomically
// with their bookkeeping (projections/). Not installed.
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
