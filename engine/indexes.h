// Internal: the secondary index entries of one event (DESIGN.md §3), for the
// writer (puts, in the event's own batch), Scavenge (deletes) and the format
// upgrade (backfill).
#ifndef ANNALS_ENGINE_INDEXES_H_
#define ANNALS_ENGINE_INDEXES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "annals/types.h"
#include "key_codec.h"
#include "storage.h"

namespace annals::internal {

// Calls fn(cf, key) for each index entry of the event at `position`.
template <typename Fn>
void ForEachIndexKey(std::string_view stream, std::string_view type,
                     std::string_view correlation_id, std::string_view causation_id,
                     Position position, Fn&& fn) {
  fn(Cf::kByCategory, IndexKey(CategoryOf(stream), position));
  fn(Cf::kByType, IndexKey(type, position));
  if (!correlation_id.empty()) fn(Cf::kByCorrelation, IndexKey(correlation_id, position));
  if (!causation_id.empty()) fn(Cf::kByCausation, IndexKey(causation_id, position));
}

// Format 1 -> 2: writes the index entries of every event already in the log
// (and the time index), then records format 2, in bounded batches. A crash
// midway leaves format 1, and the next open redoes it (puts are idempotent).
absl::Status BackfillIndexes(Storage& storage);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_INDEXES_H_
