// annals/aggregate.h: Aggregates, which loads a decider's state from its
// stream — the newest usable snapshot, then the tail — now or at any earlier
// revision, position or time (time travel), and traces a fold step by step.
// Read annals/decider.h first; annals/command_handler.h builds on this.
//
//   annals::Aggregates<OrderDecider, Codec> orders(*store, OrderDecider{}, Codec{});
//   auto now = orders.Load("order-42");                        // state + revision
//   auto then = orders.LoadAt("order-42", {.revision = Revision(3)});
//   auto noon = orders.LoadAt("order-42", {.time = absl::FromCivil(...)});
//   auto steps = orders.Trace("order-42");                     // (event, state after)
//
// Loads read the stream as ReadStream does, so soft deletes and retention
// apply: the state folds the events a reader can see. Snapshots are used
// only when they folded exactly those (same truncation point, no max count
// or max age on the stream) and carry the codec's schema version.
#ifndef ANNALS_AGGREGATE_H_
#define ANNALS_AGGREGATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "annals/decider.h"
#include "annals/event_store.h"
#include "annals/snapshot.h"

namespace annals {

// A state and where in its stream it stands.
template <typename State>
struct Loaded {
  State state;
  // The last revision folded in; nullopt: no visible event (no stream, a
  // soft-deleted one, or a bound before its first event).
  std::optional<Revision> revision;
  // The position of that event (0 if none).
  Position position;
  // Events folded by this load (after the snapshot, if one was used).
  uint64_t events_folded = 0;
  // The snapshot the load started from, if any.
  std::optional<Revision> snapshot_revision;
  // The first revision a reader sees (a soft delete's truncation point), and
  // whether snapshots of this stream can be trusted (no max count / age).
  Revision visible_from;
  bool snapshots_usable = false;
};

// Where a load stops: at most one of revision, position, time (none: the
// latest). Marten's AggregateStream shape. Thread-compatible.
struct ANNALS_EXPORT At {
  // The state after this revision. OutOfRange if the stream has no such
  // revision. Default: none.
  std::optional<Revision> revision;
  // The state after the stream's last event at or before this position.
  // Default: none.
  std::optional<Position> position;
  // The state after the stream's last event recorded at or before this time.
  // Default: none.
  std::optional<absl::Time> time;
  // With a seed state (LoadAt's `seed`): the first revision folded onto it;
  // for Trace: the first step returned. Default: the first revision.
  std::optional<Revision> from_revision;
};

// One step of a traced fold: the event, and the state after it.
template <typename State>
struct TraceStep {
  EventRecord event;
  State state;
};

template <typename D, typename EventCodec, typename StateCodec = NoSnapshots>
class Aggregates {
  static_assert(Decider<D>,
                "D is not a decider: it needs member types State, Event, Command and const "
                "functions initial_state(), evolve(state, event) and "
                "decide(command, state) -> absl::StatusOr<std::vector<Event>> (annals/decider.h)");
  static_assert(EventCodecFor<EventCodec, typename D::Event>,
                "EventCodec needs Encode(const Event&) -> absl::StatusOr<EventData> and "
                "Decode(const EventRecord&) -> absl::StatusOr<Event> (annals/decider.h)");
  static_assert(std::is_same_v<StateCodec, NoSnapshots> ||
                    StateCodecFor<StateCodec, typename D::State>,
                "StateCodec needs Serialize(state), Parse(bytes) and schema_version(), or is "
                "annals::NoSnapshots (annals/decider.h)");

 public:
  using State = typename D::State;
  using Event = typename D::Event;
  static constexpr bool kSnapshots = !std::is_same_v<StateCodec, NoSnapshots>;

  // Loads from `store`, which must outlive this. Every call is const: as
  // thread-safe as the decider and codecs.
  Aggregates(EventStore& store, D decider, EventCodec codec, StateCodec state_codec = {})
      : store_(store),
        decider_(std::move(decider)),
        codec_(std::move(codec)),
        state_codec_(std::move(state_codec)) {}

  // The latest state; the initial state (nullopt revision) for no stream.
  // The codec's error, naming the event, for one that does not decode; the
  // store's errors otherwise.
  absl::StatusOr<Loaded<State>> Load(std::string_view stream) const { return LoadAt(stream, {}); }

  // The state at `at`; with `seed`, folds from at.from_revision onto it
  // instead of from the start (no snapshot is used). InvalidArgument for
  // more than one bound; OutOfRange for a revision the stream does not show.
  absl::StatusOr<Loaded<State>> LoadAt(std::string_view stream, const At& at,
                                       std::optional<State> seed = std::nullopt) const {
    return Fold(stream, at, std::move(seed), nullptr);
  }

  // Every step of the fold up to `at`, from the first event (or from
  // at.from_revision; the steps before it are folded but not returned).
  absl::StatusOr<std::vector<TraceStep<State>>> Trace(std::string_view stream,
                                                      const At& at = {}) const {
    std::vector<TraceStep<State>> steps;
    At bounds = at;
    const std::optional<Revision> report_from = at.from_revision;
    bounds.from_revision.reset();
    auto loaded = Fold(stream, bounds, std::nullopt, [&](const EventRecord& e, const State& s) {
      if (!report_from || e.revision >= *report_from) steps.push_back({e, s});
    });
    if (!loaded.ok()) return loaded.status();
    return steps;
  }

  // Applies `events` (just decided) to `state`.
  State Evolve(State state, const std::vector<Event>& events) const {
    for (const Event& event : events) state = decider_.evolve(std::move(state), event);
    return state;
  }

  // The parts it was built with.
  const D& decider() const { return decider_; }
  const EventCodec& codec() const { return codec_; }
  const StateCodec& state_codec() const { return state_codec_; }
  EventStore& store() const { return store_; }

 private:
  using StepFn = std::function<void(const EventRecord&, const State&)>;

  absl::StatusOr<Loaded<State>> Fold(std::string_view stream, const At& at,
                                     std::optional<State> seed, const StepFn& step) const {
    if ((at.revision.has_value() + at.position.has_value() + at.time.has_value()) > 1) {
      return absl::InvalidArgumentError("At: give at most one of revision, position, time");
    }
    std::optional<Position> max_position = at.position;
    if (at.time) {
      // The last position recorded at or before the time.
      absl::StatusOr<Position> after = FindPosition(store_, *at.time + absl::Microseconds(1));
      if (!after.ok()) return after.status();
      max_position = Position(after->value() - 1);
    }
    Loaded<State> loaded{seed ? *std::move(seed) : decider_.initial_state()};
    uint64_t from = seed ? at.from_revision.value_or(Revision(0)).value() : 0;
    if constexpr (kSnapshots) {
      absl::StatusOr<StreamMetadata> metadata = GetStreamMetadata(store_, stream);
      if (!metadata.ok()) return metadata.status();
      loaded.visible_from = metadata->truncate_before.value_or(Revision(0));
      loaded.snapshots_usable = !metadata->max_count && !metadata->max_age;
      if (!seed && !step && loaded.snapshots_usable) {
        absl::StatusOr<std::optional<Snapshot>> snapshot =
            ReadSnapshot(store_, stream, at.revision.value_or(Revision(~uint64_t{0} - 1)));
        if (!snapshot.ok()) return snapshot.status();
        if (*snapshot && (*snapshot)->schema_version == state_codec_.schema_version() &&
            (*snapshot)->folded_from == loaded.visible_from &&
            (!max_position || (*snapshot)->position <= *max_position)) {
          absl::StatusOr<State> state = state_codec_.Parse((*snapshot)->state);
          // A snapshot that does not parse is skipped: the events are the truth.
          if (state.ok()) {
            loaded.state = *std::move(state);
            loaded.revision = (*snapshot)->revision;
            loaded.position = (*snapshot)->position;
            loaded.snapshot_revision = (*snapshot)->revision;
            from = (*snapshot)->revision.value() + 1;
          }
        }
      }
    }
    ReadStreamOptions read;
    read.from = Revision(from);
    absl::StatusOr<std::unique_ptr<EventIterator>> it = store_.ReadStream(stream, read);
    if (absl::IsNotFound(it.status()) && !loaded.revision) {
      // No stream (or a soft-deleted one): the initial (or seed) state.
      if (at.revision) return OutOfRangeError(stream, *at.revision);
      return loaded;
    }
    if (!it.ok()) return it.status();
    for (; (*it)->Valid(); (*it)->Next()) {
      const EventRecord& record = (*it)->record();
      if (at.revision && record.revision > *at.revision) break;
      if (max_position && record.position > *max_position) break;
      absl::StatusOr<Event> event = codec_.Decode(record);
      if (!event.ok()) {
        return absl::Status(event.status().code(),
                            absl::StrCat("decoding ", record.stream, "@", record.revision.value(),
                                         ": ", event.status().message()));
      }
      // Moved in: a decider whose evolve takes State by value updates it in
      // place instead of copying it for every event.
      loaded.state = decider_.evolve(std::move(loaded.state), *event);
      loaded.revision = record.revision;
      loaded.position = record.position;
      ++loaded.events_folded;
      if (step) step(record, loaded.state);
    }
    if (!(*it)->status().ok()) return (*it)->status();
    if (at.revision && (!loaded.revision || *loaded.revision < *at.revision)) {
      return OutOfRangeError(stream, *at.revision);
    }
    return loaded;
  }

  static absl::Status OutOfRangeError(std::string_view stream, Revision revision) {
    return absl::OutOfRangeError(absl::StrCat("stream '", std::string(stream),
                                              "' has no visible revision ", revision.value()));
  }

  EventStore& store_;
  const D decider_;
  const EventCodec codec_;
  const StateCodec state_codec_;
};

}  // namespace annals

#endif  // ANNALS_AGGREGATE_H_
