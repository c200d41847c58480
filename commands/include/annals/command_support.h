// annals/command_support.h: the non-template parts of annals/command_handler.h
// (namespace command_internal), implemented in command_support.cc. Not API:
// include annals/command_handler.h.
#ifndef ANNALS_COMMAND_SUPPORT_H_
#define ANNALS_COMMAND_SUPPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/statusor.h"
#include "annals/append.h"
#include "annals/command_options.h"
#include "annals/decider.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/snapshot.h"

namespace annals {
namespace command_internal {

// Writes snapshots on its own thread. Thread-safe.
class ANNALS_EXPORT SnapshotWriter {
 public:
  explicit SnapshotWriter(EventStore& store);
  ~SnapshotWriter();  // writes what is queued, then joins
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;
  // `make` runs on the writer's thread and returns the snapshot to store.
  void Enqueue(std::function<absl::StatusOr<Snapshot>()> make);
  // Waits until everything enqueued so far is written (tests, shutdown).
  void Flush();
  // Snapshots written, and failures (a failed snapshot is only skipped).
  uint64_t written() const;
  uint64_t failed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sleeps the backoff of retry `attempt` (0-based).
ANNALS_EXPORT void SleepBackoff(const RetryPolicy& policy, int attempt);

// Carries `context` onto `data`, the `index`-th event of the command on
// `stream` (with a command id: its metadata key and derived event id).
ANNALS_EXPORT void ApplyContext(const CommandContext& context, std::string_view stream,
                                uint32_t index, EventData& data);

// Appends `request`; returns its events as stored (revisions, positions).
ANNALS_EXPORT absl::StatusOr<std::vector<EventRecord>> AppendRecorded(EventStore& store,
                                                                      AppendRequest request);

// The events command `command_id` appended to `stream` when it was handled
// before; nullopt if it was not.
ANNALS_EXPORT absl::StatusOr<std::optional<std::vector<EventRecord>>> RepeatedEvents(
    EventStore& store, std::string_view stream, std::string_view command_id);

}  // namespace command_internal
}  // namespace annals

#endif  // ANNALS_COMMAND_SUPPORT_H_
