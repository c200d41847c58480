// annals/tool_plugin.h: teach the `annals` tool a domain. A plugin is a
// shared library that registers folds (how a stream's events become state,
// for `replay`, `state`, `diff`, `bisect`) and projections (for
// `projections rebuild|retry|skip`) by name:
//
//   ANNALS_TOOL_PLUGIN(registry) {
//     registry.AddFold("order", "order",
//                      annals::plugin::DeciderFold<OrderDecider, OrderEvents, OrderSnapshots>());
//     registry.AddProjection(OrdersPerCustomer());
//   }
//
// and is loaded with `annals --plugin lib.so ...` (or ANNALS_PLUGIN). The
// entry point is versioned: the tool calls it with its kApiVersion and the
// plugin registers only if it was built against the same one. Build a plugin
// with the same compiler and annals headers as the tool. Without a plugin
// the tool folds JSON payloads generically (docs/CLI.md).
#ifndef ANNALS_TOOL_PLUGIN_H_
#define ANNALS_TOOL_PLUGIN_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "annals/decider.h"
#include "annals/event.h"
#include "annals/projection.h"
#include "annals/snapshot.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"

namespace annals::plugin {

// Bumped whenever Fold or Registry change shape.
inline constexpr int kApiVersion = 1;

// A fold's state; the tool only passes it back to the fold that made it.
class FoldState {
 public:
  virtual ~FoldState() = default;
};

// How one aggregate type's events become its state.
class Fold {
 public:
  virtual ~Fold() = default;
  virtual std::unique_ptr<FoldState> Initial() const = 0;
  // Applies `event` to `state`; an error for an event the fold cannot read.
  virtual absl::Status Apply(FoldState& state, const EventRecord& event) const = 0;
  // The state as a JSON object, for display and diffs.
  virtual absl::StatusOr<std::string> ToJson(const FoldState& state) const = 0;
  // The state a snapshot holds, if this fold wrote it (same schema
  // version); nullptr if it cannot use the snapshot.
  virtual absl::StatusOr<std::unique_ptr<FoldState>> FromSnapshot(const Snapshot& snapshot) const {
    (void)snapshot;
    return nullptr;
  }
};

// What a plugin registers into.
class Registry {
 public:
  virtual ~Registry() = default;
  // `name` selects the fold (`--fold name`); streams of `category` (names
  // `category-...`) use it by default.
  virtual void AddFold(std::string name, std::string category, std::unique_ptr<Fold> fold) = 0;
  virtual void AddProjection(ProjectionSpec spec) = 0;
};

namespace internal {

template <typename State>
absl::StatusOr<std::string> StateToJson(const State& state) {
  if constexpr (std::is_base_of_v<google::protobuf::Message, State>) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    auto status = google::protobuf::util::MessageToJsonString(state, &json, options);
    if (!status.ok()) return absl::InternalError(std::string(status.message()));
    return json;
  } else {
    // Non-protobuf states provide `std::string ToJson(const State&)`,
    // found by argument-dependent lookup.
    return ToJson(state);
  }
}

}  // namespace internal

// A Fold over a decider (annals/decider.h) and its codecs: the state is the
// decider's, evolved exactly as the command layer evolves it.
template <Decider D, typename EventCodec, typename StateCodec = NoSnapshots>
class DeciderFold final : public Fold {
 public:
  explicit DeciderFold(D decider = D(), EventCodec events = EventCodec(),
                       StateCodec states = StateCodec())
      : decider_(std::move(decider)), events_(std::move(events)), states_(std::move(states)) {}

  std::unique_ptr<FoldState> Initial() const override {
    return std::make_unique<Holder>(decider_.initial_state());
  }
  absl::Status Apply(FoldState& state, const EventRecord& event) const override {
    auto decoded = events_.Decode(event);
    if (!decoded.ok()) return decoded.status();
    auto& held = static_cast<Holder&>(state).state;
    held = decider_.evolve(std::move(held), *decoded);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ToJson(const FoldState& state) const override {
    return internal::StateToJson(static_cast<const Holder&>(state).state);
  }
  absl::StatusOr<std::unique_ptr<FoldState>> FromSnapshot(const Snapshot& snapshot) const override {
    if constexpr (std::is_same_v<StateCodec, NoSnapshots>) {
      return nullptr;
    } else {
      if (snapshot.schema_version != states_.schema_version()) return nullptr;
      auto parsed = states_.Parse(snapshot.state);
      if (!parsed.ok()) return parsed.status();
      return std::unique_ptr<FoldState>(std::make_unique<Holder>(*std::move(parsed)));
    }
  }

 private:
  struct Holder final : FoldState {
    explicit Holder(typename D::State s) : state(std::move(s)) {}
    typename D::State state;
  };
  D decider_;
  EventCodec events_;
  StateCodec states_;
};

}  // namespace annals::plugin

// The name the tool looks up in a plugin.
#define ANNALS_TOOL_PLUGIN_ENTRY "annals_tool_plugin"

// Defines the plugin's entry point; the body registers into `registry`.
#define ANNALS_TOOL_PLUGIN(registry)                                          \
  static void AnnalsToolPluginRegister(::annals::plugin::Registry& registry); \
  extern "C" __attribute__((visibility("default"))) int annals_tool_plugin(   \
      int host_api_version, ::annals::plugin::Registry* host_registry) {      \
    if (host_api_version == ::annals::plugin::kApiVersion) {                  \
      AnnalsToolPluginRegister(*host_registry);                               \
    }                                                                         \
    return ::annals::plugin::kApiVersion;                                     \
  }                                                                           \
  static void AnnalsToolPluginRegister(::annals::plugin::Registry& registry)

#endif  // ANNALS_TOOL_PLUGIN_H_
