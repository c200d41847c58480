// The follower (annals/follow.h): Seek the source after the replica's head,
// import what comes in batches (each atomic and durable), and after any
// error back off and Seek again from the head — which says exactly what
// landed, so nothing is imported twice or skipped.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/follow.h"
#include "annals/maintenance.h"
#include "annals/stats.h"
#include "retry.h"

namespace annals::relay {
namespace {

bool Stopping(const FollowOptions& options) { return Stopped(options.stop); }

// How long a follower that hears nothing waits before it asks the source
// whether it holds newer events (then its consumer is stuck: read again).
constexpr absl::Duration kStall = absl::Seconds(2);

class Follower {
 public:
  Follower(EventStore& replica, Source& source, const FollowOptions& options)
      : replica_(replica), source_(source), options_(options) {}

  absl::StatusOr<FollowStatus> Run() {
    status_.started_at = status_.head = replica_.head();
    std::optional<Position> target;  // once: the source's newest as of the start
    uint64_t imported_before = 0;
    absl::Status done = RunWithRetries(
        {.min = options_.retry_min,
         .max = options_.retry_max,
         .max_retries = options_.max_retries,
         .stop = options_.stop},
        [&] {
          imported_before = status_.imported;
          return Round(&target);
        },
        [&] { return status_.imported > imported_before; },
        [&](const absl::Status& error) {
          ++status_.retries;
          status_.last_error = error.ToString();
          Report(/*force=*/true);
        });
    Report(/*force=*/true);
    if (!done.ok()) return done;
    return status_;
  }

 private:
  // The primary's id: the replica's own record, or (an empty store) the
  // source's, which the replica is then made a copy of. nullopt while the
  // source holds nothing.
  absl::StatusOr<std::optional<std::string>> Primary() {
    absl::StatusOr<std::optional<std::string>> of = GetReplicaOf(replica_);
    if (!of.ok() || of->has_value()) return of;
    absl::StatusOr<std::optional<std::string>> id = source_.StoreId();
    if (!id.ok() || !id->has_value()) return id;
    if (replica_.head() != Position(0)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the store has events of its own and is no replica: follow into an empty "
                       "store (the source holds store ",
                       **id, ")"));
    }
    if (absl::Status made = MakeReplica(replica_, **id); !made.ok()) return made;
    return id;
  }

  absl::Status Round(std::optional<Position>* target) {
    if (status_.primary_id.empty()) {
      absl::StatusOr<std::optional<std::string>> primary = Primary();
      if (!primary.ok()) return primary.status();
      if (!primary->has_value()) {
        if (options_.once) return absl::OkStatus();  // nothing relayed yet
        return absl::UnavailableError("the source holds no events yet");
      }
      status_.primary_id = **primary;
    }
    if (options_.once && !target->has_value()) {
      absl::StatusOr<Position> last = source_.Last();
      if (!last.ok()) return last.status();
      *target = *last;
    }
    status_.head = replica_.head();
    if (options_.once && status_.head >= **target) return absl::OkStatus();
    if (absl::Status s = source_.Seek(status_.primary_id, status_.head); !s.ok()) return s;
    std::vector<EventRecord> batch;
    absl::Time last_event = absl::Now();
    absl::Time last_check = last_event;
    while (!Stopping(options_)) {
      absl::StatusOr<std::optional<EventRecord>> next =
          source_.Next(batch.empty() ? absl::Milliseconds(100) : options_.batch_wait);
      if (!next.ok()) return next.status();
      const absl::Time now = absl::Now();
      if (next->has_value()) last_event = now;
      if (!next->has_value() && batch.empty() && now - last_event > kStall &&
          now - last_check > kStall) {
        // Quiet for a while: if the source holds newer events, the consumer
        // is stuck (a broker's member died under it, say): read again.
        last_check = now;
        absl::StatusOr<Position> last = source_.Last();
        if (!last.ok()) return last.status();
        if (*last > replica_.head()) {
          return absl::UnavailableError(absl::StrCat(
              "no events from the source for ", absl::FormatDuration(now - last_event),
              " while it holds newer ones (up to ", last->value(), "): reading again"));
        }
      }
      if (next->has_value()) {
        // Past what is imported only (the source starts there; a consumer
        // recreated after a reconnect may repeat a little).
        const Position at = (*next)->position;
        const Position newest = batch.empty() ? replica_.head() : batch.back().position;
        if (at > newest) batch.push_back(**std::move(next));
        if (batch.size() < options_.batch_events) continue;
      }
      if (!batch.empty()) {
        if (absl::Status s = ImportBatch(&batch); !s.ok()) return s;
      } else {
        Report(/*force=*/false);
      }
      if (options_.once && status_.head >= **target) return absl::OkStatus();
    }
    return absl::CancelledError("the follower was stopped");
  }

  absl::Status ImportBatch(std::vector<EventRecord>* batch) {
    const size_t n = batch->size();
    const Position first = batch->front().position;
    const Position last = batch->back().position;
    newest_recorded_at_ = batch->back().recorded_at;
    if (absl::Status s = Import(replica_, std::move(*batch)); !s.ok()) {
      batch->clear();
      if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s)) {
        return absl::Status(s.code(), absl::StrCat("import positions ", first.value(), "..",
                                                   last.value(), ": ", s.message()));
      }
      return s;
    }
    batch->clear();
    status_.imported += n;
    status_.head = replica_.head();
    Report(/*force=*/false);
    return absl::OkStatus();
  }

  void Report(bool force) {
    if (!options_.progress) return;
    const absl::Time now = absl::Now();
    if (!force && now - last_report_ < absl::Seconds(1)) return;
    last_report_ = now;
    status_.head = replica_.head();
    if (absl::StatusOr<Position> last = source_.Last(); last.ok()) status_.source_last = *last;
    status_.lag_events = status_.source_last.value() > status_.head.value()
                             ? status_.source_last.value() - status_.head.value()
                             : 0;
    status_.lag = status_.lag_events == 0 || newest_recorded_at_ == absl::InfinitePast()
                      ? absl::ZeroDuration()
                      : now - newest_recorded_at_;
    options_.progress(status_);
  }

  EventStore& replica_;
  Source& source_;
  const FollowOptions& options_;
  FollowStatus status_;
  absl::Time newest_recorded_at_ = absl::InfinitePast();
  absl::Time last_report_ = absl::InfinitePast();
};

}  // namespace

absl::StatusOr<FollowStatus> Follow(EventStore& replica, Source& source,
                                    const FollowOptions& options) {
  if (options.retry_min <= absl::ZeroDuration() || options.retry_max < options.retry_min) {
    return absl::InvalidArgumentError("follow: retry_min must be > 0 and <= retry_max");
  }
  if (options.batch_events == 0)
    return absl::InvalidArgumentError("follow: batch_events must be > 0");
  if (!options.once && options.stop == nullptr) {
    return absl::InvalidArgumentError("follow: following the source needs a stop flag (or once)");
  }
  return Follower(replica, source, options).Run();
}

}  // namespace annals::relay
