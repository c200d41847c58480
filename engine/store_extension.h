// Internal: the calls of the store's other public headers (annals/snapshot.h,
// annals/schemas.h, annals/maintenance.h, annals/subscription.h,
// annals/streams.h, FindPosition and Refresh in annals/event_store.h) and
// the engine handles for the library's own components. EventStoreImpl
// implements it; free functions reach it through StoreAccess::Of. Virtual,
// so that a caller compiled into another binary (a tool plugin, which links
// its own copy of the library) runs the store's code, not its own copy.
#ifndef ANNALS_ENGINE_STORE_EXTENSION_H_
#define ANNALS_ENGINE_STORE_EXTENSION_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/schemas.h"
#include "annals/snapshot.h"
#include "annals/stats.h"
#include "annals/subscription.h"

namespace annals::internal {

struct EngineHandles;

class StoreExtension {
 public:
  virtual absl::Status WriteSnapshot(const Snapshot& snapshot) = 0;
  virtual absl::StatusOr<std::optional<Snapshot>> ReadSnapshot(std::string_view stream,
                                                               Revision at_or_below) = 0;
  virtual absl::StatusOr<std::vector<Snapshot>> ListSnapshots(std::string_view stream) = 0;
  virtual absl::Status DeleteSnapshots(std::string_view stream) = 0;
  virtual absl::StatusOr<StreamMetadata> GetStreamMetadata(std::string_view stream) = 0;
  virtual absl::StatusOr<Position> FindPosition(absl::Time time) = 0;
  virtual absl::Status Refresh() = 0;
  virtual absl::StatusOr<ScavengeResult> Scavenge(const ScavengeOptions& options) = 0;
  virtual absl::StatusOr<VerifyReport> Verify(const VerifyOptions& options) = 0;
  virtual absl::Status Backup(std::string_view directory) = 0;
  virtual absl::Status Import(std::vector<EventRecord> events) = 0;
  virtual absl::Status RegisterSchemas(std::string_view file_descriptor_set,
                                       const std::map<std::string, std::string>& bindings,
                                       const SchemaRegistration& options) = 0;
  virtual absl::StatusOr<StoredSchemas> ReadSchemas() = 0;
  virtual absl::StatusOr<std::vector<SubscriberInfo>> ListSubscribers() = 0;
  virtual absl::Status DeleteSubscriber(std::string_view name) = 0;
  virtual absl::StatusOr<Position> WaitForHead(Position after, absl::Duration timeout) = 0;
  // The storage and writer behind the store (internal_access.h).
  virtual absl::StatusOr<EngineHandles> InternalHandles() const = 0;
  // Last, so that earlier slots keep their place for older plugins.
  virtual absl::StatusOr<StoreStats> GetStoreStats() = 0;
  virtual absl::StatusOr<std::string> GetStoreId() = 0;
  virtual absl::StatusOr<std::optional<std::string>> GetReplicaOf() = 0;
  virtual absl::Status MakeReplica(std::string_view primary_id) = 0;

 protected:
  ~StoreExtension() = default;
};

// The one friend of EventStore: hands out its extension.
class StoreAccess {
 public:
  static StoreExtension& Of(EventStore& store) { return store.extension(); }
};

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_STORE_EXTENSION_H_
