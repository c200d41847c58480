#include "payload.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "annals/schemas.h"
#include "annals/utf8.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"

namespace annals::tool {
namespace {

bool LooksLikeJson(std::string_view content_type, std::string_view data) {
  if (content_type.starts_with("application/json") || content_type.ends_with("+json")) return true;
  if (!content_type.empty() || data.empty()) return false;
  return data.front() == '{' || data.front() == '[';
}

absl::StatusOr<std::string> GetBytes(const Json& obj, const std::string& key) {
  if (auto it = obj.find(key); it != obj.end()) {
    if (!it->is_string())
      return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is not a string"));
    return it->get<std::string>();
  }
  if (auto it = obj.find(key + "_base64"); it != obj.end()) {
    std::string bytes;
    if (!it->is_string() || !absl::Base64Unescape(it->get<std::string>(), &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", key, "_base64\" is not base64"));
    }
    return bytes;
  }
  return std::string();
}

absl::StatusOr<uint64_t> GetUint(const Json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", key, "\" is missing or not a non-negative integer"));
  }
  return it->get<uint64_t>();
}

}  // namespace

std::string Rfc3339(absl::Time time) {
  // Formatting the date is the slow part, and consecutive events mostly
  // share their second: keep the last second's text.
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string cached_prefix;
  const int64_t micros = absl::ToUnixMicros(time);
  // Floor division, without overflow at either end of the range.
  int64_t second = micros / 1000000, fraction_micros = micros % 1000000;
  if (fraction_micros < 0) {
    second -= 1;
    fraction_micros += 1000000;
  }
  if (second != cached_second) {
    cached_second = second;
    cached_prefix =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second), absl::UTCTimeZone());
  }
  char fraction[16];
  std::snprintf(fraction, sizeof(fraction), ".%06dZ", static_cast<int>(fraction_micros));
  return cached_prefix + fraction;
}

std::optional<absl::Time> ParseRfc3339(std::string_view text) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) return std::nullopt;
  return time;
}

PayloadDecoder::PayloadDecoder() = default;
PayloadDecoder::~PayloadDecoder() = default;

absl::StatusOr<std::unique_ptr<PayloadDecoder>> PayloadDecoder::Load(EventStore& store) {
  absl::StatusOr<StoredSchemas> schemas = ReadSchemas(store);
  if (!schemas.ok()) return schemas.status();
  return FromSchemas(*schemas);
}

absl::StatusOr<std::unique_ptr<PayloadDecoder>> PayloadDecoder::FromSchemas(
    const StoredSchemas& schemas) {
  auto decoder = std::make_unique<PayloadDecoder>();
  if (schemas.files.empty()) return decoder;
  decoder->database_ = std::make_unique<google::protobuf::SimpleDescriptorDatabase>();
  for (const auto& [name, bytes] : schemas.files) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(bytes) || !decoder->database_->Add(file)) {
      return absl::DataLossError(
          absl::StrCat("schema file '", name, "' in the registry is malformed"));
    }
  }
  if (absl::Status s = CheckWellKnownTypes(schemas.files); !s.ok()) {
    return absl::DataLossError(absl::StrCat("the schema registry: ", s.message()));
  }
  decoder->pool_ = std::make_unique<google::protobuf::DescriptorPool>(decoder->database_.get());
  decoder->factory_ =
      std::make_unique<google::protobuf::DynamicMessageFactory>(decoder->pool_.get());
  decoder->bindings_ = schemas.bindings;
  return decoder;
}

namespace {

const char* WireTypeName(google::protobuf::UnknownField::Type type) {
  switch (type) {
    case google::protobuf::UnknownField::TYPE_VARINT:
      return "varint";
    case google::protobuf::UnknownField::TYPE_FIXED32:
      return "fixed32";
    case google::protobuf::UnknownField::TYPE_FIXED64:
      return "fixed64";
    case google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED:
      return "length-delimited";
    case google::protobuf::UnknownField::TYPE_GROUP:
      return "group";
  }
  return "unknown";
}

// The wire type a field of `field`'s type is written with (repeated
// scalars may also come packed, length-delimited).
google::protobuf::UnknownField::Type WireTypeOf(const google::protobuf::FieldDescriptor* field) {
  using google::protobuf::FieldDescriptor;
  using google::protobuf::UnknownField;
  switch (field->type()) {
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
    case FieldDescriptor::TYPE_DOUBLE:
      return UnknownField::TYPE_FIXED64;
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
    case FieldDescriptor::TYPE_FLOAT:
      return UnknownField::TYPE_FIXED32;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
    case FieldDescriptor::TYPE_MESSAGE:
      return UnknownField::TYPE_LENGTH_DELIMITED;
    case FieldDescriptor::TYPE_GROUP:
      return UnknownField::TYPE_GROUP;
    default:
      return UnknownField::TYPE_VARINT;
  }
}

// What in `message` the schema does not describe ("" if nothing): its first
// unknown field, looked for in nested messages too. `path` leads to it.
std::string UnknownFieldProblem(const google::protobuf::Message& message, const std::string& path) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  if (!unknown.empty()) {
    const google::protobuf::UnknownField& field = unknown.field(0);
    const std::string where = absl::StrCat(path, "field ", field.number());
    const google::protobuf::FieldDescriptor* known =
        message.GetDescriptor()->FindFieldByNumber(field.number());
    if (known == nullptr) {
      return absl::StrCat(where, " (", WireTypeName(field.type()),
                          ") is not in the schema; register the schema the event was written with");
    }
    if (known->type() == google::protobuf::FieldDescriptor::TYPE_ENUM &&
        WireTypeOf(known) == field.type()) {
      return absl::StrCat(where, " '", known->name(), "' holds a value the enum ",
                          std::string(known->enum_type()->full_name()), " does not define");
    }
    return absl::StrCat(where, " has another wire type than the schema says (",
                        WireTypeName(field.type()), "; the schema has '", known->name(), "' ",
                        known->type_name(), ")");
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string inner =
        absl::StrCat(path, "field ", field->number(), " '", field->name(), "' > ");
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const google::protobuf::Message& nested =
          field->is_repeated() ? reflection->GetRepeatedMessage(message, field, i)
                               : reflection->GetMessage(message, field);
      if (std::string problem = UnknownFieldProblem(nested, inner); !problem.empty())
        return problem;
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::optional<Json>> PayloadDecoder::Decode(const EventRecord& event) const {
  if (pool_ != nullptr) {
    std::string message_name = MessageTypeOf(event.content_type);
    if (message_name.empty()) {
      if (auto it = bindings_.find(event.type); it != bindings_.end()) message_name = it->second;
    }
    const google::protobuf::Descriptor* descriptor =
        message_name.empty() ? nullptr : pool_->FindMessageTypeByName(message_name);
    if (descriptor != nullptr && !event.content_type.starts_with("application/json")) {
      auto fail = [&](const std::string& why) {
        return absl::DataLossError(absl::StrCat("event at position ", event.position.value(), " (",
                                                event.type, ") does not decode as ", message_name,
                                                ": ", why));
      };
      std::unique_ptr<google::protobuf::Message> message(factory_->GetPrototype(descriptor)->New());
      if (!message->ParsePartialFromString(event.data))
        return fail("the bytes are not this protobuf message");
      if (!message->IsInitialized()) {
        return fail(
            absl::StrCat("required fields missing: ", message->InitializationErrorString()));
      }
      if (std::string problem = UnknownFieldProblem(*message, ""); !problem.empty())
        return fail(problem);
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      if (auto printed = google::protobuf::util::MessageToJsonString(*message, &json, options);
          !printed.ok()) {
        return fail(std::string(printed.message()));
      }
      Json parsed = Json::parse(json, nullptr, false);
      if (parsed.is_discarded()) return fail("its JSON form does not parse");
      return parsed;
    }
  }
  if (LooksLikeJson(event.content_type, event.data)) {
    Json parsed = Json::parse(event.data, nullptr, false);
    if (!parsed.is_discarded()) return parsed;
  }
  return std::nullopt;
}

absl::StatusOr<Json> PayloadDecoder::Display(const EventRecord& event) const {
  absl::StatusOr<std::optional<Json>> json = Decode(event);
  if (!json.ok()) return json.status();
  if (json->has_value()) return **std::move(json);
  Json unknown = Json::object();
  unknown["base64"] = absl::Base64Escape(event.data);
  unknown["content_type"] = event.content_type;
  return unknown;
}

absl::StatusOr<Json> EventToJson(const EventRecord& event, const PayloadDecoder& decoder) {
  absl::StatusOr<Json> data = decoder.Display(event);
  if (!data.ok()) return data.status();
  Json row = Json::object();
  row["position"] = event.position.value();
  row["stream"] = event.stream;
  row["revision"] = event.revision.value();
  row["recorded_at"] = Rfc3339(event.recorded_at);
  row["type"] = event.type;
  row["event_id"] = event.event_id.ToString();
  if (!event.correlation_id.empty()) row["correlation_id"] = event.correlation_id;
  if (!event.causation_id.empty()) row["causation_id"] = event.causation_id;
  Json metadata = Json::object();
  for (const auto& [key, value] : event.metadata) metadata[key] = value;
  row["metadata"] = std::move(metadata);
  row["content_type"] = event.content_type;
  row["data"] = *std::move(data);
  return row;
}

namespace {

// A JSON string literal (RFC 8259 escapes; UTF-8 passes through).
void AppendJsonString(std::string* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xf]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// `,"key":"value"`, or `,"key_base64":"..."` for bytes that are not UTF-8.
void AppendBytesMember(std::string* out, std::string_view key, const std::string& bytes) {
  out->push_back(',');
  if (IsValidUtf8(bytes)) {
    AppendJsonString(out, key);
    out->push_back(':');
    AppendJsonString(out, bytes);
  } else {
    AppendJsonString(out, absl::StrCat(std::string(key), "_base64"));
    out->push_back(':');
    AppendJsonString(out, absl::Base64Escape(bytes));
  }
}

// Exactly the bytes nlohmann writes for the value they hold (so an import
// restores them from the parsed line), and not a JSON string (a string in
// `data` is the old shape: the payload's UTF-8 text).
bool IsCanonicalJsonValue(const std::string& data) {
  const Json parsed = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  return !parsed.is_discarded() && !parsed.is_string() && parsed.dump() == data;
}

}  // namespace

bool IsJsonContentType(std::string_view content_type) {
  std::string media(content_type.substr(0, content_type.find(';')));
  absl::AsciiStrToLower(&media);
  absl::StripTrailingAsciiWhitespace(&media);
  return media == "application/json" || media.ends_with("+json");
}

void AppendExportLine(const EventRecord& event, std::string* out) {
  // Written by hand, not through a JSON object: export runs at the speed of
  // the log scan rather than of a DOM per event (docs/ARCHITECTURE.md).
  absl::StrAppend(out, "{\"position\":", event.position.value(), ",\"stream\":");
  AppendJsonString(out, event.stream);
  absl::StrAppend(out, ",\"revision\":", event.revision.value(), ",\"recorded_at\":\"",
                  Rfc3339(event.recorded_at), "\",\"event_id\":\"", event.event_id.ToString(),
                  "\",\"type\":");
  AppendJsonString(out, event.type);
  AppendBytesMember(out, "content_type", event.content_type);
  AppendBytesMember(out, "correlation_id", event.correlation_id);
  AppendBytesMember(out, "causation_id", event.causation_id);
  bool metadata_utf8 = true;
  for (const auto& [key, value] : event.metadata)
    metadata_utf8 &= IsValidUtf8(key) && IsValidUtf8(value);
  out->append(metadata_utf8 ? ",\"metadata\":{" : ",\"metadata_base64\":{");
  bool first = true;
  for (const auto& [key, value] : event.metadata) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, metadata_utf8 ? key : absl::Base64Escape(key));
    out->push_back(':');
    AppendJsonString(out, metadata_utf8 ? value : absl::Base64Escape(value));
  }
  out->push_back('}');
  if (IsJsonContentType(event.content_type) && IsCanonicalJsonValue(event.data)) {
    // The payload is its own JSON text, so the bytes go in as they are.
    out->append(",\"data\":");
    out->append(event.data);
  } else {
    out->append(",\"data_base64\":");
    AppendJsonString(out, absl::Base64Escape(event.data));
  }
  out->append("}\n");
}

namespace {

// Every member is understood or the line is refused: nothing is dropped.
absl::Status CheckExportMembers(const Json& line) {
  static const char* const kMembers[] = {"position",       "stream",
                                         "revision",       "recorded_at",
                                         "event_id",       "type",
                                         "content_type",   "content_type_base64",
                                         "correlation_id", "correlation_id_base64",
                                         "causation_id",   "causation_id_base64",
                                         "metadata",       "metadata_base64",
                                         "data",           "data_base64"};
  for (const auto& [key, value] : line.items()) {
    if (std::find(std::begin(kMembers), std::end(kMembers), key) == std::end(kMembers)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown member \"", key, "\""));
    }
  }
  for (const char* key : {"content_type", "correlation_id", "causation_id", "metadata", "data"}) {
    if (line.contains(key) && line.contains(absl::StrCat(key, "_base64"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("both \"", key, "\" and \"", key, "_base64\": which one is meant?"));
    }
  }
  return absl::OkStatus();
}

// Where the event is and what it is: position, revision, stream, type,
// event id and time.
absl::Status ReadExportIdentity(const Json& line, EventRecord& e) {
  absl::StatusOr<uint64_t> position = GetUint(line, "position");
  if (!position.ok()) return position.status();
  absl::StatusOr<uint64_t> revision = GetUint(line, "revision");
  if (!revision.ok()) return revision.status();
  e.position = Position(*position);
  e.revision = Revision(*revision);
  auto stream = line.find("stream");
  auto type = line.find("type");
  auto id = line.find("event_id");
  auto recorded = line.find("recorded_at");
  if (stream == line.end() || !stream->is_string() || type == line.end() || !type->is_string() ||
      id == line.end() || !id->is_string() || recorded == line.end() || !recorded->is_string()) {
    return absl::InvalidArgumentError(
        "\"stream\", \"type\", \"event_id\" and \"recorded_at\" must be strings");
  }
  e.stream = stream->get<std::string>();
  e.type = type->get<std::string>();
  std::optional<EventId> event_id = EventId::Parse(id->get<std::string>());
  if (!event_id) return absl::InvalidArgumentError("\"event_id\" is not a UUID");
  e.event_id = *event_id;
  std::optional<absl::Time> at = ParseRfc3339(recorded->get<std::string>());
  if (!at) return absl::InvalidArgumentError("\"recorded_at\" is not an RFC 3339 time");
  // The store keeps whole microseconds since the epoch in 64 bits: a finer
  // or farther time would be imported as another one.
  if (absl::FromUnixMicros(absl::ToUnixMicros(*at)) != *at) {
    return absl::InvalidArgumentError(
        "\"recorded_at\" is not a whole microsecond the store can hold");
  }
  e.recorded_at = *at;
  return absl::OkStatus();
}

// "metadata" (strings) or "metadata_base64" (base64 keys and values).
absl::Status ReadExportMetadata(const Json& line, EventRecord& e) {
  const bool base64 = line.contains("metadata_base64");
  auto metadata = line.find(base64 ? "metadata_base64" : "metadata");
  if (metadata == line.end()) return absl::OkStatus();
  if (!metadata->is_object()) return absl::InvalidArgumentError("\"metadata\" is not an object");
  for (const auto& [key, value] : metadata->items()) {
    if (!value.is_string()) return absl::InvalidArgumentError("metadata values must be strings");
    std::string k = key, v = value.get<std::string>();
    if (base64 &&
        (!absl::Base64Unescape(key, &k) || !absl::Base64Unescape(value.get<std::string>(), &v))) {
      return absl::InvalidArgumentError("\"metadata_base64\" holds something that is not base64");
    }
    if (!e.metadata.emplace(std::move(k), std::move(v)).second) {
      return absl::InvalidArgumentError("a metadata key appears twice");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EventRecord> EventFromExport(const Json& line) {
  if (!line.is_object()) return absl::InvalidArgumentError("not a JSON object");
  if (absl::Status s = CheckExportMembers(line); !s.ok()) return s;
  EventRecord e;
  if (absl::Status s = ReadExportIdentity(line, e); !s.ok()) return s;
  for (auto [key, field] :
       {std::pair{"content_type", &e.content_type}, std::pair{"correlation_id", &e.correlation_id},
        std::pair{"causation_id", &e.causation_id}}) {
    absl::StatusOr<std::string> bytes = GetBytes(line, key);
    if (!bytes.ok()) return bytes.status();
    *field = *std::move(bytes);
  }
  if (auto data = line.find("data"); data != line.end() && !data->is_string()) {
    // The current shape: the JSON value of a JSON payload.
    if (!IsJsonContentType(e.content_type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"data\" holds a JSON value but the content type '", e.content_type,
                       "' is not JSON: use \"data_base64\""));
    }
    e.data = data->dump();
  } else {
    // A string: the older shape (the payload's bytes when UTF-8), or base64.
    absl::StatusOr<std::string> bytes = GetBytes(line, "data");
    if (!bytes.ok()) return bytes.status();
    e.data = *std::move(bytes);
  }
  if (absl::Status s = ReadExportMetadata(line, e); !s.ok()) return s;
  return e;
}

}  // namespace annals::tool
