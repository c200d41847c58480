// annals/read_model.h: what a projection is — ProjectionSpec, with the
// ReadModelWriter its `apply` writes through and the OnFailure policy. A
// ProjectionRunner runs it (annals/projection.h, which includes this header;
// read that first).
#ifndef ANNALS_READ_MODEL_H_
#define ANNALS_READ_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/filter.h"

namespace annals {

// The writes of one batch of events to one projection's read model, handed
// to `apply`. Single-thread (the thread running `apply`); valid only during
// that call. Keys and values are any bytes, the empty key included.
class ANNALS_EXPORT ReadModelWriter {
 public:
  virtual ~ReadModelWriter() = default;
  // Stages `value` under `key`. Nothing is written yet: the writes of an
  // `apply` that succeeds commit with the checkpoint that covers its event,
  // all or nothing (inline: with the append); those of an `apply` that
  // fails are dropped. A later Put or Delete of the same key wins.
  virtual void Put(std::string_view key, std::string_view value) = 0;
  // Stages the removal of `key` (present or not); committed or dropped as
  // Put is.
  virtual void Delete(std::string_view key) = 0;
  // The value of `key` as this batch left it (its own staged puts and
  // deletes first), else as committed; nullopt if absent. Non-OK only if the
  // store's read fails (DataLoss for a damaged file): `apply` should return
  // that error.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
};

// What happens when `apply` keeps failing (async projections).
enum class OnFailure {
  // Stop the projection, state kFailed with the error in its status; the
  // events before the failing one stay applied.
  kStop,
  // Park the event and every later event of the same stream; other streams
  // go on (ordered dead letters). Parked events can be listed, retried in
  // order, or skipped (ProjectionRunner::Parked / RetryParked / SkipParked).
  kPark,
};

// What a projection is: a plain aggregate, checked by Register
// (InvalidArgument naming the field). Thread-compatible.
struct ANNALS_EXPORT ProjectionSpec {
  // 1 to 200 letters, digits, '-', '_' and '.'; unique per runner; the name
  // its read model and checkpoint are stored under. Required. Default: "".
  std::string name;
  // A new version folds into a fresh read model from position 1 while the
  // old one serves queries (rebuild); >= 1 and at least the version the
  // store serves. Default: 1.
  uint32_t version = 1;
  // The events it sees; others are skipped (and still advance the
  // checkpoint), so unknown event types are never fatal. Default: empty
  // (every event, system streams included).
  EventFilter filter;
  // Folds one event into the read model, writing only through the writer.
  // Must be deterministic; a non-OK status is a failure (see on_failure).
  // Runs on the projection's thread (async) or the committing appender's
  // (inline). Required. Default: empty.
  std::function<absl::Status(const EventRecord&, ReadModelWriter&)> apply;
  // What happens once `apply` has failed `max_attempts` times in a row
  // (async; an inline projection rejects the append instead). Default: kStop.
  OnFailure on_failure = OnFailure::kStop;
  // Attempts of a failing `apply` before on_failure acts; >= 1. Default: 3.
  int max_attempts = 3;
  // Wait before the second attempt, doubled before each later one.
  // Default: 10 ms.
  absl::Duration retry_backoff = absl::Milliseconds(10);
  // Events applied per committed batch (async projections and catch-up);
  // >= 1. Default: 256.
  size_t batch_size = 256;
};

}  // namespace annals

#endif  // ANNALS_READ_MODEL_H_
