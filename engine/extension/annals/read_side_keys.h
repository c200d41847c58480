// annals/read_side_keys.h (engine extension, not installed): the keys of the
// two read-side column families, `read_models` and `projections`
// (docs/FORMAT.md). Like every other key they are built and parsed in
// engine/key_codec.cc; the read side (projections/) uses these builders and
// builds no key itself. Read annals/read_side.h first.
#ifndef ANNALS_EXTENSION_READ_SIDE_KEYS_H_
#define ANNALS_EXTENSION_READ_SIDE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "annals/export.h"

#include "annals/types.h"

namespace annals::extension {

// `read_models`: projection name ‖ 0x00 ‖ version (u32 BE), followed by the
// projection's own key. Names hold no NUL, so the rows of one version of one
// projection are one contiguous key range.
ANNALS_EXPORT std::string ReadModelKeyPrefix(std::string_view projection, uint32_t version);

// `projections`: tag ‖ 0x00 ‖ projection name, then what the tag says.
// Persisted: never change a tag's byte.
enum class ProjectionKeyKind : char {
  kCheckpoint = 'c',  // ‖ 0x00 ‖ version (u32 BE) -> ProjectionCheckpoint
  kParked = 'p',      // ‖ 0x00 ‖ version (u32 BE) ‖ position (u64 BE) -> ParkedRecord
  kServing = 's',     // (nothing more) -> ServingVersion
  // Consumer groups (annals/consumer_group.h) keep their state here too,
  // under their group name.
  kConsumerGroup = 'g',  // (nothing more) -> ConsumerGroupRecord
  kGroupParked = 'q',    // ‖ 0x00 ‖ position (u64 BE) -> GroupParkedRecord
};
// The kind of a `projections` key (its tag); nullopt for any other key.
ANNALS_EXPORT std::optional<ProjectionKeyKind> ParseProjectionKeyKind(std::string_view key);

ANNALS_EXPORT std::string ProjectionCheckpointKey(std::string_view projection, uint32_t version);

// Every parked-event key of one version of a projection starts with this;
// in key order, they are in position order.
ANNALS_EXPORT std::string ParkedEventKeyPrefix(std::string_view projection, uint32_t version);
ANNALS_EXPORT std::string ParkedEventKey(std::string_view projection, uint32_t version,
                                         Position position);
// The position of a parked-event key; nullopt if `key` is not one.
ANNALS_EXPORT std::optional<Position> ParseParkedEventKey(std::string_view key);

ANNALS_EXPORT std::string ServingVersionKey(std::string_view projection);
// Every serving-version key starts with this, in projection name order.
ANNALS_EXPORT std::string ServingVersionKeyPrefix();
// The projection name of a serving-version key; nullopt if `key` is not one.
ANNALS_EXPORT std::optional<std::string_view> ParseServingVersionKey(std::string_view key);

ANNALS_EXPORT std::string ConsumerGroupKey(std::string_view group);
// Every consumer-group key starts with this, in group name order.
ANNALS_EXPORT std::string ConsumerGroupKeyPrefix();
// The group name of a consumer-group key; nullopt if `key` is not one.
ANNALS_EXPORT std::optional<std::string_view> ParseConsumerGroupKey(std::string_view key);
// Every parked-event key of one group starts with this; in key order, they
// are in position order.
ANNALS_EXPORT std::string GroupParkedKeyPrefix(std::string_view group);
ANNALS_EXPORT std::string GroupParkedKey(std::string_view group, Position position);
// The position of a group's parked-event key; nullopt if `key` is not one.
ANNALS_EXPORT std::optional<Position> ParseGroupParkedKey(std::string_view key);

// The first key after every key that starts with `prefix` (an exclusive
// upper bound); empty if there is none (`prefix` is empty or all 0xff bytes).
ANNALS_EXPORT std::string PrefixEnd(std::string_view prefix);

}  // namespace annals::extension

#endif  // ANNALS_EXTENSION_READ_SIDE_KEYS_H_
