// The non-template parts of annals/proto_codec.h.
#include "annals/proto_codec.h"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/util/json_util.h"

namespace annals {
namespace proto_codec_internal {

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::InvalidArgumentError(std::string(status.message()));
  return json;
}

absl::Status FromJson(std::string_view json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // newer writers may add fields
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), message, options);
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat("JSON payload does not parse as ",
                                            std::string(message->GetDescriptor()->full_name()),
                                            ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string ContentType(bool json, const google::protobuf::Message& message) {
  return absl::StrCat(json ? "application/json" : "application/x-protobuf",
                      "; messageType=", std::string(message.GetDescriptor()->full_name()));
}

bool IsJson(std::string_view content_type) { return content_type.starts_with("application/json"); }

absl::Status RegisterSchemas(EventStore& store,
                             std::initializer_list<const google::protobuf::Descriptor*> messages,
                             const SchemaRegistration& options) {
  google::protobuf::FileDescriptorSet set;
  std::set<std::string> added;
  // Dependencies first, each file once.
  std::function<void(const google::protobuf::FileDescriptor*)> add =
      [&](const google::protobuf::FileDescriptor* file) {
        if (!added.insert(std::string(file->name())).second) return;
        for (int i = 0; i < file->dependency_count(); ++i) add(file->dependency(i));
        file->CopyTo(set.add_file());
      };
  std::map<std::string, std::string> bindings;
  for (const google::protobuf::Descriptor* message : messages) {
    add(message->file());
    bindings[std::string(message->name())] = std::string(message->full_name());
  }
  return RegisterSchemas(store, set.SerializeAsString(), bindings, options);
}

}  // namespace proto_codec_internal

absl::Status CheckRequiredFields(const google::protobuf::Message& message,
                                 std::initializer_list<std::string_view> fields) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<std::string> missing;
  for (std::string_view name : fields) {
    const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByName(std::string(name));
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(descriptor->full_name()),
                                                     " has no field '", std::string(name), "'"));
    }
    const bool present = field->is_repeated() ? reflection->FieldSize(message, field) > 0
                                              : reflection->HasField(message, field);
    if (!present) missing.emplace_back(name);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(descriptor->name()), ": missing ", absl::StrJoin(missing, ", ")));
}

}  // namespace annals
