#include "event_codec.h"

#include <utility>

namespace annals::internal {

std::string EncodeStoredEvent(const storage::v1::StoredEvent& event, const ChainHash& previous,
                              ChainHash* hash) {
  std::string value;
  value.reserve(event.ByteSizeLong() + kChainHashFieldSize);
  event.AppendToString(&value);
  *hash = ComputeChainHash(previous, value);
  AppendChainHashField(*hash, &value);
  return value;
}

absl::Time FromMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

absl::Status DecodeStoredEvent(std::string_view value, storage::v1::StoredEvent* scratch,
                               EventRecord* record) {
  if (!scratch->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError("stored event does not parse");
  }
  // Swap rather than copy: the strings' buffers circulate between the scratch
  // message and the record, so a long read allocates almost nothing.
  record->stream.swap(*scratch->mutable_stream());
  record->revision = Revision(scratch->revision());
  record->position = Position(scratch->position());
  record->recorded_at = FromMicros(scratch->recorded_at_us());
  record->type.swap(*scratch->mutable_type());
  record->data.swap(*scratch->mutable_data());
  record->content_type.swap(*scratch->mutable_content_type());
  record->metadata.clear();
  for (auto& [key, val] : *scratch->mutable_metadata()) record->metadata.emplace(key, val);
  std::optional<EventId> id = EventId::FromBytes(scratch->event_id());
  if (!id.has_value()) return absl::DataLossError("stored event has a malformed event id");
  record->event_id = *id;
  record->correlation_id.swap(*scratch->mutable_correlation_id());
  record->causation_id.swap(*scratch->mutable_causation_id());
  return absl::OkStatus();
}

}  // namespace annals::internal
