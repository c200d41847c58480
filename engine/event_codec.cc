#include "event_codec.h"

#include <map>
#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

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

namespace {

using ::google::protobuf::internal::WireFormatLite;
using ::google::protobuf::io::CodedInputStream;

// Reads one length-delimited field into `out`, reusing its capacity.
bool ReadBytes(CodedInputStream& in, std::string* out) {
  uint32_t size = 0;
  return in.ReadVarint32(&size) && in.ReadString(out, static_cast<int>(size));
}

bool ReadMetadataEntry(CodedInputStream& in, std::map<std::string, std::string>* metadata) {
  uint32_t size = 0;
  if (!in.ReadVarint32(&size)) return false;
  CodedInputStream::Limit limit = in.PushLimit(static_cast<int>(size));
  std::string key, value;
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == 1 &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!ReadBytes(in, &key)) return false;
    } else if (field == 2 &&
               WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!ReadBytes(in, &value)) return false;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  if (!in.ConsumedEntireMessage()) return false;
  in.PopLimit(limit);
  (*metadata)[std::move(key)] = std::move(value);
  return true;
}

}  // namespace

namespace {

// Empties `record` for the next decode, keeping its strings' capacity.
void ResetRecord(EventRecord* record) {
  record->stream.clear();
  record->type.clear();
  record->data.clear();
  record->content_type.clear();
  record->metadata.clear();
  record->correlation_id.clear();
  record->causation_id.clear();
  record->revision = Revision(0);
  record->position = Position(0);
  record->recorded_at = FromMicros(0);
}

// Reads the field `tag` announces into `record` (the event id's bytes into
// `event_id`). False if the field does not parse or has the wrong wire type.
inline bool ReadStoredEventField(CodedInputStream& in, uint32_t tag, EventRecord* record,
                                 std::string* event_id) {
  using storage::v1::StoredEvent;
  const auto wire_type = WireFormatLite::GetTagWireType(tag);
  const bool is_varint = wire_type == WireFormatLite::WIRETYPE_VARINT;
  const bool is_bytes = wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  uint64_t number = 0;
  bool ok = true;
  switch (WireFormatLite::GetTagFieldNumber(tag)) {
    case StoredEvent::kStreamFieldNumber:
      return is_bytes && ReadBytes(in, &record->stream);
    case StoredEvent::kRevisionFieldNumber:
      ok = is_varint && in.ReadVarint64(&number);
      record->revision = Revision(number);
      return ok;
    case StoredEvent::kPositionFieldNumber:
      ok = is_varint && in.ReadVarint64(&number);
      record->position = Position(number);
      return ok;
    case StoredEvent::kEventIdFieldNumber:
      return is_bytes && ReadBytes(in, event_id);
    case StoredEvent::kTypeFieldNumber:
      return is_bytes && ReadBytes(in, &record->type);
    case StoredEvent::kDataFieldNumber:
      return is_bytes && ReadBytes(in, &record->data);
    case StoredEvent::kContentTypeFieldNumber:
      return is_bytes && ReadBytes(in, &record->content_type);
    case StoredEvent::kMetadataFieldNumber:
      return is_bytes && ReadMetadataEntry(in, &record->metadata);
    case StoredEvent::kCorrelationIdFieldNumber:
      return is_bytes && ReadBytes(in, &record->correlation_id);
    case StoredEvent::kCausationIdFieldNumber:
      return is_bytes && ReadBytes(in, &record->causation_id);
    case StoredEvent::kRecordedAtUsFieldNumber:
      ok = is_varint && in.ReadVarint64(&number);
      record->recorded_at = FromMicros(static_cast<int64_t>(number));
      return ok;
    default:  // stream_id, chain_hash, and fields of later versions
      return WireFormatLite::SkipField(&in, tag);
  }
}

}  // namespace

absl::Status DecodeStoredEvent(std::string_view value, EventRecord* record) {
  // Decodes the StoredEvent wire format field by field straight into the
  // record, reusing its strings' capacity: no message object, no copies
  // beyond the bytes themselves. Replays (W4) and stream reads (W3) decode
  // every event, so this is their main cost after RocksDB's own.
  CodedInputStream in(reinterpret_cast<const uint8_t*>(value.data()),
                      static_cast<int>(value.size()));
  ResetRecord(record);
  std::string event_id;
  bool ok = true;
  for (uint32_t tag = in.ReadTag(); ok && tag != 0; tag = in.ReadTag()) {
    ok = ReadStoredEventField(in, tag, record, &event_id);
  }
  if (!ok || !in.ConsumedEntireMessage()) return absl::DataLossError("stored event does not parse");
  std::optional<EventId> id = EventId::FromBytes(event_id);
  if (!id.has_value()) return absl::DataLossError("stored event has a malformed event id");
  record->event_id = *id;
  return absl::OkStatus();
}

}  // namespace annals::internal
