// annals/streams.h: what the store knows about one stream (StreamInfo), its
// retention settings and custom metadata (StreamMetadata), and the lifecycle
// operations' options and results (delete, tombstone, scavenge). Read
// annals/event_store.h first.
#ifndef ANNALS_STREAMS_H_
#define ANNALS_STREAMS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include "annals/export.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/types.h"

namespace annals {

// The largest StreamMetadata::custom_json accepted, in bytes.
inline constexpr size_t kMaxCustomMetadataBytes = 64 << 10;

// Retention of one stream, applied when the stream is read (KurrentDB's
// $maxCount, $maxAge, $tb). An event is hidden when any limit hides it;
// Scavenge() later removes hidden events from disk. Plain value.
struct ANNALS_EXPORT StreamMetadata {
  // Keep only the newest `max_count` events (>= 1).
  std::optional<uint64_t> max_count;
  // Keep only events recorded within this long before the read (>= 1 s).
  std::optional<absl::Duration> max_age;
  // Hide every event with a lower revision.
  std::optional<Revision> truncate_before;
  // The stream's other metadata, kept verbatim for a server that speaks a
  // richer protocol (KurrentDB's $cacheControl, $acl, user keys): the text
  // of one JSON object, at most kMaxCustomMetadataBytes; empty for none.
  // annals applies none of it (retention keys in it are not applied).
  std::string custom_json;

  friend bool operator==(const StreamMetadata&, const StreamMetadata&) = default;
};

enum class StreamState {
  kActive,
  // Soft-deleted: reads answer NotFound until the next append recreates the
  // stream, whose revisions continue after the old last one.
  kDeleted,
  // Hard-deleted: reads and appends answer FailedPrecondition forever.
  kTombstoned,
};

// What the store knows about one stream.
struct ANNALS_EXPORT StreamInfo {
  std::string stream;
  // The last revision and position ever written, deleted or not.
  Revision last_revision;
  Position last_position;
  absl::Time created_at;
  absl::Time updated_at;
  StreamState state = StreamState::kActive;
  StreamMetadata metadata;

  friend bool operator==(const StreamInfo&, const StreamInfo&) = default;
};

class EventStore;
// The metadata of `stream` (empty if never set), also of a stream that has
// no events yet. InvalidArgument for a bad name.
ANNALS_EXPORT absl::StatusOr<StreamMetadata> GetStreamMetadata(EventStore& store,
                                                               std::string_view stream);

// Who changes a stream's lifecycle, and on what condition. Each operation is
// itself recorded as an event of the stream's audit stream `$$<stream>`
// (readable with ReadStream), carrying `actor` and `reason` as metadata.
struct ANNALS_EXPORT LifecycleOptions {
  // Checked against the stream like an append's expected revision.
  ExpectedRevision expected = ExpectedRevision::Any();
  // Also checked, when set, against the audit stream `$$<stream>` (which
  // every lifecycle operation of the stream appends to): KurrentDB checks a
  // metadata write against its metastream, and a server mapping one onto
  // the other checks here. A mismatch is Aborted like `expected`'s, its
  // conflict naming `$$<stream>`. Default: unset.
  std::optional<ExpectedRevision> expected_audit;
  // The id of the event recording the change in `$$<stream>` (default: a
  // new one). A change whose id that stream already holds is a retry of it:
  // it writes nothing and returns the original's position, whatever the
  // expected revisions say now (as an append retried with its event ids).
  std::optional<EventId> event_id;
  std::string actor;
  std::string reason;
};

// How far a long maintenance call (Verify, Scavenge) has come: in `step`
// (what it walks, named in the call's options), `done` units out of `total`
// (0: not known in advance). Called on the calling thread now and then,
// never per event, and once more when a step ends, with `done` final. It
// must not call into the store; it may be slow only at the call's expense.
using ProgressCallback = std::function<void(std::string_view step, uint64_t done, uint64_t total)>;

// How Scavenge() goes about it.
struct ANNALS_EXPORT ScavengeOptions {
  // Steps: "streams" (streams examined out of those with a delete,
  // tombstone or retention setting; after each), then "compact" (column
  // families compacted out of those Scavenge compacts; after each, only if
  // anything was removed). Default: none.
  ProgressCallback progress;
};

// What Scavenge() removed.
struct ANNALS_EXPORT ScavengeResult {
  uint64_t streams_scavenged = 0;
  uint64_t events_removed = 0;
  uint64_t index_entries_removed = 0;
  // Live SST bytes of the store before and after (after compaction).
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
};

// Which streams ListStreams returns: names starting with `prefix`, after
// `after` (for paging), at most `limit`, in name order.
struct ANNALS_EXPORT ListStreamsOptions {
  std::string prefix;
  std::string after;
  size_t limit = 1000;
};

// The newest event of the log and its chain hash. The hash commits to every
// event before it: a copy kept outside the store (published, signed, sent
// to an auditor) later proves that none of them changed
// (VerifyOptions::expect_head, `annals verify --expect-head`;
// ReadChainHead in annals/maintenance.h).
struct ANNALS_EXPORT ChainHead {
  Position position;  // 0 for an empty log
  std::string hash;   // 32 bytes (SHA-256); zeros for an empty log

  // "POSITION:HEX", the form `annals verify --expect-head` takes.
  std::string ToString() const;
  // Parses ToString's form. nullopt if malformed.
  static std::optional<ChainHead> Parse(std::string_view text);
  friend bool operator==(const ChainHead&, const ChainHead&) = default;
};

// What Verify() checks beyond its defaults.
struct ANNALS_EXPORT VerifyOptions {
  // A chain head recorded earlier (ChainHead::ToString, e.g. published
  // elsewhere): the event at its position must still be in the log with that
  // chain hash, which proves no event at or before it changed. Default: none.
  std::optional<ChainHead> expect_head;
  // Steps: "log" (positions checked out of the head; every 1,024 events),
  // then "entries" (entries of the other column families checked, total
  // unknown; every 1,024 entries). The table files' checksums, checked
  // first in one call, report nothing. Default: none.
  ProgressCallback progress;
};

// What Verify() found. Corruption is reported here, not as an error status.
struct ANNALS_EXPORT VerifyReport {
  uint64_t events_checked = 0;
  uint64_t index_entries_checked = 0;
  // Positions missing from the log (removed by Scavenge, or lost in a
  // repair). The chain is checked across a gap through the digests Scavenge
  // keeps of the events it removes; gaps whose events an older annals
  // removed without keeping them are "unbridged": the chain restarts after
  // each, unverifiable at its first event.
  uint64_t gaps = 0;
  uint64_t unbridged_gaps = 0;
  // Positions a repair could not recover (RepairStore): never used again.
  uint64_t lost = 0;
  // The last event verified and its chain hash: keep it to prove later that
  // nothing up to it changed (VerifyOptions::expect_head).
  ChainHead head;
  // Set when VerifyOptions::expect_head was given and it matched.
  bool expected_head_matched = false;
  // What the check covered: every block of every table file of every column
  // family (RocksDB block and whole-file checksums), and entries read and
  // checked per column family (values decoded, references followed).
  uint64_t files_checked = 0;
  uint64_t file_bytes_checked = 0;
  std::map<std::string, uint64_t> entries_checked;
  // The first problem: where (if it has a position) and what.
  std::optional<Position> first_bad_position;
  std::string problem;

  bool ok() const { return !first_bad_position && problem.empty(); }
};

}  // namespace annals

#endif  // ANNALS_STREAMS_H_
