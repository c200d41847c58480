// annals/options.h: how to open a store (StoreOptions) and how to read it
// (ReadStreamOptions, ReadAllOptions). Read annals/event_store.h first.
#ifndef ANNALS_OPTIONS_H_
#define ANNALS_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>
#include "annals/export.h"

#include "absl/time/time.h"
#include "annals/filter.h"
#include "annals/types.h"

namespace annals {

// How to open a store. Plain aggregate, validated by EventStore::Open
// (InvalidArgument names the bad field). Thread-compatible.
struct ANNALS_EXPORT StoreOptions {
  // Create the store if the directory holds none. Default: false.
  bool create_if_missing = false;
  // Open for reading only, beside a process that may have the store open
  // for writing (no lock is taken; RocksDB's secondary mode). The store
  // shows the data as of Open, and as of each Refresh() after it; every
  // write answers FailedPrecondition. A store of an older format must be
  // opened for writing once first (to upgrade it). Default: false.
  bool read_only = false;
  // Wait for fsync before acknowledging an append (durable). With false an
  // acknowledged append survives a process crash but not a power loss; after
  // one, the write-ahead log may end in damaged records, which Open refuses
  // (RepairStore keeps the intact prefix). Default: true.
  bool sync = true;
  // Largest event accepted (type + data + content type + metadata + ids), in
  // bytes. Default: 4 MiB.
  size_t max_event_bytes = 4 << 20;
  // Largest append accepted (all its events), in bytes. Default: 64 MiB.
  size_t max_append_bytes = 64 << 20;
  // Longest stream name accepted, in bytes. Default: 512.
  size_t max_stream_name_bytes = 512;
  // Longest event type, content type, correlation id, causation id or
  // metadata key accepted, in bytes. Default: 1024.
  size_t max_field_bytes = 1024;
  // Stream names starting with '$' that appends (and lifecycle calls) accept
  // like user streams, for a server's own system events (KurrentDB's $all
  // holds them too: `$settings`). Exact names; a `$$` name (an audit
  // stream), `$schemas` and `$all` are refused. EventFilter's
  // exclude_system_events hides their events. Default: none.
  std::vector<std::string> system_streams;

  // Rarely changed knobs (RocksDB's "advanced options").
  struct Tuning {
    // Most requests committed as one WriteBatch (group commit). Default: 1024.
    size_t max_group_requests = 1024;
    // Memtable size of the event column families, in bytes. Default: 64 MiB.
    size_t write_buffer_bytes = 64 << 20;
    // Block cache shared by all column families, in bytes. Default: 128 MiB.
    size_t block_cache_bytes = 128 << 20;
    // Background flush/compaction threads. Default: 2.
    int background_jobs = 2;
  } tuning;

  // Source of recorded_at; tests inject a fake clock. Must be thread-safe.
  // Default: absl::Now.
  std::function<absl::Time()> clock;
};

enum class Direction { kForward, kBackward };

// The secondary indexes EventStore::ReadIndex reads.
enum class Index {
  kCategory,  // stream names `category-...`
  kEventType,
  kCorrelation,  // EventData::correlation_id
  kCausation,    // EventData::causation_id
};

// How to read one stream. Thread-compatible.
struct ANNALS_EXPORT ReadStreamOptions {
  // Default: kForward.
  Direction direction = Direction::kForward;
  // First revision returned. Forward: events at or after it; backward: at or
  // before it. Default: the stream's first (forward) or last (backward) event.
  std::optional<Revision> from;
  // Most events returned. Default: unbounded.
  uint64_t max_count = std::numeric_limits<uint64_t>::max();
};

// How to read the global log ($all), or the part of it an index selects
// (ReadCategory, ReadEventType, ReadCorrelation, ReadCausation). Events come
// in position order (descending for backward reads). Thread-compatible.
struct ANNALS_EXPORT ReadAllOptions {
  // Default: kForward.
  Direction direction = Direction::kForward;
  // First position considered. Forward: at or after it; backward: at or
  // before it. Default: position 1 (forward) or the head (backward).
  std::optional<Position> from;
  // Most events returned. Default: unbounded.
  uint64_t max_count = std::numeric_limits<uint64_t>::max();
  // Only events this filter selects. Default: all.
  EventFilter filter;
  // Only events recorded in [since, until): `since` finds the first event
  // recorded at or after it with one index seek. Default: no bound.
  std::optional<absl::Time> since;
  std::optional<absl::Time> until;
};

}  // namespace annals

#endif  // ANNALS_OPTIONS_H_
