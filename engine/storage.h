// Internal: the open RocksDB instance, its column families and the directory
// lock. Shared (std::shared_ptr) by the store and its open iterators, so the
// files close when the last user is gone.
#ifndef ANNALS_ENGINE_STORAGE_H_
#define ANNALS_ENGINE_STORAGE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "annals/options.h"
#include "rocksdb/db.h"
#include "rocksdb/wal_filter.h"

namespace annals::internal {

// Column families (docs/FORMAT.md). The enum value indexes Storage's handles.
enum class Cf {
  kLog = 0,
  kStreamEvents,
  kStreams,
  kEventIds,
  kMeta,
  // Secondary indexes (format 2): name + 0x00 + position -> empty.
  kByCategory,
  kByType,
  kByCorrelation,
  kByCausation,
  // recorded_at (µs) of the first event of each commit that moved it -> position.
  kByTime,
  kCheckpoints,
  // Format 3: stream id + revision -> StoredSnapshot.
  kSnapshots,
  // Format 4: projection read models (name 0x00 version(u32 BE) key ->
  // value) and projection bookkeeping (checkpoints, parked events,
  // serving versions; see projections/).
  kReadModels,
  kProjections,
  kCount
};
std::string_view CfName(Cf cf);

// Where the write-ahead log stops being readable: the first damaged record.
struct WalDamage {
  std::string file;             // e.g. "000012.log"
  uint64_t offset = 0;          // byte offset of the damaged record in `file`
  uint64_t file_bytes = 0;      // the file's size
  uint64_t records_before = 0;  // intact write batches before it, in every WAL
  uint64_t bytes_after = 0;     // bytes from `offset` to the end of every WAL
  std::string reason;           // RocksDB's words, e.g. "checksum mismatch"
};

class Storage {
 public:
  // Locks `path`, then opens (or, if allowed, creates) the RocksDB instance.
  // `*created` says whether the directory held no store before. The
  // write-ahead log is replayed strictly: a torn last record (a write that
  // was never acknowledged) is dropped, any other damage refuses the open
  // with DataLoss naming the file and offset, and nothing is changed.
  static absl::StatusOr<std::shared_ptr<Storage>> Open(const std::string& path,
                                                       const StoreOptions& options, bool* created);
  // For RepairStore: holding the lock throughout, tries the strict open;
  // if the write-ahead log is damaged, sets `*damage`, calls `backup`
  // (which must copy the files before anything changes), then opens keeping
  // the log's intact prefix (RocksDB point-in-time recovery).
  static absl::StatusOr<std::shared_ptr<Storage>> OpenForRepair(
      const std::string& path, const StoreOptions& options,
      const std::function<absl::Status(const WalDamage&)>& backup,
      std::optional<WalDamage>* damage);
  ~Storage();

  // Re-reads what the writing process has committed (read-only stores).
  absl::Status CatchUp();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf cf) const { return handles_[static_cast<size_t>(cf)]; }
  const std::string& path() const { return path_; }
  bool read_only() const { return !secondary_path_.empty(); }

 private:
  Storage() = default;
  static absl::StatusOr<std::shared_ptr<Storage>> OpenReadOnly(const std::string& path,
                                                               const StoreOptions& options);
  // Takes the directory's lock file (flock).
  absl::Status Lock();
  // Opens RocksDB over the locked directory. With `strict`, damage in the
  // write-ahead log fails the open (and fills `*damage` when known).
  absl::Status OpenDb(const StoreOptions& options, bool strict, std::optional<WalDamage>* damage);
  // Takes ownership of an opened instance and its handles (in Descriptors' order).
  void Adopt(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles);

  // Constant after construction.
  std::string path_;
  int lock_fd_ = -1;
  // Read-only (secondary) instances keep RocksDB's own files here.
  std::string secondary_path_;
  // Referenced by the instance's options; declared before db_, so it outlives it.
  std::unique_ptr<rocksdb::WalFilter> wal_filter_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<size_t>(Cf::kCount)> handles_{};
  rocksdb::ColumnFamilyHandle* default_handle_ = nullptr;
};

// A RocksDB iterator over the keys of one column family in [lower, upper),
// owning the bound keys that rocksdb::ReadOptions only points at: the idiom
// every range scan of the engine shares. An empty `upper` leaves the end
// open; `lower` is a bound too, so SeekForPrev and SeekToLast stay inside.
// `options` carries the snapshot, prefix and cache settings of the caller.
// Thread-compatible; movable (the bounds live on the heap, where the
// iterator's pointers keep pointing).
class BoundedIterator {
 public:
  BoundedIterator(const Storage& storage, Cf cf, std::string lower, std::string upper,
                  rocksdb::ReadOptions options = {});
  BoundedIterator(BoundedIterator&&) = default;
  BoundedIterator& operator=(BoundedIterator&&) = delete;

  rocksdb::Iterator* operator->() const { return it_.get(); }
  rocksdb::Iterator& operator*() const { return *it_; }
  const rocksdb::Slice& lower() const { return bounds_->lower_slice; }
  const rocksdb::Slice& upper() const { return bounds_->upper_slice; }

 private:
  struct Bounds {
    std::string lower, upper;
    rocksdb::Slice lower_slice, upper_slice;
  };
  std::unique_ptr<Bounds> bounds_;  // declared first: outlives it_
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_STORAGE_H_
