// Internal: what the disk says about a stream. The `streams` record holds
// the stream's id and creation time only (written once, with its first
// event); its head (last revision, last position, last write time) is the
// last key of its range in `stream_events`, so appends write no per-stream
// record (docs/ARCHITECTURE.md has the measurement).
#ifndef ANNALS_ENGINE_STREAM_HEADS_H_
#define ANNALS_ENGINE_STREAM_HEADS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "annals/types.h"
#include "storage.h"

namespace annals::internal {

struct StreamRecord {
  uint64_t stream_id = 0;
  int64_t created_at_us = 0;
};

// The stream's `streams` record; nullopt if the stream was never written.
absl::StatusOr<std::optional<StreamRecord>> ReadStreamRecord(Storage& storage,
                                                             std::string_view stream);

struct StreamTail {
  Revision last_revision;
  Position last_position;
  int64_t last_recorded_at_us = 0;
};

// The last event of stream `stream_id`. DataLoss if the stream has a record
// but no event (the two are always written together).
absl::StatusOr<StreamTail> ReadStreamTail(Storage& storage, uint64_t stream_id);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_STREAM_HEADS_H_
