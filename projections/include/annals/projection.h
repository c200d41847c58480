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
//                    }});
//   runner.Start();
//   runner.WaitForPosition("orders-per-customer", appended.last_position, absl::Seconds(5));
//   auto value = runner.Get("orders-per-customer", "c-17");
//
// Threads: the runner owns one thread per projection and runs `apply` there
// (the only place the library runs user code on a thread of its own).
#ifndef ANNALS_PROJECTION_H_
#define ANNALS_PROJECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/filter.h"

namespace annals {

// The writes of one batch of events to one read model. Single-thread (the
// projection's own).
class ReadModelWriter {
 public:
  virtual ~ReadModelWriter() = default;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
  // The value as this batch left it (its own puts and deletes first), else
  // as committed; nullopt if absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
};

// What happens when `apply` fails (after the retries).
enum class OnFailure {
  // Stop the projection with the error visible in its status (default).
  kStop,
  // Park the event and every later event of the same stream; other streams
  // go on (ordered dead letters). Parked events can be listed, retried in
  // order, or skipped (ProjectionRunner::RetryParked / SkipParked).
  kPark,
};

struct ProjectionSpec {
  // Letters, digits, '-', '_' and '.'; unique per runner.
  std::string name;
  // A new version folds into a fresh read model from position 1 (Rebuild).
  uint32_t version = 1;
  // The events it sees; others are skipped (and still advance the
  // checkpoint), so unknown event types are never fatal.
  EventFilter filter;
  std::function<absl::Status(const EventRecord&, ReadModelWriter&)> apply;
  OnFailure on_failure = OnFailure::kStop;
  // Attempts of a failing `apply` before the failure policy acts, with a
  // doubling backoff from `retry_backoff`.
  int max_attempts = 3;
  absl::Duration retry_backoff = absl::Milliseconds(10);
  // Events applied per committed batch.
  size_t batch_size = 256;
};

enum class ProjectionState { kCatchingUp, kLive, kStopped, kFailed };

struct ProjectionStatus {
  std::string name;
  // The version running, and the version queries read (older while a new
  // version rebuilds; they switch when it has caught up).
  uint32_t version = 0;
  uint32_t serving_version = 0;
  ProjectionState state = ProjectionState::kStopped;
  // Every position up to it is applied (or skipped by the filter).
  Position checkpoint;
  // head - checkpoint, and how long ago the head event after the
  // checkpoint was recorded (zero when caught up).
  uint64_t lag = 0;
  absl::Duration time_behind;
  // Why it stopped (kFailed).
  absl::Status error;
  uint64_t parked = 0;
};

struct ParkedEvent {
  EventRecord event;
  std::string error;
};

class ProjectionRunner {
 public:
  // The runner of projections on `store`, which must outlive it.
  explicit ProjectionRunner(EventStore& store);
  // Stops every projection (see Stop).
  ~ProjectionRunner();
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  // Adds a projection and starts it (catch-up from its stored checkpoint,
  // then live). InvalidArgument for a bad spec; AlreadyExists for a name
  // already registered.
  absl::Status Register(ProjectionSpec spec);

  // Inline mode: after catching up, the projection runs inside the store's
  // group commit and its writes go into the append's own WriteBatch, so the
  // read model is never behind an acknowledged append (WaitForPosition is
  // never needed). Costs: `apply` runs on the committing thread for every
  // event (appends wait for it; a slow apply slows every writer), an apply
  // error rejects the append itself (FailedPrecondition, nothing written;
  // no retries, no parking), and the last part of the catch-up runs with
  // appends paused. Same errors as Register.
  absl::Status RegisterInline(ProjectionSpec spec);

  // Stops every projection: each finishes the batch in progress (committed
  // whole, or not at all) and its thread is joined. Idempotent.
  void Stop();

  absl::StatusOr<ProjectionStatus> Status(std::string_view name) const;

  // Waits until projection `name` has applied every event up to `position`
  // (read your own writes). DeadlineExceeded after `timeout`;
  // FailedPrecondition if the projection failed meanwhile.
  absl::Status WaitForPosition(std::string_view name, Position position,
                               absl::Duration timeout) const;

  // Queries over a consistent snapshot of the read model.
  absl::StatusOr<std::optional<std::string>> Get(std::string_view name, std::string_view key) const;
  // Entries with keys in [from, to) (empty `to`: no upper bound), in key
  // order, at most `limit`.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view name, std::string_view from, std::string_view to = {},
      size_t limit = 1000) const;
  // Entries whose keys start with `prefix`.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanPrefix(
      std::string_view name, std::string_view prefix, size_t limit = 1000) const;

  // Ordered dead letters (OnFailure::kPark).
  absl::StatusOr<std::vector<ParkedEvent>> Parked(std::string_view name) const;
  // Applies the parked events of `stream` again, in order; those that now
  // succeed leave the park (stopping at the first that still fails).
  absl::Status RetryParked(std::string_view name, std::string_view stream);
  // Drops the parked events of `stream` without applying them.
  absl::Status SkipParked(std::string_view name, std::string_view stream);

  // Drops the read model and checkpoint of `name` and replays from the start.
  absl::Status Reset(std::string_view name);

  // What `store` holds about projections, without running them (for tools
  // such as `annals projections`, and read-only stores): one status per
  // projection name, of its serving version, with its stored checkpoint,
  // lag to the head and parked count; state kStopped.
  static absl::StatusOr<std::vector<ProjectionStatus>> ListStored(EventStore& store);
  // The parked events of projection `name` (serving version), in position
  // order. NotFound if the store has no projection of that name.
  static absl::StatusOr<std::vector<ParkedEvent>> StoredParked(EventStore& store, std::string_view name);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals

#endif  // ANNALS_PROJECTION_H_
