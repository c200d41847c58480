// Events and positions between the store and the KurrentDB wire messages
// (docs/SERVER.md, "Mapping"): commit = prepare = the store's position,
// revisions as they are, `created` in 100 ns ticks since the Unix epoch.
#ifndef ANNALS_SERVER_MAPPING_H_
#define ANNALS_SERVER_MAPPING_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/types.h"
#include "kurrent/shared.pb.h"
#include "kurrent/streams.pb.h"

namespace annals::server {

namespace wire = ::event_store::client;
namespace streams = ::event_store::client::streams;

// The metadata key that keeps a proposed message's `custom_metadata` bytes
// verbatim.
inline constexpr char kCustomMetadataKey[] = "custom-metadata";

// nullopt for a malformed or nil id.
std::optional<EventId> IdFromWire(const wire::UUID& id);
void IdToWire(const EventId& id, bool structured, wire::UUID* out);

// The stream name of `id` (UTF-8 bytes, checked by the store).
inline const std::string& StreamName(const wire::StreamIdentifier& id) { return id.stream_name(); }

// A proposed message as the store's EventData. InvalidArgument for a
// malformed id; FailedPrecondition when `type` or `content-type` is missing
// (the caller answers with the protocol's missing-metadata error).
// Takes the message's payload. For AppendReq's and BatchAppendReq's
// ProposedMessage (the same fields).
template <typename Proposed>
absl::StatusOr<EventData> FromProposed(Proposed& message);

// The bytes an append counts against the maximum append size.
template <typename Proposed>
size_t ProposedBytes(const Proposed& message) {
  size_t bytes = message.data().size() + message.custom_metadata().size();
  for (const auto& [key, value] : message.metadata()) bytes += key.size() + value.size();
  return bytes;
}

// A stored event as a RecordedEvent.
void ToRecorded(const EventRecord& record, bool structured_ids,
                streams::ReadResp::ReadEvent::RecordedEvent* out);

// KurrentDB's link event: type `$>`, data `<revision>@<stream>`.
inline constexpr char kLinkType[] = "$>";

// The event `link` points to, read from `store`; nullopt when `link` is not a
// link, is malformed, or its target is gone (deleted, truncated, scavenged):
// KurrentDB then sends the link alone.
std::optional<EventRecord> ResolveLink(EventStore& store, const EventRecord& link);

// 100 ns ticks since the Unix epoch (KurrentDB's `created`).
int64_t Ticks(absl::Time time);

// ExpectedRevision from the oneof every request spells the same way.
template <typename Options>
ExpectedRevision ExpectedFromWire(const Options& options) {
  switch (options.expected_stream_revision_case()) {
    case Options::kRevision:
      return ExpectedRevision::Exact(Revision(options.revision()));
    case Options::kNoStream:
      return ExpectedRevision::NoStream();
    case Options::kStreamExists:
      return ExpectedRevision::StreamExists();
    default:
      return ExpectedRevision::Any();
  }
}

}  // namespace annals::server

#endif  // ANNALS_SERVER_MAPPING_H_
