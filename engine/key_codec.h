// Internal: every key of every column family is built and parsed here, and
// nowhere else. Integers are big-endian so that byte order equals numeric
// order and each range read is one seek. docs/FORMAT.md lists the keys. The
// keys of the read-side families (`read_models`, `projections`) are declared
// in the engine's extension header annals/read_side_keys.h, for
// projections/, and defined in key_codec.cc with the rest.
#ifndef ANNALS_ENGINE_KEY_CODEC_H_
#define ANNALS_ENGINE_KEY_CODEC_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/read_side_keys.h"
#include "annals/types.h"

namespace annals::internal {

inline constexpr size_t kLogKeySize = 8;
inline constexpr size_t kStreamEventKeySize = 16;
inline constexpr size_t kEventIdKeySize = 24;

void AppendBigEndian64(std::string* out, uint64_t value);
uint64_t ReadBigEndian64(std::string_view bytes);  // REQUIRES: bytes.size() >= 8

// `log`: position.
std::string LogKey(Position position);
std::optional<Position> ParseLogKey(std::string_view key);

// `stream_events`: stream id, revision.
std::string StreamEventKey(uint64_t stream_id, Revision revision);
// The first key after every event of `stream_id` (an exclusive upper bound).
std::string StreamEventsEnd(uint64_t stream_id);
struct StreamEventKeyParts {
  uint64_t stream_id;
  Revision revision;
};
std::optional<StreamEventKeyParts> ParseStreamEventKey(std::string_view key);

// `snapshots`: the layout of `stream_events` (stream id, revision), so a
// stream's snapshots sort by revision under its prefix.
inline std::string SnapshotKey(uint64_t stream_id, Revision revision) {
  return StreamEventKey(stream_id, revision);
}
inline std::string SnapshotsEnd(uint64_t stream_id) { return StreamEventsEnd(stream_id); }

// `event_ids`: event id, stream id. Value: EventIdValue.
std::string EventIdKey(const EventId& id, uint64_t stream_id);
struct EventIdValue {
  Position position;
  Revision revision;
};
std::string EncodeEventIdValue(const EventIdValue& value);
std::optional<EventIdValue> DecodeEventIdValue(std::string_view value);

// `by_category`, `by_type`, `by_correlation`, `by_causation`: name, 0x00,
// position. Names never hold NUL (validation), so one name's keys form one
// contiguous range, in position order. Value: empty.
std::string IndexKey(std::string_view name, Position position);
// Parses the position from an index key; nullopt if malformed.
std::optional<Position> ParseIndexKeyPosition(std::string_view key);
// The name of an index key (the bytes before its 0x00); nullopt if malformed.
std::optional<std::string_view> ParseIndexKeyName(std::string_view key);
// Sorts after every key of `name` and before the next name's (name 0x01):
// seeking it skips to the next name, one seek per name.
std::string IndexKeyAfterName(std::string_view name);

// `by_time`: recorded_at in µs since the epoch (sign bit flipped, so that
// byte order is numeric order). Value: the position (8 bytes BE). One entry
// per bucket of kTimeIndexBucketUs that has events: the first event of the
// bucket, at its exact recorded_at.
std::string TimeKey(int64_t recorded_at_us);
std::optional<int64_t> ParseTimeKey(std::string_view key);
inline constexpr int64_t kTimeIndexBucketUs = 1000;
inline int64_t TimeIndexBucket(int64_t recorded_at_us) {
  // Floor division, also for times before the epoch.
  return recorded_at_us >= 0 ? recorded_at_us / kTimeIndexBucketUs
                             : -((-recorded_at_us - 1) / kTimeIndexBucketUs) - 1;
}

// `streams`: the stream name itself.
inline std::string StreamKey(std::string_view stream) { return std::string(stream); }
// The smallest key after `key` in byte order (for an exclusive bound just
// past it, or a seek to the first key after it).
inline std::string KeyAfter(std::string_view key) { return std::string(key) + '\0'; }

// `meta`: fixed keys.
inline constexpr std::string_view kMetaFormatKey = "format";
inline constexpr std::string_view kMetaNextStreamIdKey = "next_stream_id";
// `meta`: the first position whose chain hash is over the event's digest
// (format 5; docs/FORMAT.md). Value: position (u64 BE).
inline constexpr std::string_view kMetaChainDigestFromKey = "chain/digest_from";
// `meta`: what Scavenge keeps of each event it removes, keyed by its
// position, so the chain stays checkable across the gap and the head is
// known after the log's last events went. Value: RemovedEvent.
inline constexpr std::string_view kMetaRemovedPrefix = "chain/removed/";
std::string RemovedEventKey(Position position);
std::optional<Position> ParseRemovedEventKey(std::string_view key);
struct RemovedEvent {
  // true: `hash` is the event's digest (format 5 events); false: its chain
  // hash (older events, whose link cannot be checked without the bytes).
  bool digest = true;
  std::array<uint8_t, 32> hash{};
  int64_t recorded_at_us = 0;
};
std::string EncodeRemovedEvent(const RemovedEvent& removed);
std::optional<RemovedEvent> DecodeRemovedEvent(std::string_view value);
// `meta`: positions a repair could not recover, keyed by the first. Value:
// the last (u64 BE). They are never used again.
inline constexpr std::string_view kMetaLostPrefix = "chain/lost/";
std::string LostRangeKey(Position first);
std::optional<Position> ParseLostRangeKey(std::string_view key);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_KEY_CODEC_H_
