// The free functions of the store's other headers (annals/snapshot.h,
// annals/schemas.h, annals/maintenance.h, annals/subscription.h,
// annals/streams.h, annals/stats.h, and FindPosition / Refresh of annals/event_store.h):
// each calls the store's extension (store_extension.h).
#include "annals/maintenance.h"
#include "annals/schemas.h"
#include "annals/snapshot.h"
#include "annals/stats.h"
#include "annals/streams.h"
#include "annals/subscription.h"
#include "store_extension.h"

namespace annals {

using internal::StoreAccess;

absl::Status WriteSnapshot(EventStore& store, const Snapshot& snapshot) {
  return StoreAccess::Of(store).WriteSnapshot(snapshot);
}

absl::StatusOr<std::optional<Snapshot>> ReadSnapshot(EventStore& store, std::string_view stream,
                                                     Revision at_or_below) {
  return StoreAccess::Of(store).ReadSnapshot(stream, at_or_below);
}

absl::StatusOr<std::vector<Snapshot>> ListSnapshots(EventStore& store, std::string_view stream) {
  return StoreAccess::Of(store).ListSnapshots(stream);
}

absl::Status DeleteSnapshots(EventStore& store, std::string_view stream) {
  return StoreAccess::Of(store).DeleteSnapshots(stream);
}

absl::StatusOr<StreamMetadata> GetStreamMetadata(EventStore& store, std::string_view stream) {
  return StoreAccess::Of(store).GetStreamMetadata(stream);
}

absl::StatusOr<Position> FindPosition(EventStore& store, absl::Time time) {
  return StoreAccess::Of(store).FindPosition(time);
}

absl::Status Refresh(EventStore& store) { return StoreAccess::Of(store).Refresh(); }

absl::StatusOr<VerifyReport> Verify(EventStore& store, const VerifyOptions& options) {
  return StoreAccess::Of(store).Verify(options);
}

absl::Status Backup(EventStore& store, std::string_view directory) {
  return StoreAccess::Of(store).Backup(directory);
}

absl::Status Import(EventStore& store, std::vector<EventRecord> events) {
  return StoreAccess::Of(store).Import(std::move(events));
}

absl::StatusOr<ScavengeResult> Scavenge(EventStore& store, const ScavengeOptions& options) {
  return StoreAccess::Of(store).Scavenge(options);
}

absl::Status RegisterSchemas(EventStore& store, std::string_view file_descriptor_set,
                             const std::map<std::string, std::string>& bindings,
                             const SchemaRegistration& options) {
  return StoreAccess::Of(store).RegisterSchemas(file_descriptor_set, bindings, options);
}

absl::StatusOr<StoredSchemas> ReadSchemas(EventStore& store) {
  return StoreAccess::Of(store).ReadSchemas();
}

absl::StatusOr<std::vector<SubscriberInfo>> ListSubscribers(EventStore& store) {
  return StoreAccess::Of(store).ListSubscribers();
}

absl::Status DeleteSubscriber(EventStore& store, std::string_view name) {
  return StoreAccess::Of(store).DeleteSubscriber(name);
}

absl::StatusOr<Position> WaitForHead(EventStore& store, Position after, absl::Duration timeout) {
  return StoreAccess::Of(store).WaitForHead(after, timeout);
}

absl::StatusOr<StoreStats> GetStoreStats(EventStore& store) {
  return StoreAccess::Of(store).GetStoreStats();
}

absl::StatusOr<std::string> GetStoreId(EventStore& store) {
  return StoreAccess::Of(store).GetStoreId();
}

absl::StatusOr<std::optional<std::string>> GetReplicaOf(EventStore& store) {
  return StoreAccess::Of(store).GetReplicaOf();
}

absl::Status MakeReplica(EventStore& store, std::string_view primary_id) {
  return StoreAccess::Of(store).MakeReplica(primary_id);
}

}  // namespace annals
