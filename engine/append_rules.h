// Internal: the rules an append is checked by in group commit — expected
// revisions (KurrentDB's) and the idempotency rule for retries — as
// functions of the stream's head and what is stored or staged.
// docs/ARCHITECTURE.md, "Expected revisions and idempotency".
#ifndef ANNALS_ENGINE_APPEND_RULES_H_
#define ANNALS_ENGINE_APPEND_RULES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "annals/append.h"
#include "annals/errors.h"
#include "lifecycle_data.h"
#include "storage.h"
#include "writer_group.h"

namespace annals::internal {

// Whether `head` passes `expected`.
bool Satisfies(ExpectedRevision expected, const LoadedStream& head);
// The conflict `expected` makes with `head`, for the Aborted payload.
StreamConflict ConflictOf(const std::string& stream, ExpectedRevision expected,
                          const LoadedStream& head);
// FailedPrecondition: the stream is tombstoned.
absl::Status TombstonedError(const std::string& stream);

// How many of an append's event ids are already stored where a retry of the
// same append would have put them.
struct IdMatch {
  size_t matched = 0;
  AppendResult original;
};

// KurrentDB's rule for a retry whose expected revision is behind: compares
// the incoming ids with the events stored (or staged) from `first` on.
absl::StatusOr<IdMatch> MatchStoredFrom(Storage& storage, const Staged& request,
                                        const Staged& group, const LoadedStream& head,
                                        Revision first, const std::vector<EventData>& events);
// Best-effort deduplication for `any` / `stream_exists`: where are the ids?
absl::StatusOr<IdMatch> MatchStoredIds(Storage& storage, const Staged& request, const Staged& group,
                                       const LoadedStream& head,
                                       const std::vector<EventData>& events);
// The idempotency rule for `append` to the stream whose head is `head`
// (KurrentDB's): with an expected revision that `passes`, `any` and
// `stream_exists` look for its caller-chosen ids (`caller_ids`) anywhere in
// the stream; one that is behind compares them with the events from the
// revision it expected on. nullopt where neither applies.
absl::StatusOr<std::optional<IdMatch>> MatchRetry(Storage& storage, const Staged& request,
                                                  const Staged& group, const LoadedStream& head,
                                                  const AppendRequest& append, bool caller_ids,
                                                  bool passes);
// AlreadyExists: some, not all, of an append's ids are stored.
absl::Status PartialOverlapError(const std::string& stream, const IdMatch& match,
                                 size_t event_count);

// The lifecycle rules (KurrentDB's): how `change` (set metadata, delete,
// tombstone; not kSchemas) moves `record`, the `streams` record of a stream
// whose head is `head`, and what its audit event records in `data`. Returns
// the audit event's type; NotFound for a delete of a stream with nothing
// visible or a tombstone of a stream that never had events.
absl::StatusOr<std::string> ApplyLifecycleChange(const LifecycleChange& change,
                                                 const LoadedStream& head, StreamRecord& record,
                                                 LifecycleData& data);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_APPEND_RULES_H_
