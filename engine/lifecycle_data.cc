#include "lifecycle_data.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "status_util.h"
#include "validation.h"

namespace annals::internal {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMicrosPerSecond = 1'000'000;

// The members each type may carry.
constexpr std::string_view kMetadataMembers[] = {"maxCount",       "maxAgeSeconds",  "maxAgeMicros",
                                                 "truncateBefore", "customJson",     "lastRevision",
                                                 "lastPosition",   "createdAtMicros"};
constexpr std::string_view kDeletedMembers[] = {"truncateBefore", "lastRevision", "lastPosition",
                                                "createdAtMicros"};
constexpr std::string_view kTombstonedMembers[] = {"lastRevision", "lastPosition",
                                                   "createdAtMicros"};

bool HasMember(std::string_view type, std::string_view name) {
  auto in = [&](const auto& members) {
    return std::find(std::begin(members), std::end(members), name) != std::end(members);
  };
  if (type == kMetadataEventType) return in(kMetadataMembers);
  if (type == kStreamDeletedEventType) return in(kDeletedMembers);
  return in(kTombstonedMembers);
}

}  // namespace

std::string EncodeLifecycleData(std::string_view type, const LifecycleData& data) {
  // In this order: the retention first, then the stream's head.
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  if (data.max_count) json["maxCount"] = *data.max_count;
  if (data.max_age_us) {
    json["maxAgeSeconds"] = *data.max_age_us / kMicrosPerSecond;
    json["maxAgeMicros"] = *data.max_age_us;  // exact: a max age may have a fractional second
  }
  if (data.truncate_before) json["truncateBefore"] = *data.truncate_before;
  if (!data.custom_json.empty()) json["customJson"] = data.custom_json;
  if (data.last_revision) json["lastRevision"] = *data.last_revision;
  if (data.last_position) json["lastPosition"] = *data.last_position;
  if (data.created_at_us) json["createdAtMicros"] = *data.created_at_us;
  return json.dump();
}

namespace {

// The max age, from maxAgeMicros (exact) or maxAgeSeconds; both must agree.
absl::Status ReadMaxAge(const Json& json, const std::string& what, LifecycleData& data) {
  const auto seconds = json.find("maxAgeSeconds");
  const auto micros = json.find("maxAgeMicros");
  if (micros != json.end()) {
    data.max_age_us = static_cast<int64_t>(micros->get<uint64_t>());
    if (seconds != json.end() &&
        seconds->get<uint64_t>() != micros->get<uint64_t>() / kMicrosPerSecond) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": maxAgeSeconds and maxAgeMicros disagree"));
    }
  } else if (seconds != json.end()) {
    if (seconds->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX / kMicrosPerSecond)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": \"maxAgeSeconds\" is out of range"));
    }
    data.max_age_us = static_cast<int64_t>(seconds->get<uint64_t>()) * kMicrosPerSecond;
  }
  return absl::OkStatus();
}

// What the API refuses (SetStreamMetadata, DeleteStream), refused here too.
absl::Status CheckApiRules(std::string_view type, const std::string& what,
                           const LifecycleData& data) {
  if (data.max_count && *data.max_count == 0)
    return absl::InvalidArgumentError(absl::StrCat(what, ": maxCount is 0"));
  if (data.max_age_us && *data.max_age_us < kMicrosPerSecond) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the max age is under a second"));
  }
  if (type == kStreamDeletedEventType && (!data.truncate_before || *data.truncate_before == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " needs \"truncateBefore\" >= 1"));
  }
  if (data.last_position && *data.last_position == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": lastPosition is 0"));
  }
  if (data.last_revision.has_value() != data.last_position.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": lastRevision and lastPosition come together"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LifecycleData> DecodeLifecycleData(std::string_view type, std::string_view text) {
  if (type != kMetadataEventType && type != kStreamDeletedEventType &&
      type != kStreamTombstonedEventType) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown lifecycle event type '", std::string(type), "'"));
  }
  // A member twice would leave one of them silently unread.
  std::set<std::string> seen;
  bool repeated = false;
  const Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 &&
        !seen.insert(parsed.get<std::string>()).second) {
      repeated = true;
    }
    return true;
  };
  const Json json = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  const std::string what = absl::StrCat(std::string(type), " data");
  if (!json.is_object())
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a JSON object"));
  if (repeated) return absl::InvalidArgumentError(absl::StrCat(what, " has a member twice"));
  LifecycleData data;
  for (const auto& [name, value] : json.items()) {
    if (!HasMember(type, name)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " has a member '", name, "' that ",
                                                     std::string(type), " does not have"));
    }
    if (name == "customJson") {
      if (!value.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": \"customJson\" is not a string"));
      }
      data.custom_json = value.get<std::string>();
      if (absl::Status s = ValidateCustomMetadataJson(data.custom_json); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.message()));
      }
      continue;
    }
    if (!value.is_number_unsigned()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": \"", name, "\" is not a non-negative integer"));
    }
    const uint64_t number = value.get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": \"", name, "\" is out of range"));
    }
    if (name == "maxCount") data.max_count = number;
    if (name == "truncateBefore") data.truncate_before = number;
    if (name == "lastRevision") data.last_revision = number;
    if (name == "lastPosition") data.last_position = number;
    if (name == "createdAtMicros") data.created_at_us = static_cast<int64_t>(number);
  }
  ANNALS_RETURN_IF_ERROR(ReadMaxAge(json, what, data));
  ANNALS_RETURN_IF_ERROR(CheckApiRules(type, what, data));
  return data;
}

}  // namespace annals::internal
