// annals/errors.h: predicates and typed details for the statuses annals
// returns. Test errors with these, never by matching message text. The
// error table is in docs/ARCHITECTURE.md.
#ifndef ANNALS_ERRORS_H_
#define ANNALS_ERRORS_H_

#include <optional>
#include <string>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "annals/types.h"

namespace annals {

// One failed expected-revision check.
struct ANNALS_EXPORT StreamConflict {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  // The stream's last revision when the check ran; nullopt: no stream.
  std::optional<Revision> actual;

  friend bool operator==(const StreamConflict&, const StreamConflict&) = default;
};

// Every failed check of one append (single or multi-stream).
struct ANNALS_EXPORT WrongExpectedRevision {
  std::vector<StreamConflict> conflicts;
};

// True if `status` is an append rejected for a wrong expected revision
// (code Aborted, with the typed payload). Nothing was written.
ANNALS_EXPORT bool IsWrongExpectedRevision(const absl::Status& status);

// The failed checks carried by `status`; nullopt unless
// IsWrongExpectedRevision(status).
ANNALS_EXPORT std::optional<WrongExpectedRevision> GetWrongExpectedRevision(
    const absl::Status& status);

// Builds the Aborted status with its payload. For annals itself and for
// layers above it (e.g. a command handler) that report the same conflict.
ANNALS_EXPORT absl::Status WrongExpectedRevisionError(const WrongExpectedRevision& details);

// True if `status` is a schema registration refused because the new schemas
// change a message of stored events incompatibly (code FailedPrecondition,
// with the typed payload). Nothing was written.
ANNALS_EXPORT bool IsBreakingSchemaChange(const absl::Status& status);

// The breaking changes carried by `status`, one line each (e.g.
// "shop.OrderPlaced field 1 'customer': type string -> int64"); empty unless
// IsBreakingSchemaChange(status).
ANNALS_EXPORT std::vector<std::string> GetBreakingSchemaChanges(const absl::Status& status);

// True for DataLoss: a checksum, hash-chain or decoding failure.
ANNALS_EXPORT bool IsCorruption(const absl::Status& status);

}  // namespace annals

#endif  // ANNALS_ERRORS_H_
