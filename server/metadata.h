// Stream metadata as KurrentDB clients read and write it: JSON in `$metadata`
// events of the metastream `$$<stream>` ($maxAge in seconds, $maxCount, $tb;
// $cacheControl, $acl and custom keys kept verbatim in
// StreamMetadata::custom_json). docs/SERVER.md, "Stream metadata".
#ifndef ANNALS_SERVER_METADATA_H_
#define ANNALS_SERVER_METADATA_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "annals/streams.h"

namespace annals::server {

inline constexpr std::string_view kMetastreamPrefix = "$$";
inline constexpr std::string_view kMetadataType = "$metadata";

// InvalidArgument for text that is not a JSON object, or a retention value
// of the wrong type or range.
absl::StatusOr<StreamMetadata> MetadataFromJson(std::string_view json);
std::string MetadataToJson(const StreamMetadata& metadata);

// The metadata a `$metadata` event of the store's audit stream `$$<stream>`
// records (its JSON data, docs/FORMAT.md "Import"): what the stream's
// metadata was from that event on. InvalidArgument if it does not parse.
absl::StatusOr<StreamMetadata> MetadataFromAuditEvent(std::string_view data);

}  // namespace annals::server

#endif  // ANNALS_SERVER_METADATA_H_
