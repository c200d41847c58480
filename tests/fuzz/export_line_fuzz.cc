// Fuzz target: one line of `annals import` (tools/lib/payload.h
// EventFromExport over the parsed JSON). Arbitrary bytes must never crash
// it; a line it accepts, exported again with AppendExportLine (what
// `annals export` writes), is one line that EventFromExport accepts and that
// gives the same event in every field. The export form is then a fixed
// point: exporting that event again gives the same bytes.
#include <string>

#include "payload.h"
#include "tests/fuzz/fuzz_support.h"

namespace annals::tool {
namespace {

void Run(const uint8_t* data, size_t size) {
  const Json line = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (line.is_discarded()) return;
  absl::StatusOr<EventRecord> event = EventFromExport(line);
  if (!event.ok()) return;

  std::string exported;
  AppendExportLine(*event, &exported);
  ANNALS_FUZZ_CHECK(!exported.empty() && exported.find('\n') == exported.size() - 1);
  const Json reparsed = Json::parse(exported, nullptr, /*allow_exceptions=*/false);
  ANNALS_FUZZ_CHECK(!reparsed.is_discarded());
  absl::StatusOr<EventRecord> again = EventFromExport(reparsed);
  ANNALS_FUZZ_CHECK(again.ok());
  ANNALS_FUZZ_CHECK_SAME_RECORD(*event, *again);

  std::string exported_again;
  AppendExportLine(*again, &exported_again);
  ANNALS_FUZZ_CHECK(exported_again == exported);
}

}  // namespace
}  // namespace annals::tool

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  annals::tool::Run(data, size);
  return 0;
}
