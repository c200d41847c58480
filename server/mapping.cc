#include "mapping.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace annals::server {
namespace {

uint64_t BigEndian(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return value;
}

void PutBigEndian(uint64_t value, uint8_t* bytes) {
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<uint8_t>(value & 0xff);
    value >>= 8;
  }
}

// What a KurrentDB client reads as custom metadata of an event written
// through the embedded API: its metadata, correlation and causation ids as
// a JSON object ($correlationId, $causationId as KurrentDB names them).
std::string CustomMetadataOf(const EventRecord& record) {
  if (auto it = record.metadata.find(kCustomMetadataKey); it != record.metadata.end()) {
    return it->second;
  }
  if (record.metadata.empty() && record.correlation_id.empty() && record.causation_id.empty()) {
    return "";
  }
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : record.metadata) object[key] = value;
  if (!record.correlation_id.empty()) object["$correlationId"] = record.correlation_id;
  if (!record.causation_id.empty()) object["$causationId"] = record.causation_id;
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::optional<EventId> IdFromWire(const wire::UUID& id) {
  std::optional<EventId> parsed;
  switch (id.value_case()) {
    case wire::UUID::kString:
      parsed = EventId::Parse(id.string());
      break;
    case wire::UUID::kStructured: {
      uint8_t bytes[16];
      PutBigEndian(static_cast<uint64_t>(id.structured().most_significant_bits()), bytes);
      PutBigEndian(static_cast<uint64_t>(id.structured().least_significant_bits()), bytes + 8);
      parsed = EventId::FromBytes(std::string_view(reinterpret_cast<const char*>(bytes), 16));
      break;
    }
    default:
      return std::nullopt;
  }
  if (!parsed || parsed->is_nil()) return std::nullopt;
  return parsed;
}

void IdToWire(const EventId& id, bool structured, wire::UUID* out) {
  if (!structured) {
    out->set_string(id.ToString());
    return;
  }
  const uint8_t* bytes = id.bytes().data();
  out->mutable_structured()->set_most_significant_bits(static_cast<int64_t>(BigEndian(bytes)));
  out->mutable_structured()->set_least_significant_bits(static_cast<int64_t>(BigEndian(bytes + 8)));
}

template <typename Proposed>
absl::StatusOr<EventData> FromProposed(Proposed& message) {
  EventData event;
  auto type = message.metadata().find("type");
  auto content_type = message.metadata().find("content-type");
  if (type == message.metadata().end() || content_type == message.metadata().end()) {
    return absl::FailedPreconditionError("missing required metadata");
  }
  event.type = type->second;
  event.content_type = content_type->second;
  if (message.has_id()) {
    std::optional<EventId> id = IdFromWire(message.id());
    if (!id) return absl::InvalidArgumentError("a proposed message's id is not a valid UUID");
    event.event_id = *id;
  }
  if (!message.custom_metadata().empty()) {
    event.metadata[kCustomMetadataKey] = message.custom_metadata();
    // KurrentDB's conventions for the ids of a conversation: the store
    // indexes them (ReadCorrelation, ReadCausation).
    const std::string& text = message.custom_metadata();
    nlohmann::json custom;  // parsed only when it may name them: appends are hot
    if (absl::StrContains(text, "$correlationId") || absl::StrContains(text, "$causationId")) {
      custom = nlohmann::json::parse(text, nullptr, false);
    }
    if (custom.is_object()) {
      if (auto it = custom.find("$correlationId"); it != custom.end() && it->is_string()) {
        event.correlation_id = it->get<std::string>();
      }
      if (auto it = custom.find("$causationId"); it != custom.end() && it->is_string()) {
        event.causation_id = it->get<std::string>();
      }
    }
  }
  event.data = std::move(*message.mutable_data());
  return event;
}

template absl::StatusOr<EventData> FromProposed(streams::AppendReq::ProposedMessage&);
template absl::StatusOr<EventData> FromProposed(streams::BatchAppendReq::ProposedMessage&);

int64_t Ticks(absl::Time time) { return absl::ToUnixNanos(time) / 100; }

void ToRecorded(const EventRecord& record, bool structured_ids,
                streams::ReadResp::ReadEvent::RecordedEvent* out) {
  IdToWire(record.event_id, structured_ids, out->mutable_id());
  out->mutable_stream_identifier()->set_stream_name(record.stream);
  out->set_stream_revision(record.revision.value());
  out->set_prepare_position(record.position.value());
  out->set_commit_position(record.position.value());
  auto& metadata = *out->mutable_metadata();
  metadata["type"] = record.type;
  metadata["content-type"] =
      record.content_type.empty() ? "application/octet-stream" : record.content_type;
  metadata["created"] = absl::StrCat(Ticks(record.recorded_at));
  out->set_custom_metadata(CustomMetadataOf(record));
  out->set_data(record.data);
}

std::optional<EventRecord> ResolveLink(EventStore& store, const EventRecord& link) {
  if (link.type != kLinkType) return std::nullopt;
  const std::string_view data = link.data;
  const size_t at = data.find('@');
  uint64_t revision = 0;
  if (at == std::string_view::npos || at + 1 == data.size() ||
      !absl::SimpleAtoi(std::string(data.substr(0, at)), &revision)) {
    return std::nullopt;
  }
  absl::StatusOr<std::unique_ptr<EventIterator>> it =
      store.ReadStream(data.substr(at + 1), {.from = Revision(revision), .max_count = 1});
  if (!it.ok() || !(*it)->Valid() || (*it)->record().revision.value() != revision) {
    return std::nullopt;
  }
  return (*it)->record();
}

}  // namespace annals::server
