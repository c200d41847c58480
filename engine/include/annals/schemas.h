// annals/schemas.h: the store's schema registry. It keeps protobuf
// descriptors (FileDescriptorProtos) and which message each event type
// holds, so tools (the `annals` command) can print protobuf payloads as
// JSON without the application's binary. Register with
// RegisterSchemas, or RegisterProtoSchemas<...> in
// annals/proto_codec.h. A registration that would change a message of
// stored events incompatibly is refused unless SchemaRegistration says
// otherwise, and then recorded in the `$schemas` stream. Read
// annals/event_store.h first.
#ifndef ANNALS_SCHEMAS_H_
#define ANNALS_SCHEMAS_H_

#include <map>
#include <string>
#include <string_view>
#include "annals/export.h"

#include <string_view>
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace annals {

// What the registry holds.
struct ANNALS_EXPORT StoredSchemas {
  // File name -> serialized google.protobuf.FileDescriptorProto. Registering
  // a file of the same name again replaces it.
  std::map<std::string, std::string> files;
  // Event type -> full message name (e.g. "OrderPlaced" ->
  // "shop.OrderPlaced"). Events whose content type names the message
  // (`...; messageType=shop.OrderPlaced`, as ProtoEventCodec writes) need no
  // binding.
  std::map<std::string, std::string> bindings;
};

// How RegisterSchemas treats a registration that breaks stored
// events: one that changes, against protobuf's compatibility rules, a
// message events in the store were written with (docs/ARCHITECTURE.md, "The
// schema registry"). Plain value; thread-compatible.
struct ANNALS_EXPORT SchemaRegistration {
  // Register even so, and record the registration (its files, bindings and
  // breaking changes, with `actor` and `reason`) as a kSchemasChangedType
  // event of kSchemasStream, in the same commit. Default: false (refuse).
  bool allow_breaking = false;
  // Who registers: the audit event's `actor` metadata (UTF-8). Default: "".
  std::string actor;
  // Why: the audit event's `reason` metadata (UTF-8). Default: "".
  std::string reason;
};

// The stream of breaking schema registrations: readable with ReadStream,
// never appended to by users.
inline constexpr std::string_view kSchemasStream = "$schemas";
// The type of its events. Data (JSON): {"files": [names], "bindings": {event
// type: message}, "breakingChanges": [lines]}.
inline constexpr std::string_view kSchemasChangedType = "$schemasChanged";

class EventStore;

// Stores every file of `file_descriptor_set` (a serialized
// google.protobuf.FileDescriptorSet) and the event type -> message
// `bindings`. InvalidArgument, writing nothing, if the set does not parse,
// its files do not build together with those already stored, they redefine
// a well-known type, or a binding names a message they do not define;
// FailedPrecondition, writing nothing, if it breaks messages stored events
// were written with (one line per change; IsBreakingSchemaChange in
// annals/errors.h) unless options.allow_breaking, and for a read-only store.
ANNALS_EXPORT absl::Status RegisterSchemas(EventStore& store, std::string_view file_descriptor_set,
                                           const std::map<std::string, std::string>& bindings = {},
                                           const SchemaRegistration& options = {});
// What the registry holds.
ANNALS_EXPORT absl::StatusOr<StoredSchemas> ReadSchemas(EventStore& store);

// The message a content type names, as ProtoEventCodec writes it
// (`application/x-protobuf; messageType=shop.OrderPlaced` ->
// "shop.OrderPlaced"); "" if it names none.
ANNALS_EXPORT std::string MessageTypeOf(std::string_view content_type);

// OK unless `files` (file name -> serialized FileDescriptorProto, as
// StoredSchemas holds them) define one of protobuf's well-known types
// (google.protobuf.Struct, Any, Timestamp, the wrappers, ...) otherwise than
// protobuf itself: its JSON printer renders those by name and trusts their
// shape (a Struct whose field is no map makes it loop forever).
// InvalidArgument naming the type, or a file that does not parse.
// RegisterSchemas refuses such a set; tools refuse to decode with one.
ANNALS_EXPORT absl::Status CheckWellKnownTypes(const std::map<std::string, std::string>& files);

}  // namespace annals

#endif  // ANNALS_SCHEMAS_H_
