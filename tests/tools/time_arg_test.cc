// The tool's one time parser (lib/time_arg.h) and the display width its
// tables align by (lib/output.h), as units.
#include "time_arg.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output.h"
#include "tests/testing/status_matchers.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;
using tool::DisplayWidth;
using tool::ParseTimeArg;

const absl::Time kNow = absl::FromUnixSeconds(1796119200);  // 2026-12-01T10:00:00Z

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(TimeArgTest, AcceptsRfc3339WithZoneOffsetAndFraction) {
  EXPECT_THAT(ParseTimeArg("2026-12-01T10:00:00Z", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
  EXPECT_THAT(ParseTimeArg("2026-12-01T11:30:00+01:30", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
  EXPECT_THAT(ParseTimeArg("2026-12-01T10:00:00.25Z", kNow),
              IsOkAndHolds(Utc(2026, 12, 1, 10) + absl::Milliseconds(250)));
}

TEST(TimeArgTest, AcceptsADateAloneAsMidnightUtc) {
  EXPECT_THAT(ParseTimeArg("2026-12-01", kNow), IsOkAndHolds(Utc(2026, 12, 1)));
}

TEST(TimeArgTest, AcceptsASpaceForTheTAndNoZoneAsUtc) {
  EXPECT_THAT(ParseTimeArg("2026-12-01 10:00:00Z", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
  EXPECT_THAT(ParseTimeArg("2026-12-01 10:00:00", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
  EXPECT_THAT(ParseTimeArg("2026-12-01T10:00:00", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
  EXPECT_THAT(ParseTimeArg("2026-12-01 10:00", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
  EXPECT_THAT(ParseTimeArg("2026-12-01 10:00:00.5", kNow),
              IsOkAndHolds(Utc(2026, 12, 1, 10) + absl::Milliseconds(500)));
  EXPECT_THAT(ParseTimeArg("2026-12-01 11:00:00+01:00", kNow), IsOkAndHolds(Utc(2026, 12, 1, 10)));
}

TEST(TimeArgTest, AcceptsTimesRelativeToNow) {
  EXPECT_THAT(ParseTimeArg("now", kNow), IsOkAndHolds(kNow));
  EXPECT_THAT(ParseTimeArg("-45s", kNow), IsOkAndHolds(kNow - absl::Seconds(45)));
  EXPECT_THAT(ParseTimeArg("-30m", kNow), IsOkAndHolds(kNow - absl::Minutes(30)));
  EXPECT_THAT(ParseTimeArg("-2h", kNow), IsOkAndHolds(kNow - absl::Hours(2)));
  EXPECT_THAT(ParseTimeArg("-3d", kNow), IsOkAndHolds(kNow - absl::Hours(72)));
  EXPECT_THAT(ParseTimeArg("-1w", kNow), IsOkAndHolds(kNow - absl::Hours(168)));
}

TEST(TimeArgTest, RefusesGarbageNamingTheValueAndTheForms) {
  for (const char* garbage :
       {"", "noon", "yesterday", "2026-13-01", "2026-12-01T25:00:00Z", "-2", "-h", "2h", "-2y",
        "+2h", "-99999999999h", "12/01/2026", "2026-12-01Z", "now-2h", "1796119200"}) {
    absl::StatusOr<absl::Time> t = ParseTimeArg(garbage, kNow);
    EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << garbage;
    EXPECT_THAT(std::string(t.status().message()),
                HasSubstr(std::string("'") + garbage + "' is not a time"));
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("RFC 3339"));
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("-2h"));
  }
}

TEST(DisplayWidthTest, CountsTerminalColumns) {
  EXPECT_EQ(DisplayWidth("order-1"), 7u);
  EXPECT_EQ(DisplayWidth("注文"), 4u);        // CJK: two columns each
  EXPECT_EQ(DisplayWidth("ｆｕｌｌ"), 8u);    // fullwidth forms
  EXPECT_EQ(DisplayWidth("한국"), 4u);        // Hangul syllables
  EXPECT_EQ(DisplayWidth("😀!"), 3u);          // emoji: two
  EXPECT_EQ(DisplayWidth("cafe\u0301"), 4u);  // a combining accent: none
  EXPECT_EQ(DisplayWidth("a\u200Db"), 2u);    // zero-width joiner: none
  EXPECT_EQ(DisplayWidth("\xff\xfe"), 2u);    // invalid bytes: one each
  EXPECT_EQ(DisplayWidth("\xe6\xb3"), 2u);    // a cut sequence: one a byte
  EXPECT_EQ(DisplayWidth("é"), 1u);           // precomposed
}

}  // namespace
}  // namespace annals::testing
