// Internal: EventStoreImpl, the implementation behind annals/event_store.h.
// It validates requests, hands appends to the Writer, and builds reads.
#ifndef ANNALS_ENGINE_EVENT_STORE_IMPL_H_
#define ANNALS_ENGINE_EVENT_STORE_IMPL_H_

#include <memory>
#include <optional>
#include <string>

#include "annals/base/mutex.h"
#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/schemas.h"
#include "annals/snapshot.h"
#include "internal_access.h"
#include "storage.h"
#include "store_extension.h"
#include "stream_records.h"
#include "subscription_impl.h"
#include "writer.h"

namespace annals::internal {

// Reads the head position, chain head and stream id counter back from
// `storage` (store_open.cc): at open, and when a read-only store refreshes.
absl::StatusOr<RecoveredState> Recover(Storage& storage);

class EventStoreImpl final : public EventStore, public StoreExtension {
 public:
  static absl::StatusOr<std::unique_ptr<EventStore>> Open(std::string_view path,
                                                          const StoreOptions& options);
  // The store over an already open `storage` (RepairStore opens it itself).
  static absl::StatusOr<std::unique_ptr<EventStore>> OpenOn(std::shared_ptr<Storage> storage,
                                                            const StoreOptions& options);
  ~EventStoreImpl() override;

  absl::StatusOr<AppendResult> Append(AppendRequest request) override;
  absl::StatusOr<MultiAppendResult> AppendMulti(MultiAppendRequest request) override;
  std::vector<absl::StatusOr<AppendResult>> AppendEach(
      std::vector<AppendRequest> requests) override;
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadStream(
      std::string_view stream, const ReadStreamOptions& options) override;
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadAll(const ReadAllOptions& options) override;
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadIndex(Index index, std::string_view key,
                                                           const ReadAllOptions& options) override;
  absl::StatusOr<StreamInfo> GetStreamInfo(std::string_view stream) override;
  absl::StatusOr<std::vector<StreamInfo>> ListStreams(const ListStreamsOptions& options) override;
  absl::StatusOr<std::optional<EventRecord>> FindEvent(std::string_view stream,
                                                       const EventId& event_id) override;
  absl::StatusOr<Position> SetStreamMetadata(std::string_view stream,
                                             const StreamMetadata& metadata,
                                             const LifecycleOptions& options) override;
  absl::StatusOr<Position> DeleteStream(std::string_view stream,
                                        const LifecycleOptions& options) override;
  absl::StatusOr<Position> TombstoneStream(std::string_view stream,
                                           const LifecycleOptions& options) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(const SubscribeOptions& options) override;
  Position head() const override;
  absl::Status Close() override ABSL_LOCKS_EXCLUDED(mu_);

  // StoreExtension: the calls of the store's other headers.
  absl::Status WriteSnapshot(const Snapshot& snapshot) override;
  absl::StatusOr<std::optional<Snapshot>> ReadSnapshot(std::string_view stream,
                                                       Revision at_or_below) override;
  absl::StatusOr<std::vector<Snapshot>> ListSnapshots(std::string_view stream) override;
  absl::Status DeleteSnapshots(std::string_view stream) override;
  absl::StatusOr<StreamMetadata> GetStreamMetadata(std::string_view stream) override;
  absl::StatusOr<Position> FindPosition(absl::Time time) override;
  absl::Status Refresh() override;
  absl::StatusOr<ScavengeResult> Scavenge(const ScavengeOptions& options) override;
  absl::StatusOr<VerifyReport> Verify(const VerifyOptions& options) override;
  absl::Status Backup(std::string_view directory) override;
  absl::Status Import(std::vector<EventRecord> events) override;
  absl::Status RegisterSchemas(std::string_view file_descriptor_set,
                               const std::map<std::string, std::string>& bindings,
                               const SchemaRegistration& options) override;
  absl::StatusOr<StoredSchemas> ReadSchemas() override;
  absl::StatusOr<std::vector<SubscriberInfo>> ListSubscribers() override;
  absl::Status DeleteSubscriber(std::string_view name) override;
  absl::StatusOr<Position> WaitForHead(Position after, absl::Duration timeout) override;
  absl::StatusOr<EngineHandles> InternalHandles() const override;
  absl::StatusOr<StoreStats> GetStoreStats() override;
  absl::StatusOr<std::string> GetStoreId() override;
  absl::StatusOr<std::optional<std::string>> GetReplicaOf() override;
  absl::Status MakeReplica(std::string_view primary_id) override;

 private:
  StoreExtension& extension() override { return *this; }
  EventStoreImpl(const StoreOptions& options, std::shared_ptr<Storage> storage,
                 std::shared_ptr<Writer> writer, std::string replica_of);

  struct Handles {
    std::shared_ptr<Storage> storage;
    std::shared_ptr<Writer> writer;
  };
  // The open storage and writer; Unavailable once closed.
  absl::StatusOr<Handles> Acquire() const ABSL_LOCKS_EXCLUDED(mu_);
  // Acquire(), and the `streams` record of `stream` (nullopt: never written).
  // REQUIRES: `stream` validated by the caller.
  struct StreamLookup {
    Handles handles;
    std::optional<StreamRecord> record;
  };
  absl::StatusOr<StreamLookup> Lookup(std::string_view stream) const ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Position> ChangeLifecycle(LifecycleChange change);
  // FailedPrecondition for a read-only store.
  absl::Status CheckWritable() const;
  // CheckWritable, and FailedPrecondition for a replica: only Import writes
  // its log (appends, lifecycle changes and schemas are refused).
  absl::Status CheckAppendable() const ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const StoreOptions options_;
  const std::shared_ptr<OpenSubscribers> open_subscribers_ = std::make_shared<OpenSubscribers>();

  // Serializes RegisterSchemas (check against the stored schemas, then
  // write); guards no field.
  Mutex schemas_mu_;

  // State below is guarded by mu_; Close() clears it.
  mutable Mutex mu_;
  std::shared_ptr<Storage> storage_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Writer> writer_ ABSL_GUARDED_BY(mu_);
  Position head_at_close_ ABSL_GUARDED_BY(mu_);
  // The primary's id (MakeReplica); empty: not a replica.
  std::string replica_of_ ABSL_GUARDED_BY(mu_);
};

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_EVENT_STORE_IMPL_H_
