// annals/snapshot.h: Snapshot, an aggregate's serialized state at one
// revision of its stream, kept beside the stream so that loading folds only
// the tail, and the snapshot store's functions. The command layer
// (annals/aggregate.h) writes and uses them. Read annals/event_store.h first.
#ifndef ANNALS_SNAPSHOT_H_
#define ANNALS_SNAPSHOT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/types.h"

namespace annals {

struct ANNALS_EXPORT Snapshot {
  std::string stream;
  // The state after this revision (events 0..revision folded).
  Revision revision;
  // The state's schema version: a loader ignores snapshots of another one.
  uint32_t schema_version = 0;
  // The serialized state; annals never interprets it.
  std::string state;
  // The first revision folded in: 0, or a soft delete's truncation point.
  Revision folded_from;
  // The global position of the event at `revision` (for position and time
  // bounded loads).
  Position position;
  // Set by the store.
  absl::Time created_at;
};

class EventStore;

// The snapshot store, beside the store's events (free functions, as RocksDB's
// utilities are). Each returns Unavailable once the store is closed and
// InvalidArgument for a bad stream name.
//
// Stores `snapshot`, replacing one at the same revision. NotFound if the
// stream has no such revision; FailedPrecondition if it is tombstoned or
// the store read-only.
ANNALS_EXPORT absl::Status WriteSnapshot(EventStore& store, const Snapshot& snapshot);
// The newest snapshot of `stream` at or below `at_or_below`; nullopt if none.
ANNALS_EXPORT absl::StatusOr<std::optional<Snapshot>> ReadSnapshot(EventStore& store,
                                                                   std::string_view stream,
                                                                   Revision at_or_below);
// Every snapshot of `stream`, in revision order.
ANNALS_EXPORT absl::StatusOr<std::vector<Snapshot>> ListSnapshots(EventStore& store,
                                                                  std::string_view stream);
// Deletes every snapshot of `stream` (Scavenge deletes those of removed
// events by itself).
ANNALS_EXPORT absl::Status DeleteSnapshots(EventStore& store, std::string_view stream);

}  // namespace annals

#endif  // ANNALS_SNAPSHOT_H_
