// annals/command_options.h: how a CommandHandler (annals/command_handler.h)
// retries and snapshots (CommandHandlerOptions, with RetryPolicy and
// SnapshotPolicy), and what handling one command returns (CommandResult).
//
//   OrderHandler handler(*store, OrderDecider{}, Codec{}, StateCodec{1},
//                        {.retry = {.max_retries = 5}, .snapshots = {.every_events = 100}});
#ifndef ANNALS_COMMAND_OPTIONS_H_
#define ANNALS_COMMAND_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>
#include "annals/export.h"

#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/types.h"

namespace annals {

// Retries of a command whose stream moved between load and append
// (emmett's defaults: 3 retries, 100 ms, x1.5). Only conflicts are retried:
// a rejection or a store error is returned at once. Thread-compatible.
struct ANNALS_EXPORT RetryPolicy {
  // Reloads and decides again at most this many times (0: never). Default: 3.
  int max_retries = 3;
  // The wait before the first retry. Default: 100 ms.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  // Each later wait is the one before times this. Default: 1.5.
  double multiplier = 1.5;
  // Each wait is drawn uniformly from [wait * (1 - jitter), wait]; clamped
  // to [0, 1]. Default: 0.5.
  double jitter = 0.5;
};

// When the handler writes a snapshot. Needs a StateCodec: with NoSnapshots
// (annals/decider.h) no snapshot is ever written. Thread-compatible.
struct ANNALS_EXPORT SnapshotPolicy {
  // After an append that crosses a multiple of this many events (0: never).
  // Default: 0.
  uint64_t every_events = 0;
};

// A CommandHandler's options (CommandHandler<...>::Options). Thread-compatible.
template <typename State>
struct CommandHandlerOptions {
  // Default: RetryPolicy{} (3 retries, 100 ms, x1.5, jitter 0.5).
  RetryPolicy retry;
  // Default: SnapshotPolicy{} (none by count).
  SnapshotPolicy snapshots;
  // Also snapshot after a command whose resulting state passes this check
  // (e.g. a status change), whatever the count. Called on Handle's thread.
  // Default: none.
  std::function<bool(const State&)> snapshot_when;
};

// The outcome of a command CommandHandler::Handle did not reject.
template <typename State>
struct CommandResult {
  // The state after the command.
  State state;
  // The stream's last revision after the command (nullopt: no stream).
  std::optional<Revision> revision;
  // The events the command appended; for a repeated command id, the events
  // its first handling appended.
  std::vector<EventRecord> events;
  // True if the command id was handled before: nothing was appended now.
  bool repeated = false;
  // Conflicts retried.
  int retries = 0;
  // Where the time went (last attempt).
  struct Timings {
    absl::Duration load, decide, append;
  } timings;
};

}  // namespace annals

#endif  // ANNALS_COMMAND_OPTIONS_H_
