// annals/decider.h: the write-side model of one aggregate type (a decider),
// checked at compile time, and the codecs that turn its events and state
// into stored bytes. Use with annals/aggregate.h (loading, time travel) and
// annals/command_handler.h (handling commands). Protobuf codecs are in
// annals/proto_codec.h.
//
// A decider is a type with three member types and three const functions:
//
//   struct OrderDecider {
//     using State = OrderState;                 // any copyable type
//     using Event = std::variant<Placed, Shipped>;
//     using Command = std::variant<Place, Ship>;
//     State initial_state() const;
//     State evolve(State, const Event&) const;   // or (const State&, ...)
//     absl::StatusOr<std::vector<Event>> decide(const Command&, const State&) const;
//   };
//
// `evolve` may take the state by value: loads move it in, so a large state
// is updated in place rather than copied per event. `decide` returns the
// events a command causes, or a rejection (a non-OK status; nothing is
// written). It must depend on its arguments only, so
// that a retried command decides the same again.
#ifndef ANNALS_DECIDER_H_
#define ANNALS_DECIDER_H_

#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/statusor.h"
#include "annals/event.h"

namespace annals {

template <typename D>
concept Decider = requires(const D& decider, const typename D::State& state,
                           const typename D::Event& event, const typename D::Command& command) {
  typename D::State;
  typename D::Event;
  typename D::Command;
  requires std::copy_constructible<typename D::State>;
  { decider.initial_state() } -> std::convertible_to<typename D::State>;
  { decider.evolve(state, event) } -> std::convertible_to<typename D::State>;
  {
    decider.decide(command, state)
    } -> std::convertible_to<absl::StatusOr<std::vector<typename D::Event>>>;
};

// Turns events into stored EventData (type, data, content type) and back.
// Decode answers InvalidArgument (or NotFound) for a type it does not know.
template <typename C, typename Event>
concept EventCodecFor = requires(const C& codec, const Event& event, const EventRecord& record) {
  { codec.Encode(event) } -> std::convertible_to<absl::StatusOr<EventData>>;
  { codec.Decode(record) } -> std::convertible_to<absl::StatusOr<Event>>;
};

// Turns a state into snapshot bytes and back; schema_version() tags the
// bytes, and a snapshot of another version is ignored (state is folded from
// the events instead).
template <typename C, typename State>
concept StateCodecFor = requires(const C& codec, const State& state, std::string_view bytes) {
  { codec.Serialize(state) } -> std::convertible_to<absl::StatusOr<std::string>>;
  { codec.Parse(bytes) } -> std::convertible_to<absl::StatusOr<State>>;
  { codec.schema_version() } -> std::convertible_to<uint32_t>;
};

// The state codec that means "no snapshots" (the default).
struct NoSnapshots {};

// What a command carries onto every event it causes. Thread-compatible.
struct ANNALS_EXPORT CommandContext {
  // Makes the command idempotent: a command handled before under the same id
  // appends nothing again and returns the original outcome. Default: empty
  // (not idempotent).
  std::string command_id;
  // Every event's correlation_id. Default: empty.
  std::string correlation_id;
  // Every event's causation_id. Default: the command id.
  std::string causation_id;
  // Free metadata copied onto every event (user, tenant, ...). Default: none.
  std::map<std::string, std::string> metadata;
};

// The metadata key under which every event records its command's id.
inline constexpr std::string_view kCommandIdMetadataKey = "command-id";

// The event id of the `index`-th event caused by command `command_id` on
// `stream`: deterministic (a name-based UUID over SHA-256), so that a
// retried command's events are recognised by id.
ANNALS_EXPORT EventId CommandEventId(std::string_view command_id, std::string_view stream,
                                     uint32_t index);

}  // namespace annals

#endif  // ANNALS_DECIDER_H_
