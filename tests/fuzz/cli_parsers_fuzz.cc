// Fuzz target: the tool's parsers of option values, each given the whole
// input: RFC 3339 times (--since, --until, --as-of, recorded_at), points
// (--from/--to of replay, diff), predicates (bisect --until), evaluated on
// a few fixed states, revision and position numbers (read --from), and the
// numbers CLI11 converts for the tool's numeric options (--limit, -n, --for,
// --timeout). None may crash or throw past its caller; a time shown by the
// tool parses back to itself.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "history.h"
#include "payload.h"
#include "tests/fuzz/fuzz_support.h"

namespace annals::tool {
namespace {

void CheckTime(std::string_view text) {
  std::optional<absl::Time> time = ParseRfc3339(text);
  if (!time || *time == absl::InfiniteFuture() || *time == absl::InfinitePast()) return;
  // Rfc3339 prints the store's microseconds: a time holding exactly that
  // precision, inside the range the store keeps, prints and parses back.
  const absl::Duration since_epoch = *time - absl::UnixEpoch();
  if (absl::Trunc(since_epoch, absl::Microseconds(1)) != since_epoch) return;
  if (since_epoch > absl::Microseconds(INT64_MAX) || since_epoch < absl::Microseconds(INT64_MIN))
    return;
  const std::string shown = Rfc3339(*time);
  std::optional<absl::Time> again = ParseRfc3339(shown);
  ANNALS_FUZZ_CHECK(again.has_value());
  ANNALS_FUZZ_CHECK(*again == *time);
}

void CheckPoint(std::string_view text) {
  std::optional<Point> point = ParsePoint(text);
  if (!point) return;
  (void)DescribePoint(*point);
  uint64_t number = 0;
  if (point->kind == Point::Kind::kRevision) {
    ANNALS_FUZZ_CHECK(absl::SimpleAtoi(std::string(text), &number) && number == point->number);
  } else if (point->kind == Point::Kind::kPosition) {
    ANNALS_FUZZ_CHECK(absl::SimpleAtoi(std::string(text.substr(1)), &number) &&
                      number == point->number);
  }
}

void CheckPredicate(std::string_view text) {
  absl::StatusOr<Predicate> predicate = Predicate::Parse(text);
  if (!predicate.ok()) return;
  static const std::vector<Json>* const kStates = new std::vector<Json>{
      Json::parse(R"({"total_cents": 3500, "status": "SHIPPED", "lines": [{"sku": "A-1", "qty": 2}],
                      "paid": true, "note": null, "big": "9007199254740993", "a/b": {"~": 1.5e300}})"),
      Json::parse(R"({"total_cents": "12", "status": ["SHIPPED"], "lines": {}, "paid": false})"),
      Json::parse(R"([0, "1", [2], {"3": 3}, null, -0.0])"),
      Json::parse("{}"),
      Json::parse("null"),
      Json::parse("\"SHIPPED\""),
      Json::parse("42"),
  };
  for (const Json& state : *kStates) (void)predicate->Holds(state);
}

// As the tool declares its numeric options; CLI11 converts the value.
void CheckNumbers(const std::string& text) {
  uint64_t count = 0;
  double seconds = 0;
  CLI::App app("fuzz");
  app.add_option("--limit", count);
  app.add_option("--for", seconds);
  for (const char* option : {"--limit", "--for"}) {
    std::vector<const char*> argv = {"annals", option, text.c_str()};
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError&) {
      // What annals_main.cc catches: a usage error.
    }
    app.clear();
  }
  uint64_t from = 0;
  (void)absl::SimpleAtoi(text, &from);  // read --from
}

}  // namespace
}  // namespace annals::tool

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  annals::tool::CheckTime(text);
  annals::tool::CheckPoint(text);
  annals::tool::CheckPredicate(text);
  annals::tool::CheckNumbers(text);
  return 0;
}
