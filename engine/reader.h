// Internal: the iterators behind ReadStream and ReadAll. Both are a bounded
// range of one column family whose values are stored events.
#ifndef ANNALS_ENGINE_READER_H_
#define ANNALS_ENGINE_READER_H_

#include <memory>
#include <string>

#include "annals/event_iterator.h"
#include "annals/options.h"
#include "storage.h"

namespace annals::internal {

// Events whose keys lie in [lower, upper) of `cf`, in key order (forward) or
// reverse key order (backward), at most `max_count` of them, skipping any
// event past `head` (committed after the read began, not yet published).
// Keeps `storage` open while it lives.
std::unique_ptr<EventIterator> NewRangeEventIterator(std::shared_ptr<Storage> storage, Cf cf,
                                                     std::string lower, std::string upper,
                                                     Direction direction, uint64_t max_count,
                                                     Position head);

// An iterator with no events, or one that reports `status` at once.
std::unique_ptr<EventIterator> NewEmptyEventIterator(absl::Status status = absl::OkStatus());

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_READER_H_
