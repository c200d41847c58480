// Internal: the JSON data of the lifecycle audit events of `$$<stream>`
// ($metadata, $streamDeleted, $streamTombstoned; docs/FORMAT.md). Written by
// the writer when a lifecycle operation commits, read back by Import to
// apply the operation again. One codec, so both sides agree.
#ifndef ANNALS_ENGINE_LIFECYCLE_DATA_H_
#define ANNALS_ENGINE_LIFECYCLE_DATA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace annals::internal {

inline constexpr std::string_view kMetadataEventType = "$metadata";
inline constexpr std::string_view kStreamDeletedEventType = "$streamDeleted";
inline constexpr std::string_view kStreamTombstonedEventType = "$streamTombstoned";

struct LifecycleData {
  // $metadata: the retention after the operation.
  std::optional<uint64_t> max_count;
  std::optional<int64_t> max_age_us;
  // $metadata and $streamDeleted.
  std::optional<uint64_t> truncate_before;
  // $metadata: StreamMetadata::custom_json after the operation (the JSON
  // object's text, carried as a JSON string so it comes back verbatim).
  std::string custom_json;
  // The stream as it was when the operation committed (absent in events
  // written before these members existed, and for a stream without
  // events): its head and creation time, so an import restores them even
  // when Scavenge has removed every event of the stream.
  std::optional<uint64_t> last_revision;
  std::optional<uint64_t> last_position;
  std::optional<int64_t> created_at_us;
};

std::string EncodeLifecycleData(std::string_view type, const LifecycleData& data);

// Parses the data of an audit event of `type`. InvalidArgument for another
// type, JSON that is not an object, a member this type does not have, a
// value that is not a non-negative integer (customJson: not a string), or
// one the API refuses (maxCount 0, a max age under a second, truncateBefore
// 0 on a delete, maxAgeSeconds disagreeing with maxAgeMicros, customJson
// that SetStreamMetadata would refuse).
absl::StatusOr<LifecycleData> DecodeLifecycleData(std::string_view type, std::string_view json);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_LIFECYCLE_DATA_H_
