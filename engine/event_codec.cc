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
    if (field == 1 && WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
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

absl::Status DecodeStoredEvent(std::string_view value, EventRecord* record) {
  // Decodes the StoredEvent wire format field by field straight into the
  // record, reusing its strings' capacity: no message object, no copies
  // beyond the bytes themselves. Replays (W4) and stream reads (W3) decode
  // every event, so this is their main cost after RocksDB's own.
  CodedInputStream in(reinterpret_cast<const uint8_t*>(value.data()), static_cast<int>(value.size()));
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
  std::string event_id;
  bool ok = true;
  for (uint32_t tag = in.ReadTag(); ok && tag != 0; tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    uint64_t number = 0;
    const bool is_varint = wire_type == WireFormatLite::WIRETYPE_VARINT;
    const bool is_bytes = wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    switch (field) {
      case storage::v1::StoredEvent::kStreamFieldNumber:
        ok = is_bytes && ReadBytes(in, &record->stream);
        break;
      case storage::v1::StoredEvent::kRevisionFieldNumber:
        ok = is_varint && in.ReadVarint64(&number);
        record->revision = Revision(number);
        break;
      case storage::v1::StoredEvent::kPositionFieldNumber:
        ok = is_varint && in.ReadVarint64(&number);
        record->position = Position(number);
        break;
      case storage::v1::StoredEvent::kEventIdFieldNumber:
        ok = is_bytes && ReadBytes(in, &event_id);
        break;
      case storage::v1::StoredEvent::kTypeFieldNumber:
        ok = is_bytes && ReadBytes(in, &record->type);
        break;
      case storage::v1::StoredEvent::kDataFieldNumber:
        ok = is_bytes && ReadBytes(in, &record->data);
        break;
      case storage::v1::StoredEvent::kContentTypeFieldNumber:
        ok = is_bytes && ReadBytes(in, &record->content_type);
        break;
      case storage::v1::StoredEvent::kMetadataFieldNumber:
        ok = is_bytes && ReadMetadataEntry(in, &record->metadata);
        break;
      case storage::v1::StoredEvent::kCorrelationIdFieldNumber:
        ok = is_bytes && ReadBytes(in, &record->correlation_id);
        break;
      case storage::v1::StoredEvent::kCausationIdFieldNumber:
        ok = is_bytes && ReadBytes(in, &record->causation_id);
        break;
      case storage::v1::StoredEvent::kRecordedAtUsFieldNumber:
        ok = is_varint && in.ReadVarint64(&number);
        record->recorded_at = FromMicros(static_cast<int64_t>(number));
        break;
      default:  // stream_id, chain_hash, and fields of later versions
        ok = WireFormatLite::SkipField(&in, tag);
        break;
    }
  }
  if (!ok || !in.ConsumedEntireMessage()) return absl::DataLossError("stored event does not parse");
  std::optional<EventId> id = EventId::FromBytes(event_id);
  if (!id.has_value()) return absl::DataLossError("stored event has a malformed event id");
  record->event_id = *id;
  return absl::OkStatus();
}

}  // namespace annals::internal
