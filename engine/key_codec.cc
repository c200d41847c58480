#include "key_codec.h"

#include <algorithm>

namespace annals::internal {

void AppendBigEndian64(std::string* out, uint64_t value) {
  char bytes[8];
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out->append(bytes, 8);
}

uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

std::string LogKey(Position position) {
  std::string key;
  key.reserve(kLogKeySize);
  AppendBigEndian64(&key, position.value());
  return key;
}

std::optional<Position> ParseLogKey(std::string_view key) {
  if (key.size() != kLogKeySize) return std::nullopt;
  return Position(ReadBigEndian64(key));
}

std::string StreamEventKey(uint64_t stream_id, Revision revision) {
  std::string key;
  key.reserve(kStreamEventKeySize);
  AppendBigEndian64(&key, stream_id);
  AppendBigEndian64(&key, revision.value());
  return key;
}

std::string StreamEventsEnd(uint64_t stream_id) {
  // Stream ids are < 2^64 - 1, so id + 1 does not overflow.
  std::string key;
  AppendBigEndian64(&key, stream_id + 1);
  return key;
}

std::optional<StreamEventKeyParts> ParseStreamEventKey(std::string_view key) {
  if (key.size() != kStreamEventKeySize) return std::nullopt;
  return StreamEventKeyParts{ReadBigEndian64(key), Revision(ReadBigEndian64(key.substr(8)))};
}

std::string EventIdKey(const EventId& id, uint64_t stream_id) {
  std::string key;
  key.reserve(kEventIdKeySize);
  key.append(id.AsBytes());
  AppendBigEndian64(&key, stream_id);
  return key;
}

std::string EncodeEventIdValue(const EventIdValue& value) {
  std::string out;
  out.reserve(16);
  AppendBigEndian64(&out, value.position.value());
  AppendBigEndian64(&out, value.revision.value());
  return out;
}

std::optional<EventIdValue> DecodeEventIdValue(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  return EventIdValue{Position(ReadBigEndian64(value)), Revision(ReadBigEndian64(value.substr(8)))};
}

std::string IndexKey(std::string_view name, Position position) {
  std::string key;
  key.reserve(name.size() + 9);
  key.append(name);
  key.push_back('\0');
  AppendBigEndian64(&key, position.value());
  return key;
}

std::optional<Position> ParseIndexKeyPosition(std::string_view key) {
  if (key.size() < 9 || key[key.size() - 9] != '\0') return std::nullopt;
  return Position(ReadBigEndian64(key.substr(key.size() - 8)));
}

std::optional<std::string_view> ParseIndexKeyName(std::string_view key) {
  if (!ParseIndexKeyPosition(key)) return std::nullopt;
  return key.substr(0, key.size() - 9);
}

std::string IndexKeyAfterName(std::string_view name) {
  std::string key(name);
  key.push_back('\x01');
  return key;
}

std::string TimeKey(int64_t recorded_at_us) {
  std::string key;
  AppendBigEndian64(&key, static_cast<uint64_t>(recorded_at_us) ^ (uint64_t{1} << 63));
  return key;
}

std::optional<int64_t> ParseTimeKey(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian64(key) ^ (uint64_t{1} << 63));
}

namespace {

std::string PrefixedPosition(std::string_view prefix, Position position) {
  std::string key(prefix);
  AppendBigEndian64(&key, position.value());
  return key;
}

std::optional<Position> ParsePrefixedPosition(std::string_view prefix, std::string_view key) {
  if (!key.starts_with(prefix) || key.size() != prefix.size() + 8) return std::nullopt;
  return Position(ReadBigEndian64(key.substr(prefix.size())));
}

}  // namespace

std::string RemovedEventKey(Position position) {
  return PrefixedPosition(kMetaRemovedPrefix, position);
}

std::optional<Position> ParseRemovedEventKey(std::string_view key) {
  return ParsePrefixedPosition(kMetaRemovedPrefix, key);
}

std::string EncodeRemovedEvent(const RemovedEvent& removed) {
  std::string value(1, removed.digest ? 'd' : 'h');
  value.append(reinterpret_cast<const char*>(removed.hash.data()), removed.hash.size());
  AppendBigEndian64(&value, static_cast<uint64_t>(removed.recorded_at_us));
  return value;
}

std::optional<RemovedEvent> DecodeRemovedEvent(std::string_view value) {
  RemovedEvent removed;
  if (value.size() != 1 + removed.hash.size() + 8 || (value[0] != 'd' && value[0] != 'h'))
    return std::nullopt;
  removed.digest = value[0] == 'd';
  std::copy(value.begin() + 1, value.begin() + 1 + removed.hash.size(), removed.hash.begin());
  removed.recorded_at_us =
      static_cast<int64_t>(ReadBigEndian64(value.substr(1 + removed.hash.size())));
  return removed;
}

std::string LostRangeKey(Position first) { return PrefixedPosition(kMetaLostPrefix, first); }

std::optional<Position> ParseLostRangeKey(std::string_view key) {
  return ParsePrefixedPosition(kMetaLostPrefix, key);
}

}  // namespace annals::internal

namespace annals::extension {
namespace {

void AppendBigEndian32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

// tag 0x00 name
std::string ProjectionKey(ProjectionKeyKind kind, std::string_view projection) {
  std::string key(1, static_cast<char>(kind));
  key.push_back('\0');
  key.append(projection);
  return key;
}

// tag 0x00 name 0x00 version
std::string ProjectionKey(ProjectionKeyKind kind, std::string_view projection, uint32_t version) {
  std::string key = ProjectionKey(kind, projection);
  key.push_back('\0');
  AppendBigEndian32(&key, version);
  return key;
}

}  // namespace

std::string ReadModelKeyPrefix(std::string_view projection, uint32_t version) {
  std::string prefix(projection);
  prefix.push_back('\0');
  AppendBigEndian32(&prefix, version);
  return prefix;
}

std::optional<ProjectionKeyKind> ParseProjectionKeyKind(std::string_view key) {
  if (key.size() < 2 || key[1] != '\0') return std::nullopt;
  switch (static_cast<ProjectionKeyKind>(key[0])) {
    case ProjectionKeyKind::kCheckpoint:
    case ProjectionKeyKind::kParked:
    case ProjectionKeyKind::kServing:
    case ProjectionKeyKind::kConsumerGroup:
    case ProjectionKeyKind::kGroupParked:
      return static_cast<ProjectionKeyKind>(key[0]);
  }
  return std::nullopt;
}

std::string ProjectionCheckpointKey(std::string_view projection, uint32_t version) {
  return ProjectionKey(ProjectionKeyKind::kCheckpoint, projection, version);
}

std::string ParkedEventKeyPrefix(std::string_view projection, uint32_t version) {
  return ProjectionKey(ProjectionKeyKind::kParked, projection, version);
}

std::string ParkedEventKey(std::string_view projection, uint32_t version, Position position) {
  std::string key = ParkedEventKeyPrefix(projection, version);
  internal::AppendBigEndian64(&key, position.value());
  return key;
}

std::optional<Position> ParseParkedEventKey(std::string_view key) {
  // tag 0x00, a name of at least one byte, 0x00, version, position.
  constexpr size_t kMinSize = 2 + 1 + 1 + 4 + 8;
  if (key.size() < kMinSize || ParseProjectionKeyKind(key) != ProjectionKeyKind::kParked) {
    return std::nullopt;
  }
  return Position(internal::ReadBigEndian64(key.substr(key.size() - 8)));
}

std::string ServingVersionKey(std::string_view projection) {
  return ProjectionKey(ProjectionKeyKind::kServing, projection);
}

std::string ServingVersionKeyPrefix() { return ProjectionKey(ProjectionKeyKind::kServing, ""); }

std::optional<std::string_view> ParseServingVersionKey(std::string_view key) {
  if (ParseProjectionKeyKind(key) != ProjectionKeyKind::kServing) return std::nullopt;
  return key.substr(2);
}

std::string ConsumerGroupKey(std::string_view group) {
  return ProjectionKey(ProjectionKeyKind::kConsumerGroup, group);
}

std::string ConsumerGroupKeyPrefix() {
  return ProjectionKey(ProjectionKeyKind::kConsumerGroup, "");
}

std::optional<std::string_view> ParseConsumerGroupKey(std::string_view key) {
  if (key.size() < 3 || ParseProjectionKeyKind(key) != ProjectionKeyKind::kConsumerGroup) {
    return std::nullopt;
  }
  return key.substr(2);
}

std::string GroupParkedKeyPrefix(std::string_view group) {
  std::string key = ProjectionKey(ProjectionKeyKind::kGroupParked, group);
  key.push_back('\0');
  return key;
}

std::string GroupParkedKey(std::string_view group, Position position) {
  std::string key = GroupParkedKeyPrefix(group);
  internal::AppendBigEndian64(&key, position.value());
  return key;
}

std::optional<Position> ParseGroupParkedKey(std::string_view key) {
  // tag 0x00, a name of at least one byte, 0x00, position.
  constexpr size_t kMinSize = 2 + 1 + 1 + 8;
  if (key.size() < kMinSize || ParseProjectionKeyKind(key) != ProjectionKeyKind::kGroupParked ||
      key[key.size() - 9] != '\0') {
    return std::nullopt;
  }
  return Position(internal::ReadBigEndian64(key.substr(key.size() - 8)));
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  return end;
}

}  // namespace annals::extension
