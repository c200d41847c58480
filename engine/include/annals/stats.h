// annals/stats.h: counters of an open store — what its writer did since
// the store was opened (commit groups, events, bytes, fsyncs, group sizes)
// and what RocksDB holds per column family. For monitoring (`annals serve
// --metrics-port`, `annals stats`). Read annals/event_store.h first.
#ifndef ANNALS_STATS_H_
#define ANNALS_STATS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "annals/event_store.h"
#include "annals/export.h"
#include "annals/types.h"

namespace annals {

// One RocksDB column family of the store (docs/FORMAT.md names them).
struct ANNALS_EXPORT ColumnFamilyStats {
  std::string name;
  // "rocksdb.live-sst-files-size": bytes of the table files in use.
  uint64_t live_sst_bytes = 0;
  // "rocksdb.estimate-num-keys": RocksDB's estimate, memtables included.
  uint64_t estimated_keys = 0;
};

// A snapshot of the store's counters. The writer's counters count since
// this process opened the store and stay 0 for a read-only one (another
// process writes); they are read without a lock, each by itself, so two of
// them may be one group apart.
struct ANNALS_EXPORT StoreStats {
  // The bounds of kGroupSizeBuckets: a group of n requests counts in every
  // bucket whose bound is >= n (cumulative, as Prometheus' `le`).
  static constexpr int kGroupSizeBuckets = 8;
  static constexpr uint64_t kGroupSizeBounds[kGroupSizeBuckets] = {1, 2, 4, 8, 16, 32, 64, 128};

  Position head;
  // Commit groups written (each one WriteBatch, holding one or more
  // requests: appends and lifecycle operations).
  uint64_t commit_groups = 0;
  // Events committed by those groups (audit events of lifecycle operations
  // included; imports are not counted).
  uint64_t events_appended = 0;
  // Bytes of the groups' write batches: events, their index entries and
  // bookkeeping, as handed to RocksDB.
  uint64_t bytes_appended = 0;
  // Groups written with sync (an fsync of the write-ahead log each);
  // 0 when StoreOptions::sync is off.
  uint64_t synced_groups = 0;
  // Requests per committed group: their sum, the largest group, and the
  // cumulative histogram over kGroupSizeBounds (groups larger than the
  // last bound count only in commit_groups, the +Inf bucket).
  uint64_t group_requests_sum = 0;
  uint64_t group_requests_max = 0;
  uint64_t group_size_buckets[kGroupSizeBuckets] = {};
  // Every column family of the store, in a fixed order.
  std::vector<ColumnFamilyStats> column_families;
};

// The counters of `store` as of now. Unavailable once closed.
ANNALS_EXPORT absl::StatusOr<StoreStats> GetStoreStats(EventStore& store);

// The store's identity, a UUID in canonical form: given when the store was
// created (or at the first read-write open of a store made before ids),
// kept by backups and file copies, new for a store filled by import. It
// tells one store's log from another's outside the process (the relay's
// message ids). FailedPrecondition from a read-only handle on a store that
// has none yet; Unavailable once closed.
ANNALS_EXPORT absl::StatusOr<std::string> GetStoreId(EventStore& store);

// The store id of the primary if `store` is a read replica (MakeReplica,
// `annals follow`); nullopt for any other store. Unavailable once closed.
ANNALS_EXPORT absl::StatusOr<std::optional<std::string>> GetReplicaOf(EventStore& store);

}  // namespace annals

#endif  // ANNALS_STATS_H_
