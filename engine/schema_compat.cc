#include "schema_compat.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "annals/schemas.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wrappers.pb.h"

namespace annals::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

// Types that read each other's bytes: the same group (protobuf's
// "compatible" lists, https://protobuf.dev/programming-guides/proto3/).
enum class WireGroup {
  kVarint,
  kZigZag,
  kBytes,
  kFixed32,
  kFixed64,
  kFloat,
  kDouble,
  kMessage,
  kGroup
};

WireGroup GroupOf(FieldDescriptor::Type type) {
  switch (type) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_BOOL:
    case FieldDescriptor::TYPE_ENUM:
      return WireGroup::kVarint;
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
      return WireGroup::kZigZag;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
      return WireGroup::kBytes;
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
      return WireGroup::kFixed32;
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
      return WireGroup::kFixed64;
    case FieldDescriptor::TYPE_FLOAT:
      return WireGroup::kFloat;
    case FieldDescriptor::TYPE_DOUBLE:
      return WireGroup::kDouble;
    case FieldDescriptor::TYPE_MESSAGE:
      return WireGroup::kMessage;
    case FieldDescriptor::TYPE_GROUP:
      return WireGroup::kGroup;
  }
  return WireGroup::kMessage;
}

// "string", "shop.Address", "enum shop.Status", "group shop.Order.Line".
std::string TypeOf(const FieldDescriptor* field) {
  switch (field->type()) {
    case FieldDescriptor::TYPE_MESSAGE:
      return std::string(field->message_type()->full_name());
    case FieldDescriptor::TYPE_GROUP:
      return absl::StrCat("group ", field->message_type()->full_name());
    case FieldDescriptor::TYPE_ENUM:
      return absl::StrCat("enum ", field->enum_type()->full_name());
    default:
      return FieldDescriptor::TypeName(field->type());
  }
}

bool IsMapEntry(const Descriptor* message) { return message->options().map_entry(); }

class Checker {
 public:
  // Compares the message stored events were written with to the one they
  // will be decoded as; `label` names it in the lines.
  void CompareMessages(const Descriptor* before, const Descriptor* after,
                       const std::string& label) {
    if (!visited_messages_.insert({before, after}).second) return;
    for (int i = 0; i < before->field_count(); ++i) CompareField(before->field(i), after, label);
    for (int i = 0; i < after->field_count(); ++i) {
      const FieldDescriptor* added = after->field(i);
      if (added->is_required() && before->FindFieldByNumber(added->number()) == nullptr) {
        lines_.push_back(absl::StrCat(label, " field ", added->number(), " '", added->name(),
                                      "': added as required"));
      }
    }
  }

  std::vector<std::string> TakeLines() { return std::move(lines_); }
  void Add(std::string line) { lines_.push_back(std::move(line)); }

 private:
  void CompareField(const FieldDescriptor* old_field, const Descriptor* after,
                    const std::string& label) {
    const int number = old_field->number();
    std::string where = absl::StrCat(label, " field ", number, " '", old_field->name(), "'");
    const FieldDescriptor* field = after->FindFieldByNumber(number);
    if (field == nullptr) {
      if (!after->IsReservedNumber(number) && !after->IsReservedName(old_field->name())) {
        lines_.push_back(absl::StrCat(where, ": removed without being reserved"));
      }
      return;
    }
    if (field->name() != old_field->name()) absl::StrAppend(&where, " (now '", field->name(), "')");
    if (old_field->is_repeated() != field->is_repeated()) {
      lines_.push_back(
          absl::StrCat(where, ": cardinality ",
                       old_field->is_repeated() ? "repeated -> singular" : "singular -> repeated"));
    }
    if (field->is_required() && !old_field->is_required()) {
      lines_.push_back(absl::StrCat(where, ": now required"));
    }
    if (GroupOf(old_field->type()) != GroupOf(field->type())) {
      lines_.push_back(absl::StrCat(where, ": type ", TypeOf(old_field), " -> ", TypeOf(field)));
      return;
    }
    if (field->type() == FieldDescriptor::TYPE_MESSAGE ||
        field->type() == FieldDescriptor::TYPE_GROUP) {
      const Descriptor* old_type = old_field->message_type();
      const Descriptor* type = field->message_type();
      // A map's entry type is named after its field: a renamed map field
      // keeps its bytes if key and value keep theirs.
      const bool maps = IsMapEntry(old_type) && IsMapEntry(type);
      if (!maps && old_type->full_name() != type->full_name()) {
        lines_.push_back(absl::StrCat(where, ": type ", TypeOf(old_field), " -> ", TypeOf(field)));
        return;
      }
      CompareMessages(old_type, type, std::string(old_type->full_name()));
    } else if (old_field->type() == FieldDescriptor::TYPE_ENUM &&
               field->type() == FieldDescriptor::TYPE_ENUM) {
      CompareEnums(old_field->enum_type(), field->enum_type());
    }
  }

  void CompareEnums(const EnumDescriptor* before, const EnumDescriptor* after) {
    if (!visited_enums_.insert({before, after}).second) return;
    for (int i = 0; i < before->value_count(); ++i) {
      const auto* value = before->value(i);
      if (after->FindValueByNumber(value->number()) != nullptr) continue;
      if (after->IsReservedNumber(value->number()) || after->IsReservedName(value->name()))
        continue;
      lines_.push_back(absl::StrCat(before->full_name(), " value ", value->number(), " '",
                                    value->name(), "': removed without being reserved"));
    }
  }

  std::set<std::pair<const Descriptor*, const Descriptor*>> visited_messages_;
  std::set<std::pair<const EnumDescriptor*, const EnumDescriptor*>> visited_enums_;
  std::vector<std::string> lines_;
};

}  // namespace

std::vector<std::string> FindBreakingChanges(const google::protobuf::DescriptorPool& before,
                                             const google::protobuf::DescriptorPool& after,
                                             const std::vector<MessageInUse>& in_use) {
  Checker checker;
  std::set<MessageInUse> seen;
  for (const MessageInUse& message : in_use) {
    if (!seen.insert(message).second) continue;
    const Descriptor* old_type = before.FindMessageTypeByName(message.stored);
    if (old_type == nullptr) continue;
    const Descriptor* type = after.FindMessageTypeByName(message.registered);
    const bool rebound = message.stored != message.registered;
    if (type == nullptr) {
      checker.Add(rebound ? absl::StrCat(message.stored, ": now decoded as ", message.registered,
                                         ", which the schemas do not define")
                          : absl::StrCat(message.stored, ": message removed"));
      continue;
    }
    checker.CompareMessages(
        old_type, type,
        rebound ? absl::StrCat(message.stored, " (now decoded as ", message.registered, ")")
                : message.stored);
  }
  return checker.TakeLines();
}

}  // namespace annals::internal

namespace annals {
namespace {

// Descriptors copied from files that spell out json_name and from ones that
// leave it implied differ only there.
void ClearJsonNames(google::protobuf::DescriptorProto* message) {
  for (auto& field : *message->mutable_field()) field.clear_json_name();
  for (auto& nested : *message->mutable_nested_type()) ClearJsonNames(&nested);
}

}  // namespace

std::string MessageTypeOf(std::string_view content_type) {
  constexpr std::string_view kKey = "messageType=";
  const size_t at = content_type.find(kKey);
  if (at == std::string_view::npos) return "";
  std::string_view name = content_type.substr(at + kKey.size());
  name = name.substr(0, name.find(';'));
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return std::string(name);
}

absl::Status CheckWellKnownTypes(const std::map<std::string, std::string>& files) {
  namespace pb = ::google::protobuf;
  std::map<std::string, const pb::Descriptor*> own;
  for (const pb::Descriptor* type :
       {pb::Any::descriptor(), pb::Duration::descriptor(), pb::FieldMask::descriptor(),
        pb::ListValue::descriptor(), pb::Struct::descriptor(), pb::Timestamp::descriptor(),
        pb::Value::descriptor(), pb::BoolValue::descriptor(), pb::BytesValue::descriptor(),
        pb::DoubleValue::descriptor(), pb::FloatValue::descriptor(), pb::Int32Value::descriptor(),
        pb::Int64Value::descriptor(), pb::StringValue::descriptor(), pb::UInt32Value::descriptor(),
        pb::UInt64Value::descriptor()}) {
    own[type->full_name()] = type;
  }
  for (const auto& [name, bytes] : files) {
    pb::FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("schema file '", name, "' does not parse"));
    }
    const std::string prefix = file.package().empty() ? "" : file.package() + ".";
    for (const pb::DescriptorProto& message : file.message_type()) {
      auto it = own.find(prefix + message.name());
      if (it == own.end()) continue;
      pb::DescriptorProto defined = message, expected;
      it->second->CopyTo(&expected);
      ClearJsonNames(&defined);
      ClearJsonNames(&expected);
      if (defined.SerializeAsString() != expected.SerializeAsString()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "schema file '", name, "' defines ", it->first,
            " unlike protobuf's own well-known type; use protobuf's google/protobuf/*.proto"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace annals
