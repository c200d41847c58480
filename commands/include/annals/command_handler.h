// annals/command_handler.h: CommandHandler, the write side. For each
// command: validate its shape, load the aggregate (snapshot + tail), let the
// decider turn it into events or a rejection, append with the loaded
// revision, and on a concurrency conflict reload and retry (bounded). Read
// annals/decider.h and annals/aggregate.h first; the options and the result
// are in annals/command_options.h.
//
//   annals::CommandHandler<OrderDecider, Codec, StateCodec> handler(
//       *store, OrderDecider{}, Codec{}, StateCodec{1},
//       {.snapshots = {.every_events = 100}});
//   handler.AddValidator<PlaceOrder>([](const PlaceOrder& c) {
//     return annals::CheckRequiredFields(c, {"customer"});
//   });
//   auto result = handler.Handle("order-42", PlaceOrder{...}, {.command_id = "c-1"});
//
// Thread-safe: Handle may be called from many threads. The handler owns one
// thread, which writes snapshots off the callers' path; the destructor
// writes what is queued and joins it. It runs no user code but the
// decider's, the codecs' and the validators', on the calling thread (state
// serialization for snapshots: on its own thread).
#ifndef ANNALS_COMMAND_HANDLER_H_
#define ANNALS_COMMAND_HANDLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "annals/aggregate.h"
#include "annals/command_options.h"
#include "annals/command_support.h"
#include "annals/decider.h"
#include "annals/errors.h"
#include "annals/event_store.h"
#include "annals/snapshot.h"

namespace annals {

template <typename D, typename EventCodec, typename StateCodec = NoSnapshots>
class CommandHandler {
 public:
  using State = typename D::State;
  using Event = typename D::Event;
  using Command = typename D::Command;
  using Result = CommandResult<State>;
  using Options = CommandHandlerOptions<State>;
  using Aggregates = ::annals::Aggregates<D, EventCodec, StateCodec>;

  // Handles commands on `store`, which must outlive the handler. With a
  // StateCodec and a snapshot policy (options.snapshots or snapshot_when),
  // starts the snapshot writer's thread; the destructor joins it.
  CommandHandler(EventStore& store, D decider, EventCodec codec, StateCodec state_codec = {},
                 Options options = {})
      : aggregates_(store, std::move(decider), std::move(codec), std::move(state_codec)),
        options_(options) {
    if constexpr (Aggregates::kSnapshots) {
      if (options_.snapshots.every_events > 0 || options_.snapshot_when) {
        snapshots_ = std::make_unique<command_internal::SnapshotWriter>(store);
      }
    }
  }

  // Checks every command of type T (T = Command, or one alternative of a
  // std::variant Command) before the store is touched; a non-OK status
  // rejects the command. Not thread-safe: add validators before handling.
  template <typename T>
  void AddValidator(std::function<absl::Status(const T&)> validator) {
    validators_.push_back([validator = std::move(validator)](const Command& command) {
      if constexpr (std::is_same_v<T, Command>) {
        return validator(command);
      } else {
        const T* alternative = std::get_if<T>(&command);
        return alternative == nullptr ? absl::OkStatus() : validator(*alternative);
      }
    });
  }

  // Handles one command on `stream`. Returns the outcome; the validator's or
  // the decider's status for a rejection (nothing written); Aborted with
  // the typed payload (annals/errors.h) if the stream still moved after
  // every retry; the store's errors otherwise.
  absl::StatusOr<Result> Handle(std::string_view stream, const Command& command,
                                const CommandContext& context = {}) const {
    for (const auto& validate : validators_) {
      if (absl::Status s = validate(command); !s.ok()) return s;
    }
    for (int attempt = 0;; ++attempt) {
      Result result;
      result.retries = attempt;
      const absl::Time load_start = absl::Now();
      absl::StatusOr<Loaded<State>> loaded = aggregates_.Load(stream);
      if (!loaded.ok()) return loaded.status();
      if (!context.command_id.empty()) {
        // Checked after the load: a first handling committed before it is
        // found here; one committing after it makes our append conflict,
        // and the store then recognises the same event ids (or the retry
        // finds them here).
        absl::StatusOr<std::optional<Result>> repeated = Repeated(stream, context.command_id);
        if (!repeated.ok()) return repeated.status();
        if (*repeated) return **repeated;
      }
      const absl::Time decide_start = absl::Now();
      result.timings.load = decide_start - load_start;
      absl::StatusOr<std::vector<Event>> events =
          aggregates_.decider().decide(command, loaded->state);
      const absl::Time append_start = absl::Now();
      result.timings.decide = append_start - decide_start;
      if (!events.ok()) return events.status();
      if (events->empty()) {
        result.state = std::move(loaded->state);
        result.revision = loaded->revision;
        return result;
      }
      absl::StatusOr<std::vector<EventRecord>> appended =
          AppendEvents(stream, *loaded, *events, context);
      result.timings.append = absl::Now() - append_start;
      if (IsWrongExpectedRevision(appended.status()) && attempt < options_.retry.max_retries) {
        command_internal::SleepBackoff(options_.retry, attempt);
        continue;
      }
      if (!appended.ok()) return appended.status();
      result.state = aggregates_.Evolve(std::move(loaded->state), *events);
      result.revision = appended->back().revision;
      result.events = *std::move(appended);
      MaybeSnapshot(stream, *loaded, result);
      return result;
    }
  }

  // Fetch for writing (Marten): the state and its revision now; Append
  // checks that the stream has not moved since. Valid while its handler is.
  class WriteHandle {
   public:
    // The state and the revision as loaded (nullopt revision: no stream).
    const State& state() const { return loaded_.state; }
    std::optional<Revision> revision() const { return loaded_.revision; }
    // Appends `events` with `context`, expecting the loaded revision: Aborted
    // with the typed payload if the stream moved (no retry); the stored
    // events otherwise. No validator runs and no snapshot is written.
    absl::StatusOr<std::vector<EventRecord>> Append(const std::vector<Event>& events,
                                                    const CommandContext& context = {}) const {
      return handler_->AppendEvents(stream_, loaded_, events, context);
    }

   private:
    friend class CommandHandler;
    WriteHandle(const CommandHandler* handler, std::string stream, Loaded<State> loaded)
        : handler_(handler), stream_(std::move(stream)), loaded_(std::move(loaded)) {}
    const CommandHandler* handler_;
    std::string stream_;
    Loaded<State> loaded_;
  };

  // Loads `stream` now for a WriteHandle; the load's errors otherwise.
  absl::StatusOr<WriteHandle> FetchForWriting(std::string_view stream) const {
    absl::StatusOr<Loaded<State>> loaded = aggregates_.Load(stream);
    if (!loaded.ok()) return loaded.status();
    return WriteHandle(this, std::string(stream), *std::move(loaded));
  }

  // The loader the handler uses (Load, LoadAt, Trace; annals/aggregate.h).
  const Aggregates& aggregates() const { return aggregates_; }

  // Waits until every snapshot queued so far is written. Thread-safe.
  void FlushSnapshots() const {
    if (snapshots_) snapshots_->Flush();
  }

 private:
  absl::StatusOr<std::vector<EventRecord>> AppendEvents(std::string_view stream,
                                                        const Loaded<State>& loaded,
                                                        const std::vector<Event>& events,
                                                        const CommandContext& context) const {
    AppendRequest request;
    request.stream = std::string(stream);
    request.expected =
        loaded.revision ? ExpectedRevision::Exact(*loaded.revision) : ExpectedRevision::NoStream();
    for (size_t i = 0; i < events.size(); ++i) {
      absl::StatusOr<EventData> data = aggregates_.codec().Encode(events[i]);
      if (!data.ok()) return data.status();
      command_internal::ApplyContext(context, stream, static_cast<uint32_t>(i), *data);
      request.events.push_back(*std::move(data));
    }
    return command_internal::AppendRecorded(aggregates_.store(), std::move(request));
  }

  // The outcome of a command handled before under `command_id`, if any.
  absl::StatusOr<std::optional<Result>> Repeated(std::string_view stream,
                                                 const std::string& command_id) const {
    absl::StatusOr<std::optional<std::vector<EventRecord>>> events =
        command_internal::RepeatedEvents(aggregates_.store(), stream, command_id);
    if (!events.ok()) return events.status();
    if (!*events) return std::nullopt;
    absl::StatusOr<Loaded<State>> after =
        aggregates_.LoadAt(stream, {.revision = (*events)->back().revision});
    if (!after.ok()) return after.status();
    Result result;
    result.state = std::move(after->state);
    result.revision = (*events)->back().revision;
    result.events = **std::move(events);
    result.repeated = true;
    return result;
  }

  void MaybeSnapshot(std::string_view stream, const Loaded<State>& loaded,
                     const Result& result) const {
    if constexpr (Aggregates::kSnapshots) {
      const uint64_t every = options_.snapshots.every_events;
      if (!snapshots_ || !loaded.snapshots_usable) return;
      const uint64_t before = loaded.revision ? loaded.revision->value() + 1 : 0;
      const uint64_t after = result.revision->value() + 1;
      const bool by_count = every > 0 && after / every != before / every;
      if (!by_count && !(options_.snapshot_when && options_.snapshot_when(result.state))) return;
      // The state is copied now; serialized and written on the writer's thread.
      snapshots_->Enqueue([this, stream = std::string(stream), state = result.state,
                           revision = *result.revision, position = result.events.back().position,
                           folded_from = loaded.visible_from]() -> absl::StatusOr<Snapshot> {
        absl::StatusOr<std::string> bytes = aggregates_.state_codec().Serialize(state);
        if (!bytes.ok()) return bytes.status();
        Snapshot snapshot;
        snapshot.stream = stream;
        snapshot.revision = revision;
        snapshot.schema_version = aggregates_.state_codec().schema_version();
        snapshot.state = *std::move(bytes);
        snapshot.folded_from = folded_from;
        snapshot.position = position;
        return snapshot;
      });
    }
  }

  Aggregates aggregates_;
  const Options options_;
  std::vector<std::function<absl::Status(const Command&)>> validators_;
  std::unique_ptr<command_internal::SnapshotWriter> snapshots_;
};

}  // namespace annals

#endif  // ANNALS_COMMAND_HANDLER_H_
