#include "storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/file_checksum.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/wal_filter.h"
#include "rocksdb/write_batch.h"
#include "status_util.h"

namespace annals::internal {
namespace {

constexpr std::string_view kCfNames[] = {
    "log",         "stream_events", "streams",        "event_ids",    "meta",
    "by_category", "by_type",       "by_correlation", "by_causation", "by_time",
    "checkpoints", "snapshots",     "read_models",    "projections"};
static_assert(std::size(kCfNames) == static_cast<size_t>(Cf::kCount));
constexpr std::string_view kLockFile = "ANNALS.lock";

// The name part of an index key (everything before the 8-byte position).
// Appends insert each name's keys in ascending order, so the memtable can
// insert next to the previous key of the same name instead of searching.
class IndexNamePrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "annals.IndexNamePrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() >= 9; }
};

// Follows the write-ahead log's replay to say where it stopped. RocksDB
// reports a damaged record without its file or offset; the log's layout is
// deterministic (docs/FORMAT.md, "Atomicity and recovery": 32 KiB blocks,
// a 7-byte header per fragment, a block's last < 7 bytes padded), so the
// sizes of the batches replayed give the exact offset where each file's
// intact prefix ends.
class WalScanner final : public rocksdb::WalFilter {
 public:
  static constexpr uint64_t kBlockBytes = 32768;
  static constexpr uint64_t kHeaderBytes = 7;

  struct FileEnd {
    uint64_t offset = 0;
    uint64_t block_offset = 0;
  };

  void ColumnFamilyLogNumberMap(const std::map<uint32_t, uint64_t>& cf_lognumber_map,
                                const std::map<std::string, uint32_t>&) override {
    for (const auto& [cf, log_number] : cf_lognumber_map) {
      min_log_number_ = std::min(min_log_number_, log_number);
    }
  }

  WalProcessingOption LogRecordFound(unsigned long long /*log_number*/,
                                     const std::string& log_file_name,
                                     const rocksdb::WriteBatch& batch,
                                     rocksdb::WriteBatch* /*new_batch*/,
                                     bool* /*batch_changed*/) override {
    FileEnd& end = ends_[std::filesystem::path(log_file_name).filename().string()];
    uint64_t left = batch.GetDataSize();
    do {  // one record per fragment, as RocksDB's log writer lays them out
      if (kBlockBytes - end.block_offset < kHeaderBytes) {
        end.offset += kBlockBytes - end.block_offset;
        end.block_offset = 0;
      }
      const uint64_t fragment = std::min(left, kBlockBytes - end.block_offset - kHeaderBytes);
      end.offset += kHeaderBytes + fragment;
      end.block_offset += kHeaderBytes + fragment;
      left -= fragment;
    } while (left > 0);
    ++records_;
    return WalProcessingOption::kContinueProcessing;
  }

  const char* Name() const override { return "annals.WalScanner"; }

  // The first write-ahead log file of `directory` that replay did not read
  // to its end; nullopt if every file was read whole.
  std::optional<WalDamage> FindDamage(const std::string& directory,
                                      const std::string& reason) const {
    std::vector<std::pair<uint64_t, std::filesystem::path>> logs;
    std::error_code ec;
    for (auto entry = std::filesystem::directory_iterator(directory, ec);
         !ec && entry != std::filesystem::directory_iterator(); entry.increment(ec)) {
      const std::string name = entry->path().filename().string();
      uint64_t number = 0;
      if (!name.ends_with(".log") || !absl::SimpleAtoi(name.substr(0, name.size() - 4), &number))
        continue;
      if (number < min_log_number_) continue;  // obsolete: replay skips it
      logs.emplace_back(number, entry->path());
    }
    std::sort(logs.begin(), logs.end());
    std::optional<WalDamage> damage;
    for (const auto& [number, path] : logs) {
      const uint64_t size = std::filesystem::file_size(path, ec);
      if (ec) continue;
      if (damage) {
        damage->bytes_after += size;
        continue;
      }
      const std::string name = path.filename().string();
      auto it = ends_.find(name);
      uint64_t end = 0;
      if (it != ends_.end()) {
        end = it->second.offset;
        // A block's last < 7 bytes are padding: the next record starts after.
        if (kBlockBytes - it->second.block_offset < kHeaderBytes)
          end += kBlockBytes - it->second.block_offset;
      }
      if (end >= size) continue;
      damage = WalDamage{.file = name,
                         .offset = end,
                         .file_bytes = size,
                         .records_before = records_,
                         .bytes_after = size - end,
                         .reason = reason};
    }
    return damage;
  }

 private:
  std::map<std::string, FileEnd> ends_;
  uint64_t min_log_number_ = std::numeric_limits<uint64_t>::max();
  uint64_t records_ = 0;
};

std::string DamageMessage(const std::string& path, const WalDamage& damage) {
  return absl::StrCat(
      "store '", path, "': the write-ahead log ", damage.file, " is damaged at byte ",
      damage.offset, " of ", damage.file_bytes, " (", damage.reason, "); the ",
      damage.records_before, " commits before it are intact, the ", damage.bytes_after,
      " bytes from there on cannot be read. Opening would silently drop acknowledged events, so "
      "nothing was changed; `annals repair` keeps the intact prefix (after backing up the damaged "
      "files) and reports what survives");
}

// The column families of event bodies (`log`, `stream_events`).
void SetEventBodyOptions(Cf cf, const StoreOptions& options, rocksdb::ColumnFamilyOptions& cfo,
                         rocksdb::BlockBasedTableOptions& table) {
  // Event bodies: large memtables, LZ4 below L0 where data settles.
  cfo.write_buffer_size = options.tuning.write_buffer_bytes;
  cfo.compression = rocksdb::kLZ4Compression;
  // Reads merge every L0 file: keep few of them (RocksDB's default 4).
  table.block_size = 16 << 10;
  cfo.max_bytes_for_level_base = 512 << 20;
  cfo.target_file_size_base = 64 << 20;
  if (cf == Cf::kStreamEvents) {
    // Reads seek inside one stream: a prefix bloom on the stream id
    // skips files that hold nothing of it.
    cfo.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
  }
  // Keys arrive in ascending order per stream (stream_events) and
  // overall (log): memtable inserts start from the previous key of the
  // same prefix instead of searching the skiplist.
  cfo.memtable_insert_with_hint_prefix_extractor.reset(
      rocksdb::NewFixedPrefixTransform(cf == Cf::kStreamEvents ? 8 : 0));
}

rocksdb::ColumnFamilyOptions CfOptions(Cf cf, const StoreOptions& options,
                                       const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cfo;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.format_version = 5;
  switch (cf) {
    case Cf::kLog:
    case Cf::kStreamEvents:
      SetEventBodyOptions(cf, options, cfo, table);
      break;
    case Cf::kStreams:
    case Cf::kEventIds:
      // Point lookups that mostly miss: bloom filters answer them in memory.
      cfo.write_buffer_size = 16 << 20;
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      table.cache_index_and_filter_blocks = true;
      cfo.compression = rocksdb::kLZ4Compression;
      break;
    case Cf::kByCategory:
    case Cf::kByType:
    case Cf::kByCorrelation:
    case Cf::kByCausation:
    case Cf::kByTime:
      // Keys only, read as ranges in position order: small memtables, LZ4
      // (names repeat), no bloom filters (no point lookups).
      cfo.write_buffer_size = 16 << 20;
      cfo.compression = rocksdb::kLZ4Compression;
      table.block_size = 16 << 10;
      if (cf != Cf::kByTime) {
        cfo.memtable_insert_with_hint_prefix_extractor = std::make_shared<IndexNamePrefix>();
      }
      break;
    case Cf::kSnapshots:
      cfo.write_buffer_size = 8 << 20;
      cfo.compression = rocksdb::kLZ4Compression;
      cfo.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
      break;
    case Cf::kReadModels:
      cfo.write_buffer_size = 32 << 20;
      cfo.compression = rocksdb::kLZ4Compression;
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      break;
    case Cf::kMeta:
    case Cf::kCheckpoints:
    case Cf::kProjections:
    case Cf::kCount:
      cfo.write_buffer_size = 1 << 20;
      break;
  }
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cfo;
}

}  // namespace

std::string_view CfName(Cf cf) { return kCfNames[static_cast<size_t>(cf)]; }

namespace {

// Every column family the store has, with one block cache shared by all:
// the same list for writable and read-only (secondary) opens.
std::vector<rocksdb::ColumnFamilyDescriptor> Descriptors(const StoreOptions& options) {
  auto cache = rocksdb::NewLRUCache(options.tuning.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    descriptors.emplace_back(std::string(kCfNames[i]),
                             CfOptions(static_cast<Cf>(i), options, cache));
  }
  return descriptors;
}

}  // namespace

void Storage::Adopt(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  db_.reset(db);
  default_handle_ = handles[0];
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) handles_[i] = handles[i + 1];
}

absl::StatusOr<std::shared_ptr<Storage>> Storage::OpenReadOnly(const std::string& path,
                                                               const StoreOptions& options) {
  std::shared_ptr<Storage> storage(new Storage());
  storage->path_ = path;
  std::string pattern =
      (std::filesystem::temp_directory_path() / "annals-secondary-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a directory for a read-only open: ", std::strerror(errno)));
  }
  storage->secondary_path_ = pattern;
  rocksdb::DBOptions dbo;
  dbo.max_open_files = -1;  // required by secondary instances
  dbo.file_checksum_gen_factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = Descriptors(options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(dbo, path, storage->secondary_path_, descriptors,
                                                   &handles, &raw);
  if (!s.ok()) {
    if (s.IsInvalidArgument()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open '", path, "' read-only: ", s.ToString(),
                       " (an older format: open it for writing once to upgrade it)"));
    }
    if (s.IsCorruption()) {
      // Secondary instances replay the log without a WalFilter, so the
      // damage cannot be located here.
      return absl::DataLossError(absl::StrCat("open '", path, "' read-only: ", s.ToString(),
                                              "; the store's files are damaged. With no process "
                                              "writing, `annals repair` locates the damage "
                                              "and keeps what is intact"));
    }
    return FromRocksDb(s, absl::StrCat("open '", path, "' read-only"));
  }
  storage->Adopt(raw, handles);
  return storage;
}

namespace {

// Creates the directory if allowed; `*created` says whether it held no store.
absl::Status PrepareDirectory(const std::string& path, const StoreOptions& options, bool* created) {
  std::error_code ec;
  bool exists = std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec);
  *created = !exists;
  if (exists) return absl::OkStatus();
  if (!options.create_if_missing) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no store at '", path, "' (set StoreOptions::create_if_missing to create one)"));
  }
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create store directory '", path, "': ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Storage::Lock() {
  std::string lock_path = (std::filesystem::path(path_) / kLockFile).string();
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open lock file '", lock_path, "': ", std::strerror(errno)));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("store '", path_, "' is already open in another process or handle (",
                     std::string(kLockFile), " is locked)"));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(lock_fd_, 0) == 0) {
    // The pid is for people reading the file; a short write changes nothing.
    [[maybe_unused]] ssize_t written = ::write(lock_fd_, pid.data(), pid.size());
  }
  return absl::OkStatus();
}

absl::Status Storage::OpenDb(const StoreOptions& options, bool strict,
                             std::optional<WalDamage>* damage) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = options.tuning.background_jobs;
  dbo.bytes_per_sync = 1 << 20;
  dbo.keep_log_file_num = 4;
  // A whole-file checksum for every table file written, recorded in the
  // MANIFEST: Verify checks each file end to end, not only its blocks.
  dbo.file_checksum_gen_factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  // Only a torn last record may be dropped: with sync it was never
  // acknowledged. RocksDB's default (point-in-time) would also cut the log
  // at a damaged record in the middle, silently losing what follows.
  dbo.wal_recovery_mode = strict ? rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords
                                 : rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  auto owned_scanner = std::make_unique<WalScanner>();
  WalScanner& scanner = *owned_scanner;
  dbo.wal_filter = &scanner;
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = Descriptors(options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, path_, descriptors, &handles, &raw);
  if (!s.ok()) {
    if (s.IsInvalidArgument()) {
      // Typically: the directory holds a RocksDB with other column families.
      return absl::FailedPreconditionError(
          absl::StrCat("'", path_, "' is not an annals store: ", s.ToString()));
    }
    if (s.IsCorruption()) {
      std::optional<WalDamage> found =
          scanner.FindDamage(path_, s.getState() ? s.getState() : "damaged");
      if (found) {
        if (damage != nullptr) *damage = found;
        return absl::DataLossError(DamageMessage(path_, *found));
      }
    }
    return FromRocksDb(s, absl::StrCat("open '", path_, "'"));
  }
  // RocksDB keeps the filter's pointer: it lives as long as the instance.
  wal_filter_ = std::move(owned_scanner);
  Adopt(raw, handles);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Storage>> Storage::Open(const std::string& path,
                                                       const StoreOptions& options, bool* created) {
  if (options.read_only) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec)) {
      return absl::FailedPreconditionError(absl::StrCat("no store at '", path, "'"));
    }
    *created = false;
    return OpenReadOnly(path, options);
  }
  ANNALS_RETURN_IF_ERROR(PrepareDirectory(path, options, created));
  std::shared_ptr<Storage> storage(new Storage());
  storage->path_ = path;
  ANNALS_RETURN_IF_ERROR(storage->Lock());
  ANNALS_RETURN_IF_ERROR(storage->OpenDb(options, /*strict=*/true, nullptr));
  return storage;
}

absl::StatusOr<std::shared_ptr<Storage>> Storage::OpenForRepair(
    const std::string& path, const StoreOptions& options,
    const std::function<absl::Status(const WalDamage&)>& backup, std::optional<WalDamage>* damage) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec)) {
    return absl::NotFoundError(absl::StrCat("no store at '", path, "'"));
  }
  std::shared_ptr<Storage> storage(new Storage());
  storage->path_ = path;
  ANNALS_RETURN_IF_ERROR(storage->Lock());
  damage->reset();
  absl::Status strict = storage->OpenDb(options, /*strict=*/true, damage);
  if (strict.ok()) return storage;
  if (!damage->has_value()) return strict;
  ANNALS_RETURN_IF_ERROR(backup(**damage));
  ANNALS_RETURN_IF_ERROR(storage->OpenDb(options, /*strict=*/false, nullptr));
  return storage;
}

absl::Status Storage::CatchUp() {
  if (!read_only()) return absl::OkStatus();
  return FromRocksDb(db_->TryCatchUpWithPrimary(), "catch up with the writing process");
}

Storage::~Storage() {
  if (db_ != nullptr) {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      if (handle != nullptr) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    if (default_handle_ != nullptr) {
      db_->DestroyColumnFamilyHandle(default_handle_).PermitUncheckedError();
    }
    // Close errors cannot be reported from a destructor; the WAL makes every
    // acknowledged write recoverable regardless.
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  if (lock_fd_ >= 0) {
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
  }
  if (!secondary_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(secondary_path_, ec);
  }
}

BoundedIterator::BoundedIterator(const Storage& storage, Cf cf, std::string lower,
                                 std::string upper, rocksdb::ReadOptions options)
    : bounds_(std::make_unique<Bounds>()) {
  bounds_->lower = std::move(lower);
  bounds_->upper = std::move(upper);
  bounds_->lower_slice = rocksdb::Slice(bounds_->lower);
  bounds_->upper_slice = rocksdb::Slice(bounds_->upper);
  if (!bounds_->lower.empty()) options.iterate_lower_bound = &bounds_->lower_slice;
  if (!bounds_->upper.empty()) options.iterate_upper_bound = &bounds_->upper_slice;
  it_.reset(storage.db()->NewIterator(options, storage.cf(cf)));
}

}  // namespace annals::internal
