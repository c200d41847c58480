#include "metadata.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace annals::server {
namespace {

using Json = nlohmann::json;

absl::StatusOr<uint64_t> Count(const Json& value, std::string_view key) {
  if (!value.is_number_integer() && !value.is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream metadata ", std::string(key), " must be an integer"));
  }
  if (value.is_number_integer() && value.get<int64_t>() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream metadata ", std::string(key), " must be >= 0"));
  }
  return value.get<uint64_t>();
}

}  // namespace

absl::StatusOr<StreamMetadata> MetadataFromJson(std::string_view json) {
  Json object = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) {
    return absl::InvalidArgumentError("stream metadata must be a JSON object");
  }
  StreamMetadata metadata;
  Json custom = Json::object();
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    if (it->is_null()) continue;  // KurrentDB writes unset settings as null
    if (key == "$maxCount") {
      absl::StatusOr<uint64_t> n = Count(*it, key);
      if (!n.ok()) return n.status();
      metadata.max_count = *n;
    } else if (key == "$maxAge") {
      absl::StatusOr<uint64_t> seconds = Count(*it, key);
      if (!seconds.ok()) return seconds.status();
      metadata.max_age = absl::Seconds(static_cast<int64_t>(*seconds));
    } else if (key == "$tb") {
      absl::StatusOr<uint64_t> revision = Count(*it, key);
      if (!revision.ok()) return revision.status();
      metadata.truncate_before = Revision(*revision);
    } else {
      custom[key] = *it;
    }
  }
  if (!custom.empty()) metadata.custom_json = custom.dump();
  return metadata;
}

std::string MetadataToJson(const StreamMetadata& metadata) {
  Json object = Json::object();
  if (!metadata.custom_json.empty()) {
    Json custom = Json::parse(metadata.custom_json, nullptr, /*allow_exceptions=*/false);
    if (custom.is_object()) object = std::move(custom);
  }
  if (metadata.max_count) object["$maxCount"] = *metadata.max_count;
  if (metadata.max_age) object["$maxAge"] = absl::ToInt64Seconds(*metadata.max_age);
  if (metadata.truncate_before) object["$tb"] = metadata.truncate_before->value();
  return object.dump();
}

absl::StatusOr<StreamMetadata> MetadataFromAuditEvent(std::string_view data) {
  Json object = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return absl::InvalidArgumentError("an audit event that is not JSON");
  StreamMetadata metadata;
  if (auto it = object.find("maxCount"); it != object.end() && it->is_number_unsigned()) {
    metadata.max_count = it->get<uint64_t>();
  }
  if (auto it = object.find("maxAgeMicros"); it != object.end() && it->is_number_unsigned()) {
    metadata.max_age = absl::Microseconds(it->get<int64_t>());
  } else if (auto it = object.find("maxAgeSeconds");
             it != object.end() && it->is_number_unsigned()) {
    metadata.max_age = absl::Seconds(it->get<int64_t>());
  }
  if (auto it = object.find("truncateBefore"); it != object.end() && it->is_number_unsigned()) {
    metadata.truncate_before = Revision(it->get<uint64_t>());
  }
  if (auto it = object.find("customJson"); it != object.end() && it->is_string()) {
    metadata.custom_json = it->get<std::string>();
  }
  return metadata;
}

}  // namespace annals::server
