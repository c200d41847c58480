#include "validation.h"

#include <algorithm>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "annals/schemas.h"
#include "annals/streams.h"
#include "nlohmann/json.hpp"
#include "status_util.h"

namespace annals::internal {

absl::Status ValidateStreamName(std::string_view stream, const StoreOptions& options) {
  if (stream.empty()) return absl::InvalidArgumentError("stream name is empty");
  if (stream.size() > options.max_stream_name_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream name is ", stream.size(), " bytes; the limit is ", options.max_stream_name_bytes));
  }
  if (stream.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("stream name contains a NUL byte");
  }
  if (!IsValidUtf8(stream)) return absl::InvalidArgumentError("stream name is not valid UTF-8");
  if (stream[0] == '$' && std::find(options.system_streams.begin(), options.system_streams.end(),
                                    stream) == options.system_streams.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream name '", std::string(stream),
                     "' starts with '$', which is reserved for the system"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSystemStreams(const StoreOptions& options) {
  for (const std::string& name : options.system_streams) {
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "StoreOptions::system_streams: '", absl::CHexEscape(name), "' ", std::string(why)));
    };
    if (!name.starts_with('$') || name.size() < 2) return bad("is not '$' and a name");
    // Audit streams and the schema registry's stream are the engine's own;
    // `$all` names the log.
    if (name.starts_with("$$")) return bad("is an audit stream's name");
    if (name == kSchemasStream || name == "$all") return bad("is reserved");
    if (name.size() > options.max_stream_name_bytes) {
      return bad(
          absl::StrCat("is over max_stream_name_bytes (", options.max_stream_name_bytes, ")"));
    }
    if (name.find('\0') != std::string::npos) return bad("contains a NUL byte");
    if (!IsValidUtf8(name)) return bad("is not valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status ValidateReadableStreamName(std::string_view stream, const StoreOptions& options) {
  if (stream == kSchemasStream) return absl::OkStatus();
  if (stream.starts_with("$$") && stream.size() > 2) {
    return ValidateStreamName(stream.substr(2), options);
  }
  return ValidateStreamName(stream, options);
}

absl::Status ValidateCustomMetadataJson(std::string_view json) {
  if (json.empty()) return absl::OkStatus();
  if (json.size() > kMaxCustomMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat("StreamMetadata::custom_json is ", json.size(),
                                                   " bytes; the limit is ",
                                                   kMaxCustomMetadataBytes));
  }
  if (json.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("StreamMetadata::custom_json contains a NUL byte");
  }
  if (!IsValidUtf8(json)) {
    return absl::InvalidArgumentError("StreamMetadata::custom_json is not valid UTF-8");
  }
  // accept() checks the grammar without building the value; a valid text
  // whose first token is '{' is an object.
  const size_t first = json.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || json[first] != '{' ||
      !nlohmann::json::accept(json.begin(), json.end())) {
    return absl::InvalidArgumentError("StreamMetadata::custom_json is not a JSON object");
  }
  return absl::OkStatus();
}

absl::Status ValidateIndexKey(std::string_view what, std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is empty"));
  if (key.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " contains a NUL byte"));
  }
  return absl::OkStatus();
}

namespace {

// A name-like field: at most `limit` bytes of UTF-8 without NUL (index keys
// end their name with a NUL byte, docs/FORMAT.md).
absl::Status CheckText(std::string_view what, std::string_view text, size_t limit) {
  if (text.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is ", text.size(), " bytes; the limit is ", limit));
  }
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " contains a NUL byte"));
  }
  if (!IsValidUtf8(text))
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is not valid UTF-8"));
  return absl::OkStatus();
}

size_t EventBytes(const EventData& event) {
  size_t bytes = event.type.size() + event.data.size() + event.content_type.size() +
                 event.correlation_id.size() + event.causation_id.size() + 16;
  for (const auto& [key, value] : event.metadata) bytes += key.size() + value.size();
  return bytes;
}

}  // namespace

absl::Status ValidateEventFields(const EventData& event, const StoreOptions& options) {
  const size_t limit = options.max_field_bytes;
  if (event.type.empty()) return absl::InvalidArgumentError("event type is empty");
  ANNALS_RETURN_IF_ERROR(CheckText("event type", event.type, limit));
  if (event.content_type.size() > limit) {
    return absl::InvalidArgumentError(absl::StrCat("content type is ", event.content_type.size(),
                                                   " bytes; the limit is ", limit));
  }
  for (char c : event.content_type) {
    // A MIME type (RFC 6838, with parameters): printable ASCII, as HTTP
    // and gRPC headers carry it.
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "content type holds byte 0x", absl::Hex(static_cast<uint8_t>(c), absl::kZeroPad2),
          "; a content type is printable ASCII (e.g. application/json)"));
    }
  }
  ANNALS_RETURN_IF_ERROR(CheckText("correlation id", event.correlation_id, limit));
  ANNALS_RETURN_IF_ERROR(CheckText("causation id", event.causation_id, limit));
  for (const auto& [key, value] : event.metadata) {
    if (key.empty()) return absl::InvalidArgumentError("a metadata key is empty");
    ANNALS_RETURN_IF_ERROR(CheckText("metadata key", key, limit));
    // Values are bytes: they round-trip as given (export writes
    // metadata_base64 for those that are not UTF-8).
  }
  return absl::OkStatus();
}

absl::Status ValidateAppend(AppendRequest& request, const StoreOptions& options, bool* caller_ids) {
  *caller_ids = false;
  if (absl::Status s = ValidateStreamName(request.stream, options); !s.ok()) return s;
  if (request.events.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("append to '", request.stream, "' has no events"));
  }
  size_t total = 0;
  absl::flat_hash_set<EventId> ids;
  for (size_t i = 0; i < request.events.size(); ++i) {
    EventData& event = request.events[i];
    auto where = [&] { return absl::StrCat("stream '", request.stream, "' event ", i, ": "); };
    if (absl::Status s = ValidateEventFields(event, options); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), s.message()));
    }
    size_t bytes = EventBytes(event);
    if (bytes > options.max_event_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "event is ", bytes, " bytes; the limit is ", options.max_event_bytes));
    }
    total += bytes;
    if (event.event_id.is_nil()) {
      event.event_id = EventId::Generate();
    } else {
      *caller_ids = true;
    }
    if (!ids.insert(event.event_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "event id ", event.event_id.ToString(), " appears twice"));
    }
  }
  if (total > options.max_append_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("append to '", request.stream, "' is ", total,
                                                   " bytes; the limit is ",
                                                   options.max_append_bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateMultiAppend(MultiAppendRequest& request, const StoreOptions& options,
                                 std::vector<bool>* caller_ids) {
  caller_ids->clear();
  if (request.appends.empty())
    return absl::InvalidArgumentError("multi-stream append has no appends");
  absl::flat_hash_set<std::string> streams;
  size_t total = 0;
  for (AppendRequest& append : request.appends) {
    bool append_caller_ids = false;
    if (absl::Status s = ValidateAppend(append, options, &append_caller_ids); !s.ok()) return s;
    caller_ids->push_back(append_caller_ids);
    if (!streams.insert(append.stream).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("stream '", append.stream, "' appears twice in one multi-stream append"));
    }
    for (const EventData& event : append.events) total += EventBytes(event);
  }
  if (total > options.max_append_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "multi-stream append is ", total, " bytes; the limit is ", options.max_append_bytes));
  }
  for (const StreamCondition& condition : request.conditions) {
    if (absl::Status s = ValidateStreamName(condition.stream, options); !s.ok()) return s;
    if (!streams.insert(condition.stream).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stream '", condition.stream, "' is both written and checked, or checked twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace annals::internal
