// Internal: Verify (annals/event_store.h): the integrity check behind
// `annals verify`. Checks every table file's block and file checksums, walks
// the log in position order recomputing the hash chain (across Scavenge's
// gaps through their bridges) and checking each event's stream copy and
// index entries, walks every index family, `stream_events` and `event_ids`
// checking that each entry points to a log event that matches it, and
// decodes every value of the other column families.
#ifndef ANNALS_ENGINE_VERIFY_H_
#define ANNALS_ENGINE_VERIFY_H_

#include "absl/status/statusor.h"
#include "annals/streams.h"
#include "annals/types.h"
#include "storage.h"

namespace annals::internal {

absl::StatusOr<VerifyReport> VerifyStorage(Storage& storage, Position head,
                                           const VerifyOptions& options);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_VERIFY_H_
