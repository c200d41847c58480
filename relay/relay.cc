// The relay loop (annals/relay.h): Resume, publish what follows in position
// order, Flush; after any error, back off and Resume again — the sink's own
// state says what landed, so nothing is published twice or skipped.
#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/relay.h"
#include "annals/stats.h"
#include "annals/subscription.h"
#include "retry.h"

namespace annals::relay {
namespace {

bool Stopping(const RelayOptions& options) { return Stopped(options.stop); }

// The store's head now (a read-only handle first catches up).
absl::StatusOr<Position> HeadOf(EventStore& store) {
  if (absl::Status refreshed = Refresh(store); !refreshed.ok()) return refreshed;
  return store.head();
}

class Relayer {
 public:
  Relayer(EventStore& store, Sink& sink, const RelayOptions& options)
      : store_(store), sink_(sink), options_(options) {}

  absl::StatusOr<RelayStatus> Run() {
    absl::StatusOr<std::string> id = GetStoreId(store_);
    if (!id.ok()) return id.status();
    status_.store_id = *id;
    absl::StatusOr<Position> head = HeadOf(store_);
    if (!head.ok()) return head.status();
    status_.head = *head;
    // --once stops at the head as of now; following has no target.
    const Position target = options_.once ? *head : Position(UINT64_MAX);
    bool resumed_once = false;
    absl::Status done = RunWithRetries(
        {.min = options_.retry_min,
         .max = options_.retry_max,
         .max_retries = options_.max_retries,
         .stop = options_.stop},
        [&] { return Round(target, &resumed_once); },
        [&] { return std::exchange(progressed_, false); },
        [&](const absl::Status& error) {
          ++status_.retries;
          status_.last_error = error.ToString();
          Report(/*force=*/true);
        });
    if (!done.ok()) return done;
    Report(/*force=*/true);
    return status_;
  }

 private:
  // Resume, then publish until the target (once) or until stopped; OK only
  // when the target is reached.
  absl::Status Round(Position target, bool* resumed_once) {
    absl::StatusOr<Resumed> resumed = sink_.Resume(status_.store_id);
    if (!resumed.ok()) return resumed.status();
    if (!*resumed_once) {
      status_.resumed_at = resumed->position;
      *resumed_once = true;
    } else if (resumed->position > status_.published_to) {
      // What the last round sent landed in part: progress, however it
      // ended (publishes the broker refuses are not).
      progressed_ = true;
    }
    status_.published_to = resumed->position;
    Position next = resumed->position;  // newest position the sink has
    while (!Stopping(options_)) {
      if (options_.once && next >= target) return absl::OkStatus();
      absl::StatusOr<std::unique_ptr<EventIterator>> it = store_.ReadAll({.from = next.Next()});
      if (!it.ok()) return it.status();
      Position sent = next;
      for (; (*it)->Valid() && !Stopping(options_); (*it)->Next()) {
        const EventRecord& event = (*it)->record();
        if (event.position > target) break;
        if (absl::Status s = sink_.Publish(event); !s.ok()) return s;
        sent = event.position;
        ++status_.published;
        if (oldest_unacked_ == absl::InfinitePast()) oldest_unacked_ = event.recorded_at;
        Report(/*force=*/false);
      }
      if (!(*it)->status().ok()) return (*it)->status();
      if (absl::Status flushed = sink_.Flush(); !flushed.ok()) return flushed;
      next = sent;
      status_.published_to = next;
      oldest_unacked_ = absl::InfinitePast();
      if (options_.once) {
        // Everything up to the target is out (positions Scavenge removed
        // included: the log simply has no event there).
        return absl::OkStatus();
      }
      // Follow: wait for the head to move (a read-only handle polls).
      absl::StatusOr<Position> head = HeadOf(store_);
      if (!head.ok()) return head.status();
      status_.head = *head;
      Report(/*force=*/false);
      if (*head <= next) {
        absl::StatusOr<Position> moved = WaitForHead(store_, next, absl::Milliseconds(100));
        if (!moved.ok() && !absl::IsDeadlineExceeded(moved.status())) return moved.status();
      }
    }
    return absl::CancelledError("the relay was stopped");
  }

  void Report(bool force) {
    if (!options_.progress) return;
    const absl::Time now = absl::Now();
    if (!force && now - last_report_ < absl::Seconds(1)) return;
    last_report_ = now;
    if (store_.head() > status_.head) status_.head = store_.head();
    status_.lag_events = status_.head.value() > status_.published_to.value()
                             ? status_.head.value() - status_.published_to.value()
                             : 0;
    status_.lag = status_.lag_events == 0 || oldest_unacked_ == absl::InfinitePast()
                      ? absl::ZeroDuration()
                      : now - oldest_unacked_;
    options_.progress(status_);
  }

  EventStore& store_;
  Sink& sink_;
  const RelayOptions& options_;
  RelayStatus status_;
  bool progressed_ = false;  // a Resume found more than the round before had
  absl::Time oldest_unacked_ = absl::InfinitePast();
  absl::Time last_report_ = absl::InfinitePast();
};

}  // namespace

absl::StatusOr<RelayStatus> Relay(EventStore& store, Sink& sink, const RelayOptions& options) {
  if (options.retry_min <= absl::ZeroDuration() || options.retry_max < options.retry_min) {
    return absl::InvalidArgumentError("relay: retry_min must be > 0 and <= retry_max");
  }
  if (!options.once && options.stop == nullptr) {
    return absl::InvalidArgumentError("relay: following the log needs a stop flag (or once)");
  }
  return Relayer(store, sink, options).Run();
}

}  // namespace annals::relay
