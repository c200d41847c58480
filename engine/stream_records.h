// Internal: what the disk says about a stream. The `streams` record holds
// the stream's id, creation time and lifecycle state (written with its first
// event and by lifecycle operations); its head (last revision, last position,
// last write time) is the last key of its range in `stream_events`, so
// ordinary appends write no per-stream record (docs/ARCHITECTURE.md has the
// measurement). Once Scavenge may have removed the last event, the record
// keeps the head instead.
#ifndef ANNALS_ENGINE_STREAM_RECORDS_H_
#define ANNALS_ENGINE_STREAM_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "annals/streams.h"
#include "annals/types.h"
#include "storage.h"

namespace annals::internal {

// The `streams` record, decoded.
struct StreamRecord {
  uint64_t stream_id = 0;
  int64_t created_at_us = 0;
  std::optional<uint64_t> truncate_before;
  std::optional<uint64_t> max_count;
  std::optional<int64_t> max_age_us;
  bool tombstoned = false;
  // StreamMetadata::custom_json.
  std::string custom_json;
  // The head kept in the record (see above).
  std::optional<uint64_t> last_revision;
  uint64_t last_position = 0;
  int64_t last_recorded_at_us = 0;

  StreamMetadata metadata() const;
  std::string Encode() const;
  // The record a `streams` value holds; nullopt if it does not parse or has
  // no stream id.
  static std::optional<StreamRecord> Decode(std::string_view value);
};

// The stream's `streams` record; nullopt if the stream was never written.
absl::StatusOr<std::optional<StreamRecord>> ReadStreamRecord(Storage& storage,
                                                             std::string_view stream);

struct StreamHead {
  Revision last_revision;
  Position last_position;
  int64_t last_recorded_at_us = 0;
};

// The last event stored of stream `stream_id`; nullopt if none is (a stream
// with metadata only, or one whose events were scavenged).
absl::StatusOr<std::optional<StreamHead>> ReadHeadFromEvents(Storage& storage, uint64_t stream_id);

// The stream's head: its stored tail, else the head its record keeps;
// nullopt if it never had events.
absl::StatusOr<std::optional<StreamHead>> ReadStreamHead(Storage& storage,
                                                         const StreamRecord& record);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_STREAM_RECORDS_H_
