// annals/event_store.h: EventStore, the handle to one store directory. Start
// here: open a store, append events to streams with optimistic concurrency,
// read a stream or the global log ($all). Related: annals/append.h (requests),
// annals/options.h, annals/event_iterator.h, annals/errors.h.
#ifndef ANNALS_EVENT_STORE_H_
#define ANNALS_EVENT_STORE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/append.h"
#include "annals/event.h"
#include "annals/event_iterator.h"
#include "annals/options.h"
#include "annals/types.h"

namespace annals {

// What the store knows about one stream.
struct StreamInfo {
  std::string stream;
  Revision last_revision;
  Position last_position;
  absl::Time created_at;
  absl::Time updated_at;
};

// The on-disk format version this library writes (docs/FORMAT.md).
inline constexpr uint32_t kFormatVersion = 1;

// Handle to one store directory. Thread-safe: every method may be called from
// any thread. The only thread-like work is group commit: concurrent appends
// are committed together, in one fsync, by whichever caller leads the group.
// The store runs no user code.
class EventStore {
 public:
  // Opens the store in directory `path`. Returns the open store.
  // FailedPrecondition if another process (or handle) has it open, if it was
  // written by a newer format, or if it does not exist and
  // !options.create_if_missing; InvalidArgument for bad options.
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

  // Reads the events of `stream`. Returns an iterator (see EventIterator).
  // NotFound if the stream has no events; InvalidArgument for a bad name.
  virtual absl::StatusOr<std::unique_ptr<EventIterator>> ReadStream(
      std::string_view stream, const ReadStreamOptions& options = {}) = 0;

  // Reads the global log ($all) in position order. Returns an iterator.
  virtual absl::StatusOr<std::unique_ptr<EventIterator>> ReadAll(
      const ReadAllOptions& options = {}) = 0;

  // Returns what the store knows about `stream`. NotFound if it has no events.
  virtual absl::StatusOr<StreamInfo> GetStreamInfo(std::string_view stream) = 0;

  // The position of the last committed event (0 for an empty store). Every
  // position up to it is readable.
  virtual Position head() const = 0;

  // Waits for in-flight appends, flushes memory to disk, then closes. Later
  // calls return Unavailable. Open iterators stay usable; the files close
  // when the last one is gone. Idempotent. A non-OK status reports a failed
  // flush; every acknowledged append is durable regardless.
  virtual absl::Status Close() = 0;

 protected:
  EventStore() = default;
};

}  // namespace annals

#endif  // ANNALS_EVENT_STORE_H_
