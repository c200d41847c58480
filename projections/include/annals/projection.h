// annals/projection.h: projections (the read side). A projection folds the
// events a filter selects into a read model — key/value data kept in the
// same store — and a ProjectionRunner owned by the application runs it:
// catch-up from its checkpoint, then live. The read-model writes of a batch
// of events and the projection's checkpoint are committed in ONE write, so
// each event's effect is applied exactly once, also across crashes.
//
//   annals::ProjectionRunner runner(*store);
//   runner.Register({.name = "orders-per-customer",
//                    .filter = {.categories = {"order"}, .event_types = {"OrderPlaced"}},
//                    .apply = [](const EventRecord& e, ReadModelWriter& rm) -> absl::Status {
//                      auto n = rm.Get(CustomerOf(e));   // sees this batch's own writes
//                      ...
//                      rm.Put(CustomerOf(e), ...);
//                      return absl::OkStatus();
//                    }});                                // running from here on
//   runner.WaitForPosition("orders-per-customer", appended.last_position, absl::Seconds(5));
//   auto value = runner.Get("orders-per-customer", "c-17");
//
// What a projection is (ProjectionSpec, ReadModelWriter): annals/read_model.h.
// Threads: the runner owns one thread per async projection and runs `apply`
// there; an inline projection's `apply` runs on the appending thread that
// commits its group (RegisterInline). Read annals/event_store.h first.
#ifndef ANNALS_PROJECTION_H_
#define ANNALS_PROJECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/read_model.h"

namespace annals {

enum class ProjectionState { kCatchingUp, kLive, kStopped, kFailed };

// A snapshot of one projection (ProjectionRunner::Status, ListStored).
struct ANNALS_EXPORT ProjectionStatus {
  std::string name;
  // The version running, and the version queries read (older while a new
  // version rebuilds; they switch when it has caught up).
  uint32_t version = 0;
  uint32_t serving_version = 0;
  ProjectionState state = ProjectionState::kStopped;
  // Every position up to it is applied (or skipped by the filter).
  Position checkpoint;
  // head - checkpoint, and how long ago the first event after the
  // checkpoint was recorded (zero when caught up).
  uint64_t lag = 0;
  absl::Duration time_behind;
  // Why it stopped (kFailed); OK otherwise.
  absl::Status error;
  // Events parked (OnFailure::kPark), not yet retried or skipped.
  uint64_t parked = 0;
};

// A parked event and the error of its last attempt (or why it waits).
struct ANNALS_EXPORT ParkedEvent {
  EventRecord event;
  std::string error;
};

// Runs projections over one store, each from its stored checkpoint: catch-up,
// then live. Thread-safe: every method may be called from any thread, and
// `apply` of one projection is never called concurrently with itself.
class ANNALS_EXPORT ProjectionRunner {
 public:
  // The runner of projections on `store`, which must outlive it. Runs
  // nothing until Register.
  explicit ProjectionRunner(EventStore& store);
  // Stops every projection (see Stop).
  ~ProjectionRunner();
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  // Adds a projection and starts it on a thread of its own (catch-up from
  // its stored checkpoint, then live). InvalidArgument for a bad spec;
  // AlreadyExists for a name already registered; FailedPrecondition if the
  // store serves a newer version of it; Unavailable if the store is closed.
  // Nothing runs then.
  absl::Status Register(ProjectionSpec spec);

  // Inline mode: after catching up, the projection runs inside the store's
  // group commit and its writes go into the append's own write, so the
  // read model is never behind an acknowledged append (WaitForPosition is
  // never needed). Costs: `apply` runs on the committing thread for every
  // event (appends wait for it; a slow apply slows every writer), an apply
  // error rejects the append itself (FailedPrecondition, nothing written;
  // no retries, no parking), and the last part of the catch-up runs with
  // appends paused. Same errors as Register, and the error of an `apply`
  // that fails during the catch-up.
  absl::Status RegisterInline(ProjectionSpec spec);

  // Stops every projection: each finishes the batch in progress (committed
  // whole, or not at all) and its thread is joined, or its inline hook
  // removed. They stay registered (state kStopped). Idempotent.
  void Stop();

  // A snapshot of projection `name`: state, checkpoint, lag behind the
  // store's head (in positions and in time), the versions built and served,
  // the parked count and, once failed, the error. NotFound if no projection
  // of that name is registered.
  absl::StatusOr<ProjectionStatus> Status(std::string_view name) const;

  // Waits until projection `name` has applied every event up to `position`
  // (read your own writes). DeadlineExceeded after `timeout`;
  // FailedPrecondition if the projection failed or stopped meanwhile;
  // NotFound for a name not registered.
  absl::Status WaitForPosition(std::string_view name, Position position,
                               absl::Duration timeout) const;

  // Queries of the served version of `name`'s read model, each over one
  // consistent view of the store; NotFound for a name not registered,
  // DataLoss if the store's read fails. Get: the value of `key`, nullopt if
  // absent.
  absl::StatusOr<std::optional<std::string>> Get(std::string_view name, std::string_view key) const;
  // Entries with keys in [from, to) (empty `to`: no upper bound), in key
  // order, at most `limit`.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view name,
                                                                        std::string_view from,
                                                                        std::string_view to = {},
                                                                        size_t limit = 1000) const;
  // Entries whose keys start with `prefix`, in key order, at most `limit`.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanPrefix(
      std::string_view name, std::string_view prefix, size_t limit = 1000) const;

  // The parked events (OnFailure::kPark) of the running version, in
  // position order; NotFound for a name not registered.
  absl::StatusOr<std::vector<ParkedEvent>> Parked(std::string_view name) const;
  // Applies the parked events of `stream` again, in order; those that now
  // succeed leave the park, committed with their writes in one write.
  // Returns the error of the first that still fails: it and the later ones
  // stay parked (and so do later events of the stream). NotFound for a name
  // not registered.
  absl::Status RetryParked(std::string_view name, std::string_view stream);
  // Drops the parked events of `stream` without applying them; the stream's
  // next events are applied, no longer parked behind them. NotFound for a
  // name not registered.
  absl::Status SkipParked(std::string_view name, std::string_view stream);

  // Drops the read model, checkpoint and parked events of the running
  // version of `name` (one write), then replays it from the start in the
  // same mode. NotFound for a name not registered; errors as Register.
  absl::Status Reset(std::string_view name);

  // What `store` holds about projections, without running them (for tools
  // such as `annals projections`, and read-only stores): one status per
  // projection name, in name order, of its serving version, with its stored
  // checkpoint, lag to the head and parked count; state kStopped.
  // Unavailable if the store is closed; DataLoss for a damaged record.
  static absl::StatusOr<std::vector<ProjectionStatus>> ListStored(EventStore& store);
  // The parked events of projection `name` (serving version), in position
  // order. NotFound if the store has no projection of that name; errors as
  // ListStored.
  static absl::StatusOr<std::vector<ParkedEvent>> StoredParked(EventStore& store,
                                                               std::string_view name);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals

#endif  // ANNALS_PROJECTION_H_
