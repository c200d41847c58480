// Fuzz target: the value of `log` and `stream_events` (StoredEvent plus the
// trailing chain hash), as the engine decodes it on every read. Arbitrary
// bytes must never crash SplitStoredValue or DecodeStoredEvent; a value that
// decodes re-encodes (EncodeStoredEvent) into one that decodes to the same
// record, and decoding into a record that held another event leaves nothing
// of it behind.
#include <cstring>
#include <string>
#include <string_view>

#include "annals/storage/v1/stored_event.pb.h"
#include "event_codec.h"
#include "hash_chain.h"
#include "tests/fuzz/fuzz_support.h"

namespace annals::internal {
namespace {

storage::v1::StoredEvent ToStoredEvent(const EventRecord& record) {
  storage::v1::StoredEvent stored;
  stored.set_stream_id(1);
  stored.set_stream(record.stream);
  stored.set_revision(record.revision.value());
  stored.set_position(record.position.value());
  stored.set_event_id(std::string(record.event_id.AsBytes()));
  stored.set_type(record.type);
  stored.set_data(record.data);
  stored.set_content_type(record.content_type);
  for (const auto& [key, value] : record.metadata) {
    storage::v1::MetadataEntry* entry = stored.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  stored.set_correlation_id(record.correlation_id);
  stored.set_causation_id(record.causation_id);
  stored.set_recorded_at_us(absl::ToUnixMicros(record.recorded_at));
  return stored;
}

EventRecord OtherRecord() {
  EventRecord other;
  other.stream = "other-stream";
  other.revision = Revision(9);
  other.position = Position(99);
  other.recorded_at = absl::FromUnixMicros(123);
  other.type = "Other";
  other.data = "other data";
  other.content_type = "text/plain";
  other.metadata = {{"left", "behind"}};
  other.correlation_id = "other correlation";
  other.causation_id = "other causation";
  return other;
}

void Run(std::string_view value) {
  if (std::optional<SplitValue> split = SplitStoredValue(value)) {
    ANNALS_FUZZ_CHECK(split->hashed_bytes.size() + kChainHashFieldSize == value.size());
    ANNALS_FUZZ_CHECK(split->hashed_bytes.data() == value.data());
    ANNALS_FUZZ_CHECK(std::memcmp(split->stored_hash.data(),
                                  value.data() + value.size() - split->stored_hash.size(),
                                  split->stored_hash.size()) == 0);
  }

  EventRecord record;
  if (!DecodeStoredEvent(value, &record).ok()) return;

  EventRecord reused = OtherRecord();
  ANNALS_FUZZ_CHECK(DecodeStoredEvent(value, &reused).ok());
  ANNALS_FUZZ_CHECK_SAME_RECORD(record, reused);

  ChainHash hash;
  const std::string encoded = EncodeStoredEvent(ToStoredEvent(record), kGenesisChainHash, &hash);
  std::optional<SplitValue> split = SplitStoredValue(encoded);
  ANNALS_FUZZ_CHECK(split.has_value());
  ANNALS_FUZZ_CHECK(split->stored_hash == hash);
  ANNALS_FUZZ_CHECK(ComputeChainHash(kGenesisChainHash, split->hashed_bytes) == hash);
  EventRecord decoded;
  ANNALS_FUZZ_CHECK(DecodeStoredEvent(encoded, &decoded).ok());
  ANNALS_FUZZ_CHECK_SAME_RECORD(record, decoded);
}

}  // namespace
}  // namespace annals::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Proto3 string fields holding bytes that are not UTF-8 make protobuf log
  // on every serialization; the engine writes only UTF-8 there, the decoder
  // accepts any bytes, and the log would drown libFuzzer's output.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  annals::internal::Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
