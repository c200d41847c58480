// Internal: the iterators behind every read. A stream read is a range of
// `stream_events`; $all is a range of `log`; an index read merges the ranges
// of one or more names of an index column family in position order and
// fetches the bodies from `log` in batches. Filters and time bounds apply on
// top; every iterator reports how far it has looked (reached()).
#ifndef ANNALS_ENGINE_READER_H_
#define ANNALS_ENGINE_READER_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "annals/event_iterator.h"
#include "annals/options.h"
#include "storage.h"

namespace annals::internal {

// Events whose keys lie in [lower, upper) of `cf`, in key order (forward) or
// reverse key order (backward), at most `max_count` of them, skipping any
// event past `head` (committed after the read began, not yet published) and,
// for stream reads with a max age, any recorded before `min_recorded_at_us`.
// reached() is the last event's position, or `reached_at_end` once the
// range is exhausted. Keeps `storage` open while it lives.
std::unique_ptr<EventIterator> NewRangeEventIterator(
    std::shared_ptr<Storage> storage, Cf cf, std::string lower, std::string upper,
    Direction direction, uint64_t max_count, Position head, Position reached_at_end,
    int64_t min_recorded_at_us = std::numeric_limits<int64_t>::min());

// An iterator with no events, or one that reports `status` at once.
std::unique_ptr<EventIterator> NewEmptyEventIterator(absl::Status status = absl::OkStatus(),
                                                     Position reached = Position(0));

// Where a log read takes its candidates from.
struct ReadSource {
  // Cf::kLog: the log itself; otherwise an index column family and the names
  // whose entries are merged.
  Cf cf = Cf::kLog;
  std::vector<std::string> names;
};

// The source a filter reads cheapest: the category index if it names
// categories, else the type index if it names types, else the log.
ReadSource SourceForFilter(const EventFilter& filter);

// A read of `source` bounded by `head` (the published head when the read
// began) and by options (direction, from, since/until, max_count, filter).
absl::StatusOr<std::unique_ptr<EventIterator>> NewLogRead(std::shared_ptr<Storage> storage,
                                                          Position head, const ReadSource& source,
                                                          const ReadAllOptions& options);

// The position of the first event recorded at or after `time_us`; head + 1
// if none is published yet.
absl::StatusOr<Position> FindPositionAt(Storage& storage, int64_t time_us, Position head);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_READER_H_
