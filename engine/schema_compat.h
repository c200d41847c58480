// Internal: the schema registry's compatibility check. Given the registry's
// descriptors before and after a registration, and the messages stored
// events were written with, it lists every change that would make those
// events decode wrongly, by protobuf's documented rules. Pure: no store, no
// I/O, so the rules are tested directly (tests/engine/schema_test.cc).
#ifndef ANNALS_ENGINE_SCHEMA_COMPAT_H_
#define ANNALS_ENGINE_SCHEMA_COMPAT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"

namespace annals::internal {

// A message that stored events were written with (`stored`, its name in the
// registry before the registration) and the message they will be decoded as
// afterwards (`registered`: the same name, unless the registration binds
// their event type to another message).
struct MessageInUse {
  std::string stored;
  std::string registered;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const MessageInUse&, const MessageInUse&) = default;
};

// Every breaking change from `before` to `after` for `in_use`, as one line
// each, e.g. "shop.OrderPlaced field 1 'customer': type string -> int64".
// The rules (https://protobuf.dev/programming-guides/proto3/#updating):
// - a field number keeps a wire-compatible type: {int32, uint32, int64,
//   uint64, bool, enum}, {sint32, sint64}, {string, bytes}, {fixed32,
//   sfixed32}, {fixed64, sfixed64}; float, double, message and group only
//   themselves; a message field keeps its message type (map entries are
//   compared by their key and value), which is checked in turn;
// - a field keeps its cardinality (repeated or singular; proto3 `optional`
//   is singular) and does not become required;
// - no required field is added;
// - a removed field's number or name is reserved;
// - a message still exists (its file may have been replaced);
// - a removed value number of an enum such a message uses is reserved.
// Nested and referenced messages are checked once each, so cycles end. A
// message `before` does not define is skipped (nothing to compare with).
// Returns the lines in the order found; empty if nothing breaks.
std::vector<std::string> FindBreakingChanges(const google::protobuf::DescriptorPool& before,
                                             const google::protobuf::DescriptorPool& after,
                                             const std::vector<MessageInUse>& in_use);

// FailedPrecondition listing `changes` (one line each), with the typed
// payload annals/errors.h reads (IsBreakingSchemaChange).
absl::Status BreakingSchemaChangesError(const std::vector<std::string>& changes);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_SCHEMA_COMPAT_H_
