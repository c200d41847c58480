// annals/maintenance.h: operations on a store beside the everyday API —
// checking its integrity, backing it up, restoring an export, removing what
// retention hides, repairing a damaged write-ahead log, anchoring the hash
// chain. Free functions, as RocksDB's utilities are. Read
// annals/event_store.h first.
#ifndef ANNALS_MAINTENANCE_H_
#define ANNALS_MAINTENANCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "annals/export.h"

#include "absl/status/statusor.h"
#include "annals/event_store.h"
#include "annals/streams.h"
#include "annals/types.h"

namespace annals {

// Checks the store's integrity up to the head: every table file's block
// and file checksums in every column family, the hash chain over the log
// (across Scavenge's gaps), each event's stream copy and index entries,
// that every index, stream-copy and event-id entry points to a matching log
// event, and that every other stored value decodes; with
// options.expect_head, also that the chain still passes through it. Returns
// the report (report.ok() if all is well, with what it covered and the
// chain head); an error status only if the check could not run.
ANNALS_EXPORT absl::StatusOr<VerifyReport> Verify(EventStore& store,
                                                  const VerifyOptions& options = {});

// Writes a consistent copy of the store, as of now, into the new directory
// `directory` (a RocksDB checkpoint: hard links where the file system
// allows), while appends go on; the copy opens as a store of its own. A
// read-only store (the `annals` tool beside a running application) copies
// what it has caught up to, key by key, instead. FailedPrecondition if
// `directory` exists.
ANNALS_EXPORT absl::Status Backup(EventStore& store, std::string_view directory);

// Restores events exactly as another store recorded them (`annals import`):
// ids, revisions, positions, recorded_at, metadata and payload bytes are
// kept, and the lifecycle events of `$$<stream>` audit streams take effect
// again, so a store imported from an export reads as the exported one. The
// hash chain is computed anew over the imported events. `events` must come
// in increasing position order after the head, each passing
// ValidateImportEvent, each stream's revisions increasing, recorded_at
// non-decreasing. All or nothing, durable when it returns. InvalidArgument
// for events that break these rules (nothing written); FailedPrecondition
// if read-only, if inline projections are installed, or for a tombstoned
// stream.
ANNALS_EXPORT absl::Status Import(EventStore& store, std::vector<EventRecord> events);

// Makes an empty store a read replica of the store whose id is `primary_id`
// (GetStoreId of the primary), as `annals follow` does before its first
// Import: from then on Import alone writes its log, so its positions,
// revisions and ids stay the primary's; Append, AppendMulti, deletes,
// tombstones, metadata and schema registration are refused with
// FailedPrecondition naming the primary, at every later open too. Reads,
// subscriptions, projections and Scavenge work as on any store. OK if it
// is already a replica of that primary; FailedPrecondition if it has
// events of its own, is a replica of another store, or is read-only;
// InvalidArgument for an id that is not a UUID or is the store's own.
// Call it on a store nothing else writes to.
ANNALS_EXPORT absl::Status MakeReplica(EventStore& store, std::string_view primary_id);

// Physically removes the events that deletes, tombstones and retention
// hide, with their index entries (keeping each one's digest, so the chain
// stays checkable), then compacts so the disk space is returned. Appends
// and reads go on meanwhile. FailedPrecondition if read-only.
ANNALS_EXPORT absl::StatusOr<ScavengeResult> Scavenge(EventStore& store,
                                                      const ScavengeOptions& options = {});

// The chain head of `store` as of its head(). Unavailable once closed.
ANNALS_EXPORT absl::StatusOr<ChainHead> ReadChainHead(EventStore& store);

// The largest position or revision an imported event may have: 2^62, which
// leaves appends after an import room to the end of the signed 64-bit range
// KurrentDB clients use.
inline constexpr uint64_t kMaxImportedPosition = uint64_t{1} << 62;

// Checks one event of an import by itself, as Import does before
// anything is written: its fields as Append checks them (annals/event.h),
// its stream name (a user stream, the `$$<stream>` audit stream of one, or
// `$schemas`), a non-nil event id, 1 <= position <= kMaxImportedPosition,
// revision < position (each earlier revision took a position), and the
// data of a lifecycle audit event (docs/FORMAT.md). InvalidArgument naming
// the problem. For tools that check a whole file before importing it.
ANNALS_EXPORT absl::Status ValidateImportEvent(const EventRecord& event,
                                               const StoreOptions& options = {});

// Checks the events of an import in order — each by itself
// (ValidateImportEvent) and against those before it: positions increasing,
// recorded_at not going backwards, each stream's revisions increasing past
// the head its lifecycle events restore, nothing after a stream's tombstone
// — so a whole file can be checked before any of it is written (`annals
// import`). What it cannot see is the target store's own state. Keeps a
// little state per stream. Thread-compatible.
class ANNALS_EXPORT ImportChecker {
 public:
  explicit ImportChecker(const StoreOptions& options = {});
  ~ImportChecker();
  ImportChecker(const ImportChecker&) = delete;
  ImportChecker& operator=(const ImportChecker&) = delete;

  // InvalidArgument naming the problem; the checker is then unchanged.
  absl::Status Check(const EventRecord& event);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// How RepairStore goes about it.
struct ANNALS_EXPORT RepairOptions {
  // Where the store's files are copied before anything changes (SST files
  // hard-linked, everything else copied and synced). Must not exist.
  // Default: "<store>.damaged-<UTC time>" beside the store.
  std::string backup_directory;
};

// What RepairStore found and did.
struct ANNALS_EXPORT RepairReport {
  // False: the store opened without loss and nothing was changed.
  bool repaired = false;
  // The damaged write-ahead log file, the byte offset of its first damaged
  // record, and the bytes from there on that could not be recovered.
  std::string damaged_file;
  uint64_t damaged_offset = 0;
  uint64_t bytes_dropped = 0;
  std::string backup_directory;
  // Positions the damaged log shows were written after the intact prefix
  // (acknowledged, perhaps seen by subscribers): never given to new events
  // (Verify reports them as lost). Zero when none.
  Position lost_first;
  Position lost_last;
  // What the store holds now: events in the log, its head, its chain head,
  // and Verify's report over it.
  uint64_t events = 0;
  Position head;
  ChainHead chain_head;
  VerifyReport verify;
};

// Opens the store at `path` for repair. If its write-ahead log is damaged
// in the middle (EventStore::Open refuses such a store with DataLoss rather
// than silently dropping acknowledged events), copies the store's files to
// options.backup_directory, then keeps the log's intact prefix: every
// commit before the damaged record, none after it. Returns what survives.
// A store that opens cleanly is left as it is (report.repaired false).
// NotFound if there is no store; FailedPrecondition if it is open elsewhere
// or the backup directory exists; DataLoss for damage repair cannot undo
// (e.g. a column family already holds data from after the damaged record).
// REQUIRES: no process has the store open.
ANNALS_EXPORT absl::StatusOr<RepairReport> RepairStore(std::string_view path,
                                                       const RepairOptions& options = {});

}  // namespace annals

#endif  // ANNALS_MAINTENANCE_H_
