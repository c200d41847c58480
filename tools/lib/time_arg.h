// The times the tool's options take (--since, --until, --as-of, points of
// a stream): one parser, so every option accepts the same forms.
#ifndef ANNALS_TOOLS_TIME_ARG_H_
#define ANNALS_TOOLS_TIME_ARG_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace annals::tool {

// The accepted forms, for messages and help texts.
inline constexpr std::string_view kTimeForms =
    "RFC 3339 (2026-12-01T10:00:00Z, 2026-12-01T11:00:00.25+01:00), a date (2026-12-01: midnight "
    "UTC), a space for the T (2026-12-01 10:00:00Z; without a zone: UTC), a time relative to now "
    "(-45s, -30m, -2h, -3d, -1w) or 'now'";

// Parses `text` in one of kTimeForms; relative forms count back from `now`.
// InvalidArgument naming `text` and the accepted forms otherwise.
absl::StatusOr<absl::Time> ParseTimeArg(std::string_view text, absl::Time now);

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_TIME_ARG_H_
