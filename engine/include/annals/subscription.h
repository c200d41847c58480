// annals/subscription.h: Subscription, a pull-based feed of events from a
// stream, from $all, or from a filter: catch-up from the store, then live.
// Read annals/event_store.h first (EventStore::Subscribe).
#ifndef ANNALS_SUBSCRIPTION_H_
#define ANNALS_SUBSCRIPTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/filter.h"
#include "annals/types.h"

namespace annals {

// Where a subscription starts.
class ANNALS_EXPORT StartFrom {
 public:
  // From the first event.
  static StartFrom Start() { return StartFrom(Kind::kStart, 0); }
  // After the events committed when Subscribe returns: live events only.
  static StartFrom End() { return StartFrom(Kind::kEnd, 0); }
  // After position `p` ($all and filters) or revision `r` (a stream).
  static StartFrom AfterPosition(Position p) { return StartFrom(Kind::kAfter, p.value()); }
  static StartFrom AfterRevision(Revision r) { return StartFrom(Kind::kAfter, r.value()); }

  enum class Kind { kStart, kEnd, kAfter };
  Kind kind() const { return kind_; }
  uint64_t after() const { return after_; }

 private:
  StartFrom(Kind kind, uint64_t after) : kind_(kind), after_(after) {}
  Kind kind_;
  uint64_t after_;
};

struct ANNALS_EXPORT SubscribeOptions {
  // The stream to follow; empty: the global log ($all), narrowed by
  // `filter`. A stream that does not exist yet is waited for.
  std::string stream;
  // $all only: which events to deliver. Default: all.
  EventFilter filter;
  // Where delivery starts; for a durable subscriber with a stored
  // checkpoint, the checkpoint wins. Default: the start.
  StartFrom start = StartFrom::Start();
  // Non-empty: a durable subscriber. Its checkpoint (SaveCheckpoint) is
  // kept in the store under this name; after a restart delivery resumes
  // after it. One open subscription per name.
  std::string durable_name;
  // Events read from the store per refill. Default: 256.
  size_t batch_size = 256;
};

// One subscriber's view of the store: events in position order, each once,
// without gaps, from its start on: first those already stored (catch-up),
// then each new commit as it is published (live). The subscription holds no
// events of the writer's: a slow consumer simply reads further behind, from
// the store, and never slows appends down.
//
//   auto sub = store->Subscribe({.stream = "order-42"});
//   while (true) {
//     absl::StatusOr<EventRecord> event = (*sub)->Next(absl::Seconds(1));
//     if (absl::IsDeadlineExceeded(event.status())) continue;  // nothing new
//     if (!event.ok()) break;  // Cancelled: stopped or store closed
//     Handle(*event);
//     (*sub)->SaveCheckpoint();  // durable subscribers: at least once
//   }
//
// Next() and SaveCheckpoint() are single-thread (the consumer's); Stop() and
// reached() may be called from any thread.
class ANNALS_EXPORT Subscription {
 public:
  virtual ~Subscription() = default;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // The next event, waiting up to `timeout` for one to be committed.
  // DeadlineExceeded if none came; Cancelled once Stop() was called or the
  // store closed; FailedPrecondition if the followed stream was tombstoned;
  // DataLoss on corruption.
  virtual absl::StatusOr<EventRecord> Next(absl::Duration timeout) = 0;

  // Every position up to this one was delivered or filtered out (events
  // returned by Next so far). What SaveCheckpoint stores.
  virtual Position reached() const = 0;

  // Durable subscribers: stores reached() as the checkpoint, so a restart
  // resumes after it. Call it after handling the events (at least once
  // across crashes). FailedPrecondition if not durable.
  virtual absl::Status SaveCheckpoint() = 0;

  // Makes a waiting and every later Next() return Cancelled. Prompt; safe
  // from any thread.
  virtual void Stop() = 0;

 protected:
  Subscription() = default;
};

// What the store keeps about a durable subscriber.
struct ANNALS_EXPORT SubscriberInfo {
  std::string name;
  // The stream followed; empty for $all.
  std::string stream;
  // The stored checkpoint: every position up to it was handled.
  Position checkpoint;
  // head - checkpoint: how many positions of the log it is behind.
  uint64_t lag = 0;
  absl::Time updated_at;
};

class EventStore;
// Every durable subscriber with its checkpoint and lag, by name.
ANNALS_EXPORT absl::StatusOr<std::vector<SubscriberInfo>> ListSubscribers(EventStore& store);
// Forgets a durable subscriber's checkpoint. NotFound if unknown;
// FailedPrecondition for a read-only store.
ANNALS_EXPORT absl::Status DeleteSubscriber(EventStore& store, std::string_view name);

// Blocks until the store's head is past `after`, for a caller that waits for
// new events without a subscription (a server's long poll). Returns the head
// then, at once if it is past already. DeadlineExceeded if `timeout` passes
// first; Cancelled once the store is closed (a waiter wakes when Close()
// runs). A read-only store's head moves when Refresh() publishes it.
ANNALS_EXPORT absl::StatusOr<Position> WaitForHead(EventStore& store, Position after,
                                                   absl::Duration timeout);

}  // namespace annals

#endif  // ANNALS_SUBSCRIPTION_H_
