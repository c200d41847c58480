// annals/proto_codec.h: codecs for deciders whose events and state are
// protobuf messages (the common case). Read annals/decider.h first.
//
//   using Events = annals::ProtoEventCodec<OrderPlaced, ItemAdded, OrderShipped>;
//   Events codec;                                  // binary payloads
//   Events json(Events::Encoding::kJson);          // JSON payloads
//
// The event type is the message's name (`OrderPlaced`, so type reads and
// filters use it); the content type records the full name:
// `application/x-protobuf; messageType=shop.OrderPlaced` or
// `application/json; messageType=shop.OrderPlaced`. Decoding accepts both
// encodings whatever the codec writes.
#ifndef ANNALS_PROTO_CODEC_H_
#define ANNALS_PROTO_CODEC_H_

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/schemas.h"
#include "google/protobuf/message.h"

namespace annals {
namespace proto_codec_internal {

// Serialize / parse one message, binary or JSON (non-template, in the .cc).
ANNALS_EXPORT absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);
ANNALS_EXPORT absl::Status FromJson(std::string_view json, google::protobuf::Message* message);
ANNALS_EXPORT std::string ContentType(bool json, const google::protobuf::Message& message);
ANNALS_EXPORT bool IsJson(std::string_view content_type);
ANNALS_EXPORT absl::Status RegisterSchemas(
    EventStore& store, std::initializer_list<const google::protobuf::Descriptor*> messages,
    const SchemaRegistration& options);

}  // namespace proto_codec_internal

template <typename... Messages>
class ProtoEventCodec {
  static_assert(sizeof...(Messages) > 0, "ProtoEventCodec needs at least one message type");
  static_assert((std::derived_from<Messages, google::protobuf::Message> && ...),
                "ProtoEventCodec's types must be generated protobuf messages");

 public:
  using Event = std::variant<Messages...>;
  enum class Encoding { kBinary, kJson };

  explicit ProtoEventCodec(Encoding encoding = Encoding::kBinary) : encoding_(encoding) {}

  absl::StatusOr<EventData> Encode(const Event& event) const {
    return std::visit(
        [&](const auto& message) -> absl::StatusOr<EventData> {
          EventData data;
          data.type = std::string(message.GetDescriptor()->name());
          const bool json = encoding_ == Encoding::kJson;
          data.content_type = proto_codec_internal::ContentType(json, message);
          if (json) {
            absl::StatusOr<std::string> text = proto_codec_internal::ToJson(message);
            if (!text.ok()) return text.status();
            data.data = *std::move(text);
          } else if (!message.SerializeToString(&data.data)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "cannot serialize ", std::string(message.GetDescriptor()->full_name())));
          }
          return data;
        },
        event);
  }

  absl::StatusOr<Event> Decode(const EventRecord& record) const {
    absl::StatusOr<Event> result =
        absl::InvalidArgumentError(absl::StrCat("unknown event type '", record.type, "'"));
    (TryDecode<Messages>(record, &result) || ...);
    return result;
  }

 private:
  template <typename M>
  static bool TryDecode(const EventRecord& record, absl::StatusOr<Event>* out) {
    if (M::descriptor()->name() != record.type) return false;
    M message;
    if (proto_codec_internal::IsJson(record.content_type)) {
      if (absl::Status s = proto_codec_internal::FromJson(record.data, &message); !s.ok()) {
        *out = s;
        return true;
      }
    } else if (!message.ParseFromString(record.data)) {
      *out = absl::DataLossError(absl::StrCat("event ", record.stream, "@", record.revision.value(),
                                              " does not parse as ", record.type));
      return true;
    }
    *out = Event(std::in_place_type<M>, std::move(message));
    return true;
  }

  Encoding encoding_;
};

// Stores the schemas of `Messages` (their .proto files and every file those
// import) in the store's schema registry (annals/schemas.h), binding each
// message's name — the event type ProtoEventCodec writes — to it, so tools
// such as `annals read` print these events as JSON. Idempotent.
// FailedPrecondition, writing nothing, if the messages changed in a way that
// breaks events already stored (see RegisterSchemas), unless
// options.allow_breaking.
template <typename... Messages>
absl::Status RegisterProtoSchemas(EventStore& store, const SchemaRegistration& options = {}) {
  return proto_codec_internal::RegisterSchemas(store, {Messages::descriptor()...}, options);
}

// Snapshots of a protobuf state message, tagged with `schema_version`.
template <typename State>
class ProtoStateCodec {
  static_assert(std::derived_from<State, google::protobuf::Message>,
                "ProtoStateCodec's state must be a generated protobuf message");

 public:
  explicit ProtoStateCodec(uint32_t schema_version = 1) : schema_version_(schema_version) {}
  uint32_t schema_version() const { return schema_version_; }
  absl::StatusOr<std::string> Serialize(const State& state) const {
    std::string bytes;
    if (!state.SerializeToString(&bytes)) return absl::InternalError("cannot serialize state");
    return bytes;
  }
  absl::StatusOr<State> Parse(std::string_view bytes) const {
    State state;
    if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError("snapshot state does not parse");
    }
    return state;
  }

 private:
  uint32_t schema_version_;
};

// A validator for protobuf commands: InvalidArgument naming every listed
// field that is unset (message fields) or holds its default value (proto3
// scalars: 0, "", false). For `fields` of `message`'s own type only.
ANNALS_EXPORT absl::Status CheckRequiredFields(const google::protobuf::Message& message,
                                               std::initializer_list<std::string_view> fields);

}  // namespace annals

#endif  // ANNALS_PROTO_CODEC_H_
