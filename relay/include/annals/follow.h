// Read replicas fed from the relayed log: Follow reads a store's events back
// from a Source — NATS JetStream first (OpenNatsSource), the stream `annals
// relay` fills — and writes them into a replica through Import, so the
// replica is position-identical to the primary (positions, revisions, ids,
// recorded_at; the same hash chain). The replica's head is the checkpoint:
// nothing else to lose. docs/RELAY.md, "Read replicas".
//
//   std::unique_ptr<relay::Source> source;
//   ANNALS_ASSIGN_OR_RETURN(source, relay::OpenNatsSource({.url = "nats://127.0.0.1:4222"}));
//   ANNALS_ASSIGN_OR_RETURN(relay::FollowStatus status,
//                           relay::Follow(*replica, *source, {.once = true}));
#ifndef ANNALS_FOLLOW_H_
#define ANNALS_FOLLOW_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/types.h"

namespace annals::relay {

// Where a store's relayed events come back from. One follower uses a source
// from one thread.
class Source {
 public:
  virtual ~Source() = default;
  // The store whose log the source holds (its first event's store id);
  // nullopt while it holds nothing. FailedPrecondition if its first message
  // is not an annals event.
  virtual absl::StatusOr<std::optional<std::string>> StoreId() = 0;
  // The newest position the source holds (0: none).
  virtual absl::StatusOr<Position> Last() = 0;
  // Reads from the first event of store `store_id` after `after` on.
  // FailedPrecondition if the source no longer holds the events just after
  // `after` (its retention dropped them).
  virtual absl::Status Seek(std::string_view store_id, Position after) = 0;
  // The next event, in position order; nullopt if none arrived within
  // `wait`. FailedPrecondition for a message that is not an event of the
  // store sought (a foreign message, another store's event); Unavailable
  // when the source is away (Seek again).
  virtual absl::StatusOr<std::optional<EventRecord>> Next(absl::Duration wait) = 0;
};

struct NatsSourceOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string stream = "ANNALS";          // the JetStream stream `annals relay` fills
  std::string subject_prefix = "annals";  // its subjects: `<prefix>.>`
  absl::Duration request_wait = absl::Seconds(5);
};

// Connects to a NATS server; the stream need not exist yet. Unavailable if
// the server cannot be reached; InvalidArgument for bad options.
absl::StatusOr<std::unique_ptr<Source>> OpenNatsSource(const NatsSourceOptions& options);

struct FollowStatus {
  std::string primary_id;  // the store the replica copies
  Position started_at;     // the replica's head when Follow began
  Position head;           // the replica's head now
  Position source_last;    // the newest position the source held, last looked at
  uint64_t imported = 0;   // events imported by this run
  uint64_t retries = 0;    // Seeks after an error
  // How far behind the replica is: events (source_last - head) and time
  // (now - recorded_at of the newest event imported; zero when caught up).
  uint64_t lag_events = 0;
  absl::Duration lag;
  std::string last_error;  // the newest error retried after; empty if none
};

struct FollowOptions {
  // Import up to the source's newest event as of the start, then return;
  // otherwise follow until `stop` is set.
  bool once = false;
  const std::atomic<bool>* stop = nullptr;
  // Events per Import (each one atomic and durable), and how long a batch
  // waits for more before it is imported.
  size_t batch_events = 1000;
  absl::Duration batch_wait = absl::Milliseconds(5);
  // After an error (the source away): wait, Seek and go on, backing off from
  // `retry_min` to `retry_max`; give up after `max_retries` consecutive
  // failures (-1: never).
  absl::Duration retry_min = absl::Milliseconds(50);
  absl::Duration retry_max = absl::Seconds(5);
  int max_retries = -1;
  // Called now and then (about once a second) and at the end.
  std::function<void(const FollowStatus&)> progress;
};

// Keeps `replica` a copy of the store whose log `source` holds. An empty
// store becomes a replica of that store first (MakeReplica). FailedPrecondition
// if `replica` copies another store or has events of its own, or for a
// message that is not the primary's event; InvalidArgument if an event
// cannot be imported (nothing of its batch is written); the last error once
// retries run out.
absl::StatusOr<FollowStatus> Follow(EventStore& replica, Source& source,
                                    const FollowOptions& options);

}  // namespace annals::relay

#endif  // ANNALS_FOLLOW_H_
