// annals/snapshot.h: Snapshot, an aggregate's serialized state at one
// revision of its stream, kept beside the stream so that loading folds only
// the tail. The command layer (annals/aggregate.h) writes and uses them;
// EventStore stores them (WriteSnapshot, ReadSnapshot, ListSnapshots,
// DeleteSnapshots). Read annals/event_store.h first.
#ifndef ANNALS_SNAPSHOT_H_
#define ANNALS_SNAPSHOT_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "annals/types.h"

namespace annals {

struct Snapshot {
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

}  // namespace annals

#endif  // ANNALS_SNAPSHOT_H_
