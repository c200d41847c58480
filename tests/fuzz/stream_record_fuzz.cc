// Fuzz target: the value of `streams` (a StreamInfo), as every stream read,
// append and lifecycle operation decodes it (StreamRecord::Decode).
// Arbitrary bytes must never crash it; a record that decodes encodes
// (StreamRecord::Encode) into bytes that decode to the same record, and its
// retention settings survive the conversion to StreamMetadata.
#include <string>
#include <string_view>

#include "stream_records.h"
#include "tests/fuzz/fuzz_support.h"

namespace annals::internal {
namespace {

bool SameRecord(const StreamRecord& a, const StreamRecord& b) {
  return a.stream_id == b.stream_id && a.created_at_us == b.created_at_us &&
         a.truncate_before == b.truncate_before && a.max_count == b.max_count &&
         a.max_age_us == b.max_age_us && a.tombstoned == b.tombstoned &&
         a.last_revision == b.last_revision && a.last_position == b.last_position &&
         a.last_recorded_at_us == b.last_recorded_at_us && a.custom_json == b.custom_json;
}

void Run(std::string_view value) {
  std::optional<StreamRecord> record = StreamRecord::Decode(value);
  if (!record) return;
  ANNALS_FUZZ_CHECK(record->stream_id != 0);
  if (!record->last_revision) {
    // Encode keeps the head only with a last revision: without one it must
    // have decoded as unset.
    ANNALS_FUZZ_CHECK(record->last_position == 0 && record->last_recorded_at_us == 0);
  }

  std::optional<StreamRecord> again = StreamRecord::Decode(record->Encode());
  ANNALS_FUZZ_CHECK(again.has_value());
  ANNALS_FUZZ_CHECK(SameRecord(*record, *again));

  const StreamMetadata metadata = record->metadata();
  ANNALS_FUZZ_CHECK(metadata.max_count == record->max_count);
  ANNALS_FUZZ_CHECK(metadata.custom_json == record->custom_json);
  ANNALS_FUZZ_CHECK(metadata.max_age.has_value() == record->max_age_us.has_value());
  if (metadata.max_age) {
    ANNALS_FUZZ_CHECK(absl::ToInt64Microseconds(*metadata.max_age) == *record->max_age_us);
  }
  ANNALS_FUZZ_CHECK(metadata.truncate_before.has_value() == record->truncate_before.has_value());
  if (metadata.truncate_before) {
    ANNALS_FUZZ_CHECK(metadata.truncate_before->value() == *record->truncate_before);
  }
}

}  // namespace
}  // namespace annals::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  annals::internal::Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
