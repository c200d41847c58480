#include "time_arg.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace annals::tool {
namespace {

// "-2h": a whole number of seconds, minutes, hours, days or weeks ago.
std::optional<absl::Duration> ParseAgo(const std::string& text) {
  if (text.size() < 3 || text.front() != '-') return std::nullopt;
  const std::string digits = text.substr(1, text.size() - 2);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  int64_t count = 0;
  // At most 10^9 of a unit: a week of them still fits absl::Duration.
  if (digits.size() > 9 || !absl::SimpleAtoi(digits, &count)) return std::nullopt;
  switch (text.back()) {
    case 's':
      return absl::Seconds(count);
    case 'm':
      return absl::Minutes(count);
    case 'h':
      return absl::Hours(count);
    case 'd':
      return absl::Hours(24 * count);
    case 'w':
      return absl::Hours(24 * 7 * count);
    default:
      return std::nullopt;
  }
}

}  // namespace

absl::StatusOr<absl::Time> ParseTimeArg(std::string_view text, absl::Time now) {
  const std::string given(text);
  const std::string trimmed(absl::StripAsciiWhitespace(given));
  if (trimmed == "now") return now;
  if (std::optional<absl::Duration> ago = ParseAgo(trimmed)) return now - *ago;
  std::string normal = trimmed;
  // "2026-12-01 10:00:00Z": a space may stand for RFC 3339's T.
  if (normal.size() > 10 && normal[10] == ' ') normal[10] = 'T';
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, normal, &time, &error)) return time;
  // Without a zone the time is UTC, never the machine's local time.
  for (const char* format : {"%Y-%m-%dT%H:%M:%E*S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    if (absl::ParseTime(format, normal, absl::UTCTimeZone(), &time, &error)) return time;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", given, "' is not a time: give ", std::string(kTimeForms)));
}

}  // namespace annals::tool
