// annals/schemas.h: the store's schema registry. It keeps protobuf
// descriptors (FileDescriptorProtos) and which message each event type
// holds, so tools (the `annals` command) can print protobuf payloads as
// JSON without the application's binary. Register with
// EventStore::RegisterSchemas, or RegisterProtoSchemas<...> in
// annals/proto_codec.h. Read annals/event_store.h first.
#ifndef ANNALS_SCHEMAS_H_
#define ANNALS_SCHEMAS_H_

#include <map>
#include <string>

namespace annals {

// What the registry holds.
struct StoredSchemas {
  // File name -> serialized google.protobuf.FileDescriptorProto. Registering
  // a file of the same name again replaces it.
  std::map<std::string, std::string> files;
  // Event type -> full message name (e.g. "OrderPlaced" ->
  // "shop.OrderPlaced"). Events whose content type names the message
  // (`...; messageType=shop.OrderPlaced`, as ProtoEventCodec writes) need no
  // binding.
  std::map<std::string, std::string> bindings;
};

}  // namespace annals

#endif  // ANNALS_SCHEMAS_H_
