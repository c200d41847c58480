// The relay: publishes a store's log ($all), in position order, exactly once
// to a Sink — NATS JetStream first (OpenNatsSink) — with no checkpoint of its
// own: the sink's last message is the checkpoint. docs/RELAY.md.
//
//   std::unique_ptr<relay::Sink> sink;
//   ANNALS_ASSIGN_OR_RETURN(sink, relay::OpenNatsSink({.url = "nats://127.0.0.1:4222"}));
//   ANNALS_ASSIGN_OR_RETURN(relay::RelayStatus status,
//                           relay::Relay(*store, *sink, {.once = true}));
#ifndef ANNALS_RELAY_H_
#define ANNALS_RELAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
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

// Where a sink stands: the position of the newest event of the store it
// holds (0: none yet).
struct Resumed {
  Position position;
};

// A destination of the log. One relay uses a sink from one thread.
class Sink {
 public:
  virtual ~Sink() = default;
  // Reads the sink's own state and returns where the store `store_id`'s
  // events in it end. FailedPrecondition if its newest message is not an
  // event of that store (another store's, or foreign), so a relay never
  // continues into someone else's log. Resets what Publish expects.
  virtual absl::StatusOr<Resumed> Resume(std::string_view store_id) = 0;
  // Publishes one event, after the previous one (or the resume position);
  // may return before the sink has it (a bounded window of publishes in
  // flight). An error means the relay must Resume again: what was in
  // flight may or may not have landed, and Resume says which.
  virtual absl::Status Publish(const EventRecord& event) = 0;
  // Waits until every publish so far is acknowledged, or returns the first
  // error.
  virtual absl::Status Flush() = 0;
};

struct NatsSinkOptions {
  std::string url = "nats://127.0.0.1:4222";
  // The JetStream stream, created (file storage) if missing.
  std::string stream = "ANNALS";
  // The subjects the stream is created with; events go to
  // `<subject_prefix>.<category>.<escaped stream name>`.
  std::string subject_prefix = "annals";
  int replicas = 1;                             // of a stream the sink creates
  int max_in_flight = 1024;                     // publishes not yet acknowledged
  absl::Duration ack_wait = absl::Seconds(10);  // for each acknowledgement
};

// Connects to a NATS server and opens (or creates) the stream.
// Unavailable if the server cannot be reached; InvalidArgument for bad
// options.
absl::StatusOr<std::unique_ptr<Sink>> OpenNatsSink(const NatsSinkOptions& options);

struct RelayStatus {
  std::string store_id;
  Position resumed_at;     // where the first Resume found the sink
  Position published_to;   // newest position published and acknowledged
  Position head;           // the store's head when last looked at
  uint64_t published = 0;  // events published by this run
  uint64_t retries = 0;    // Resumes after an error
  // How far behind the sink is: events (head - published_to; gaps left by
  // Scavenge count) and time (now - recorded_at of the oldest event not yet
  // published; zero when caught up).
  uint64_t lag_events = 0;
  absl::Duration lag;
  std::string last_error;  // the newest error retried after; empty if none
};

struct RelayOptions {
  // Publish up to the head as of the start, then return; otherwise follow
  // the log until `stop` is set.
  bool once = false;
  const std::atomic<bool>* stop = nullptr;
  // After an error (the broker down, a publish refused): wait, Resume and go
  // on, backing off from `retry_min` to `retry_max`; give up after
  // `max_retries` consecutive failures (-1: never).
  absl::Duration retry_min = absl::Milliseconds(50);
  absl::Duration retry_max = absl::Seconds(5);
  int max_retries = -1;
  // Called now and then (about once a second) and at the end.
  std::function<void(const RelayStatus&)> progress;
};

// Relays `store`'s log to `sink` (see RelayOptions). FailedPrecondition if
// the sink holds another store's log; the last error once retries run out.
absl::StatusOr<RelayStatus> Relay(EventStore& store, Sink& sink, const RelayOptions& options);

// `<prefix>.<category>.<stream>` with each token escaped: bytes NATS
// subjects forbid in a token (`.`, `*`, `>`, whitespace and control bytes)
// and `%` are written `%XX`; an empty category is `%`.
std::string SubjectOf(std::string_view prefix, std::string_view stream);

// The header names of a relayed event.
inline constexpr char kStoreHeader[] = "Annals-Store";
inline constexpr char kPositionHeader[] = "Annals-Position";
inline constexpr char kStreamHeader[] = "Annals-Stream";
inline constexpr char kRevisionHeader[] = "Annals-Revision";
inline constexpr char kTypeHeader[] = "Annals-Type";
inline constexpr char kContentTypeHeader[] = "Annals-Content-Type";
inline constexpr char kEventIdHeader[] = "Annals-Event-Id";
inline constexpr char kCorrelationIdHeader[] = "Annals-Correlation-Id";
inline constexpr char kCausationIdHeader[] = "Annals-Causation-Id";
inline constexpr char kRecordedAtHeader[] = "Annals-Recorded-At";
inline constexpr char kMetadataHeader[] = "Annals-Metadata";

// Header values are percent-encoded text: every byte outside printable
// ASCII (0x21..0x7E), and `%`, as `%XX`. Metadata is `key=value&...`,
// each key and value encoded so (and `=`, `&` too).
std::string EncodeHeaderValue(std::string_view value);
// The inverse; nullopt for a malformed escape.
std::optional<std::string> DecodeHeaderValue(std::string_view value);
// An event's metadata as one header value, and back (nullopt if malformed
// or a key repeats).
std::string EncodeMetadata(const std::map<std::string, std::string>& metadata);
std::optional<std::map<std::string, std::string>> DecodeMetadata(std::string_view encoded);

}  // namespace annals::relay

#endif  // ANNALS_RELAY_H_
