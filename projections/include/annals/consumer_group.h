// annals/consumer_group.h: consumer groups (KurrentDB's persistent
// subscriptions, competing consumers): the consumers of a named group share
// the events of a stream or of $all; each event goes to one of them at a
// time until it is acknowledged, is retried when it is not (a nack, a
// timeout, a consumer that left), and is parked after too many retries.
// The group's settings, checkpoint and parked events are kept in the store,
// so a group resumes after a restart. Read annals/subscription.h first.
//
//   ASSIGN_OR_RETURN(auto groups, ConsumerGroups::Open(*store));
//   RETURN_IF_ERROR(groups->Create("billing", {.stream = "", .strategy =
//                                              ConsumerStrategy::kPinned}));
//   ASSIGN_OR_RETURN(auto consumer, groups->Join("billing"));
//   while (true) {
//     absl::StatusOr<Delivery> d = consumer->Next(absl::Seconds(1));
//     if (absl::IsDeadlineExceeded(d.status())) continue;
//     if (!d.ok()) break;  // Cancelled: left, closed, or the group deleted
//     absl::Status handled = Handle(d->event);
//     handled.ok() ? consumer->Ack(d->event.position)
//                  : consumer->Nack(d->event.position, NackAction::kRetry, handled.message());
//   }
//
// Delivery is at least once: an event is redelivered if its ack comes after
// the message timeout, and after a restart every event past the stored
// checkpoint (written every `checkpoint_after` done events and when the last
// consumer leaves) comes again. Within one process an acknowledged event is
// never delivered again.
#ifndef ANNALS_CONSUMER_GROUP_H_
#define ANNALS_CONSUMER_GROUP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/filter.h"
#include "annals/subscription.h"
#include "annals/types.h"

namespace annals {

// Which consumer an event goes to.
enum class ConsumerStrategy {
  // To whichever consumer asks next and has room.
  kRoundRobin = 0,
  // Each stream to one consumer (consistent hashing over the consumers), so
  // a stream's events reach one consumer in order; when a consumer leaves,
  // only its streams move, with its unacknowledged events first.
  kPinned = 1,
  // To the consumer that joined first while it has room, then the next.
  kDispatchToSingle = 2,
};

struct ANNALS_EXPORT ConsumerGroupSettings {
  // The stream whose events the group shares; empty: $all, narrowed by
  // `filter`. Fixed once the group exists.
  std::string stream;
  // $all only. Fixed once the group exists.
  EventFilter filter;
  // Where a new group starts (End: after the events stored when Create
  // returns). Used at Create only.
  StartFrom start = StartFrom::Start();
  ConsumerStrategy strategy = ConsumerStrategy::kRoundRobin;
  // Retries of an event (after its first delivery) before it is parked.
  int max_retries = 10;
  // A delivery not acknowledged within this is retried. At least 1 ms.
  absl::Duration message_timeout = absl::Seconds(30);
  // Consumers at most; 0: no limit. Join beyond it is ResourceExhausted.
  int max_consumers = 0;
  // Done events (acknowledged, skipped, parked) between stored checkpoints.
  int checkpoint_after = 100;
};

// What a consumer does with an event it could not handle.
enum class NackAction {
  kRetry,  // deliver it again (to any consumer the strategy picks); parked
           // once retried max_retries times
  kPark,   // park it now: readable with ReadParked, back with ReplayParked
  kSkip,   // count it done without handling
};

struct ANNALS_EXPORT Delivery {
  EventRecord event;
  // Deliveries of this event before this one (0 the first time).
  int retry_count = 0;
};

struct ANNALS_EXPORT ConsumerOptions {
  // Deliveries this consumer holds unacknowledged at most. Default: 10.
  int buffer_size = 10;
  // Shown in ConsumerGroupInfo. Default: "consumer-<n>".
  std::string name;
};

// One member of a group. Next, Ack and Nack are thread-safe; an event is
// acknowledged by the consumer it was delivered to. Destroying it leaves the
// group: its unacknowledged events go to the others.
class ANNALS_EXPORT Consumer {
 public:
  virtual ~Consumer() = default;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // The next event for this consumer, waiting up to `timeout`.
  // DeadlineExceeded if none came (or its buffer is full of unacknowledged
  // events); Cancelled once it left, the group was deleted, the groups were
  // closed or the store closed; DataLoss on corruption.
  virtual absl::StatusOr<Delivery> Next(absl::Duration timeout) = 0;
  // The event delivered at `position` is done. NotFound if it is not held
  // by this consumer (its timeout passed and it went back to the group).
  virtual absl::Status Ack(Position position) = 0;
  virtual absl::Status Nack(Position position, NackAction action, std::string_view reason) = 0;
  // Leaves the group now; its unacknowledged events go to the others
  // (counted as a retry). Later calls are Cancelled.
  virtual void Leave() = 0;

 protected:
  Consumer() = default;
};

struct ANNALS_EXPORT ConsumerInfo {
  std::string name;
  int in_flight = 0;  // delivered, not yet acknowledged
  uint64_t acknowledged = 0;
};

struct ANNALS_EXPORT ConsumerGroupInfo {
  std::string name;
  ConsumerGroupSettings settings;  // `start` as Create was given it
  // Every position ($all) or revision (a stream) up to it is done; nullopt
  // while nothing is.
  std::optional<uint64_t> checkpoint;
  uint64_t parked = 0;
  // Delivered and not yet done, and read from the log waiting for a
  // consumer (both 0 while no consumer has joined since the groups opened).
  uint64_t in_flight = 0;
  uint64_t waiting = 0;
  std::vector<ConsumerInfo> consumers;
  absl::Time created_at;
  absl::Time updated_at;
};

struct ANNALS_EXPORT GroupParkedEvent {
  EventRecord event;
  std::string reason;
  int deliveries = 0;  // before it was parked
  absl::Time parked_at;
  bool replaying = false;  // handed back by ReplayParked, not yet done
};

// The consumer groups of one open store: their definitions (kept in the
// store) and, for groups consumers joined, the delivery state. One per open
// store (a second Open of the same store is FailedPrecondition); the store
// must outlive it. Thread-safe.
class ANNALS_EXPORT ConsumerGroups {
 public:
  // FailedPrecondition for a read-only store or one with an open
  // ConsumerGroups already.
  static absl::StatusOr<std::unique_ptr<ConsumerGroups>> Open(EventStore& store);
  virtual ~ConsumerGroups() = default;
  ConsumerGroups(const ConsumerGroups&) = delete;
  ConsumerGroups& operator=(const ConsumerGroups&) = delete;

  // Names: 1 to 200 bytes of UTF-8, no NUL. AlreadyExists for a taken name;
  // InvalidArgument for bad settings (as Subscribe checks a stream and a
  // filter, and a filter on a stream group).
  virtual absl::Status Create(std::string_view name, const ConsumerGroupSettings& settings) = 0;
  // New strategy, retries, timeout, limits; joined consumers stay and the
  // next deliveries follow them. InvalidArgument if `stream` or `filter`
  // differ from the group's; NotFound for an unknown group.
  virtual absl::Status Update(std::string_view name, const ConsumerGroupSettings& settings) = 0;
  // Removes the group, its checkpoint and its parked events; its consumers
  // get Cancelled. NotFound for an unknown group.
  virtual absl::Status Delete(std::string_view name) = 0;
  virtual absl::StatusOr<ConsumerGroupInfo> Get(std::string_view name) = 0;
  // Every group, by name.
  virtual absl::StatusOr<std::vector<ConsumerGroupInfo>> List() = 0;

  // A new member of group `name`. NotFound for an unknown group;
  // ResourceExhausted past max_consumers; InvalidArgument for a buffer
  // size below 1.
  virtual absl::StatusOr<std::unique_ptr<Consumer>> Join(std::string_view name,
                                                         const ConsumerOptions& options = {}) = 0;

  // The group's parked events, in position order, at most `max`. An event
  // Scavenge removed since is left out.
  virtual absl::StatusOr<std::vector<GroupParkedEvent>> ReadParked(std::string_view name,
                                                                   size_t max = SIZE_MAX) = 0;
  // Hands the first `max` parked events not yet replaying back to the group
  // (delivered before new events, retry count 0); each stays parked until
  // it is done, so a restart replays it again. Returns how many.
  virtual absl::StatusOr<size_t> ReplayParked(std::string_view name, size_t max = SIZE_MAX) = 0;

  // Stores each active group's checkpoint; every consumer gets Cancelled.
  // Also done by the destructor.
  virtual void Close() = 0;

 protected:
  ConsumerGroups() = default;
};

}  // namespace annals

#endif  // ANNALS_CONSUMER_GROUP_H_
