// annals/event_store.h: EventStore, the handle to one store directory. Start
// here: open a store, append events to streams with optimistic concurrency,
// read a stream, the global log ($all) or an index, subscribe, and manage a
// stream's lifecycle. Related: annals/append.h (requests), annals/options.h,
// annals/event_iterator.h, annals/filter.h, annals/subscription.h,
// annals/streams.h, annals/errors.h. Beside the store, as free functions over
// an EventStore&: annals/snapshot.h (the snapshot store), annals/schemas.h
// (the schema registry), annals/maintenance.h (verify, backup, import,
// scavenge, repair).
#ifndef ANNALS_EVENT_STORE_H_
#define ANNALS_EVENT_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/append.h"
#include "annals/event.h"
#include "annals/event_iterator.h"
#include "annals/filter.h"
#include "annals/options.h"
#include "annals/streams.h"
#include "annals/subscription.h"
#include "annals/types.h"

namespace annals {

namespace internal {
class StoreAccess;
class StoreExtension;
}  // namespace internal

// The on-disk format version this library writes (docs/FORMAT.md). Stores of
// an older version are upgraded in place by Open.
inline constexpr uint32_t kFormatVersion = 5;

// Handle to one store directory. Thread-safe: every method may be called from
// any thread. The only thread-like work is group commit: concurrent appends
// are committed together, in one fsync, by whichever caller leads the group.
// The store runs no user code (subscriptions are pulled).
class ANNALS_EXPORT EventStore {
 public:
  // Opens the store in directory `path`. Returns the open store.
  // FailedPrecondition if another process (or handle) has it open, if it was
  // written by a newer format, or if it does not exist and
  // !options.create_if_missing; InvalidArgument for bad options; DataLoss,
  // changing nothing, if its write-ahead log is damaged anywhere but in a
  // torn last record (RepairStore in annals/maintenance.h keeps what is
  // intact).
  static absl::StatusOr<std::unique_ptr<EventStore>> Open(std::string_view path,
                                                          const StoreOptions& options);

  // Closes the store (see Close()).
  virtual ~EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends `request.events` to `request.stream` if its state matches
  // `request.expected`. Returns the revisions and positions assigned; a retry
  // whose event ids are already stored at those revisions returns the
  // original result and writes nothing. Aborted if the revision does not
  // match (nothing written; see GetWrongExpectedRevision); AlreadyExists if
  // only some of the events' ids are already stored; InvalidArgument for a
  // malformed request; Unavailable once closed. Durable when it returns if
  // options.sync.
  virtual absl::StatusOr<AppendResult> Append(AppendRequest request) = 0;

  // Commits several appends and checks on other streams all together or not
  // at all. Returns one result per append. Aborted listing every failed check
  // (nothing written); otherwise as Append.
  virtual absl::StatusOr<MultiAppendResult> AppendMulti(MultiAppendRequest request) = 0;

  // Independent appends committed together: in one group commit (one write,
  // one fsync when options.sync) as far as they fit one, each succeeding or
  // failing on its own exactly as Append would (a conflict or a malformed
  // request fails that append only; the others commit). For a caller that
  // gathers the appends of many clients (annals serve): one thread gets the
  // group commit that as many threads calling Append would. One result per
  // request, in order.
  virtual std::vector<absl::StatusOr<AppendResult>> AppendEach(
      std::vector<AppendRequest> requests) = 0;

  // Reads the events of `stream`, applying its retention (StreamMetadata).
  // Returns an iterator (see EventIterator). NotFound if the stream has no
  // events or was soft-deleted; FailedPrecondition if tombstoned;
  // InvalidArgument for a bad name. `$$<stream>` names the stream's audit
  // stream of lifecycle operations, `$schemas` the record of breaking schema
  // registrations (annals/schemas.h).
  virtual absl::StatusOr<std::unique_ptr<EventIterator>> ReadStream(
      std::string_view stream, const ReadStreamOptions& options = {}) = 0;

  // Reads the global log ($all) in position order, narrowed by
  // options.filter and options.since/until. The log shows every event still
  // on disk: retention hides events from stream reads at once, from the log
  // and the indexes when Scavenge removes them (as KurrentDB's $all), so
  // after a Scavenge consecutive events may skip positions: resume after
  // the last position seen (or EventIterator::reached()), never count.
  virtual absl::StatusOr<std::unique_ptr<EventIterator>> ReadAll(
      const ReadAllOptions& options = {}) = 0;

  // An index read: the events of one category (stream names
  // `category-...`), of one event type, or with one correlation / causation
  // id, in position order, with every ReadAllOptions bound and filter applied
  // on top. InvalidArgument for an empty or malformed key.
  virtual absl::StatusOr<std::unique_ptr<EventIterator>> ReadIndex(
      Index index, std::string_view key, const ReadAllOptions& options = {}) = 0;
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadCategory(std::string_view category,
                                                              const ReadAllOptions& options = {}) {
    return ReadIndex(Index::kCategory, category, options);
  }
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadEventType(std::string_view type,
                                                               const ReadAllOptions& options = {}) {
    return ReadIndex(Index::kEventType, type, options);
  }
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadCorrelation(
      std::string_view correlation_id, const ReadAllOptions& options = {}) {
    return ReadIndex(Index::kCorrelation, correlation_id, options);
  }
  absl::StatusOr<std::unique_ptr<EventIterator>> ReadCausation(std::string_view causation_id,
                                                               const ReadAllOptions& options = {}) {
    return ReadIndex(Index::kCausation, causation_id, options);
  }

  // The event with id `event_id` in `stream`, if the append that wrote it
  // gave the id (store-generated ids are not indexed); nullopt otherwise.
  // Answers idempotency questions such as "was this command handled?".
  virtual absl::StatusOr<std::optional<EventRecord>> FindEvent(std::string_view stream,
                                                               const EventId& event_id) = 0;

  // Every stream that has had events (deleted and tombstoned ones too, and
  // `$$` audit streams), in name order, as GetStreamInfo describes them.
  virtual absl::StatusOr<std::vector<StreamInfo>> ListStreams(
      const ListStreamsOptions& options = {}) = 0;

  // Returns what the store knows about `stream`, deleted or not. NotFound if
  // it never had events.
  virtual absl::StatusOr<StreamInfo> GetStreamInfo(std::string_view stream) = 0;

  // Stream lifecycle (KurrentDB semantics). Each checks options.expected
  // (and options.expected_audit) like an append (Aborted with the typed
  // payload on a mismatch), is recorded as an event of `$$<stream>`, and
  // returns that event's position.
  // FailedPrecondition on a tombstoned stream.
  //
  // Sets the stream's retention and custom metadata (replacing the previous
  // settings). The stream need not exist yet. InvalidArgument for max_count
  // 0, max_age under a second, or custom_json that is not a JSON object of
  // at most kMaxCustomMetadataBytes.
  virtual absl::StatusOr<Position> SetStreamMetadata(std::string_view stream,
                                                     const StreamMetadata& metadata,
                                                     const LifecycleOptions& options = {}) = 0;
  // Soft delete: hides every current event (reads answer NotFound); the
  // next append recreates the stream with revisions continuing after the
  // old last one. NotFound if the stream has no events.
  virtual absl::StatusOr<Position> DeleteStream(std::string_view stream,
                                                const LifecycleOptions& options = {}) = 0;
  // Hard delete: the stream and its name are gone for good; reads and
  // appends answer FailedPrecondition. NotFound if the stream has no events.
  virtual absl::StatusOr<Position> TombstoneStream(std::string_view stream,
                                                   const LifecycleOptions& options = {}) = 0;
  // Subscribes to a stream, $all or a filter (see annals/subscription.h).
  // InvalidArgument for bad options; FailedPrecondition if the durable name
  // is in use by an open subscription, or stored for another target.
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options) = 0;
  // The position of the last committed event (0 for an empty store). Every
  // position up to it was given to an event; those Scavenge removed (and
  // those a repair could not recover) are gaps in the log.
  virtual Position head() const = 0;

  // Waits for in-flight appends, stops every subscription (their Next
  // returns Cancelled), flushes memory to disk, then closes. Later calls
  // return Unavailable. Open iterators stay usable; the files close
  // when the last one is gone. Idempotent. A non-OK status reports a failed
  // flush; every acknowledged append is durable regardless.
  virtual absl::Status Close() = 0;

 protected:
  EventStore() = default;

 private:
  friend class internal::StoreAccess;
  // How the functions of the store's other headers reach its
  // implementation: virtual, so that they run the store's own code also
  // when called from another binary (a tool plugin).
  virtual internal::StoreExtension& extension() = 0;
};

// The position of the first event recorded at or after `time`; head + 1 if
// there is none yet. One index seek.
ANNALS_EXPORT absl::StatusOr<Position> FindPosition(EventStore& store, absl::Time time);

// Read-only stores (StoreOptions::read_only): catches up with what the
// writing process has committed since, and wakes subscriptions for it. A
// no-op for a store opened for writing.
ANNALS_EXPORT absl::Status Refresh(EventStore& store);

}  // namespace annals

#endif  // ANNALS_EVENT_STORE_H_
