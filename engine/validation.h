// Internal: input checks run on the caller's thread before a request reaches
// the writer, so a bad request never costs the group anything.
#ifndef ANNALS_ENGINE_VALIDATION_H_
#define ANNALS_ENGINE_VALIDATION_H_

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "annals/append.h"
#include "annals/options.h"
#include "annals/utf8.h"

namespace annals::internal {

using ::annals::IsValidUtf8;  // annals/utf8.h

// InvalidArgument unless `stream` is a usable user stream name: non-empty, at
// most options.max_stream_name_bytes, valid UTF-8, no NUL, no leading '$'
// (unless listed in options.system_streams).
absl::Status ValidateStreamName(std::string_view stream, const StoreOptions& options);

// InvalidArgument unless each of options.system_streams may be one: '$' and
// a valid name, neither `$$...`, `$schemas` nor `$all`.
absl::Status ValidateSystemStreams(const StoreOptions& options);

// As ValidateStreamName, but also accepts the system streams (readable,
// never appended to by users): `$$<stream>`, the audit stream of a stream's
// lifecycle operations, and `$schemas` (annals/schemas.h).
absl::Status ValidateReadableStreamName(std::string_view stream, const StoreOptions& options);

// InvalidArgument unless `json` is empty or the text of one JSON object
// (UTF-8, no NUL byte) of at most kMaxCustomMetadataBytes: what
// StreamMetadata::custom_json may hold.
absl::Status ValidateCustomMetadataJson(std::string_view json);

// InvalidArgument if an index read's key (category, type, correlation or
// causation id) is empty or holds a NUL byte.
absl::Status ValidateIndexKey(std::string_view what, std::string_view key);

// InvalidArgument unless every field of `event` may be stored (docs/FORMAT.md,
// "What each field may hold"): type non-empty; type, correlation and
// causation ids and metadata keys (non-empty) UTF-8 without NUL; content
// type printable ASCII; each at most options.max_field_bytes. Data and
// metadata values are bytes.
absl::Status ValidateEventFields(const EventData& event, const StoreOptions& options);

// Checks one append request and assigns ids to events that have none.
// `*caller_ids` says whether any event came with an id of the caller's.
// InvalidArgument naming the stream and event index on any problem.
absl::Status ValidateAppend(AppendRequest& request, const StoreOptions& options, bool* caller_ids);

// Checks a multi-stream append: each part as above (one caller_ids entry per
// append), each stream at most once.
absl::Status ValidateMultiAppend(MultiAppendRequest& request, const StoreOptions& options,
                                 std::vector<bool>* caller_ids);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_VALIDATION_H_
