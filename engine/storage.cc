#include "storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "status_util.h"

namespace annals::internal {
namespace {

constexpr std::string_view kCfNames[] = {"log",         "stream_events",  "streams",
                                         "event_ids",   "meta",           "by_category",
                                         "by_type",     "by_correlation", "by_causation",
                                         "by_time",     "checkpoints",    "snapshots",
                                         "read_models", "projections"};
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

rocksdb::ColumnFamilyOptions CfOptions(Cf cf, const StoreOptions& options,
                                       const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cfo;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.format_version = 5;
  switch (cf) {
    case Cf::kLog:
    case Cf::kStreamEvents:
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

absl::StatusOr<std::shared_ptr<Storage>> Storage::OpenReadOnly(const std::string& path,
                                                               const StoreOptions& options) {
  std::shared_ptr<Storage> storage(new Storage());
  storage->path_ = path;
  std::string pattern = (std::filesystem::temp_directory_path() / "annals-secondary-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a directory for a read-only open: ", std::strerror(errno)));
  }
  storage->secondary_path_ = pattern;
  rocksdb::DBOptions dbo;
  dbo.max_open_files = -1;  // required by secondary instances
  auto cache = rocksdb::NewLRUCache(options.tuning.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    descriptors.emplace_back(std::string(kCfNames[i]), CfOptions(static_cast<Cf>(i), options, cache));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::OpenAsSecondary(dbo, path, storage->secondary_path_, descriptors, &handles, &raw);
  if (!s.ok()) {
    if (s.IsInvalidArgument()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot open '", path, "' read-only: ", s.ToString(),
          " (an older format: open it for writing once to upgrade it)"));
    }
    return FromRocksDb(s, absl::StrCat("open '", path, "' read-only"));
  }
  storage->db_.reset(raw);
  storage->default_handle_ = handles[0];
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) storage->handles_[i] = handles[i + 1];
  return storage;
}

absl::StatusOr<std::shared_ptr<Storage>> Storage::Open(const std::string& path,
                                                       const StoreOptions& options,
                                                       bool* created) {
  std::error_code ec;
  bool exists = std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec);
  if (options.read_only) {
    if (!exists) return absl::FailedPreconditionError(absl::StrCat("no store at '", path, "'"));
    *created = false;
    return OpenReadOnly(path, options);
  }
  if (!exists) {
    if (!options.create_if_missing) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no store at '", path, "' (set StoreOptions::create_if_missing to create one)"));
    }
    std::filesystem::create_directories(path, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create store directory '", path, "': ", ec.message()));
    }
  }
  *created = !exists;

  std::shared_ptr<Storage> storage(new Storage());
  storage->path_ = path;
  std::string lock_path = (std::filesystem::path(path) / kLockFile).string();
  storage->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (storage->lock_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open lock file '", lock_path, "': ", std::strerror(errno)));
  }
  if (::flock(storage->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store '", path, "' is already open in another process or handle (", std::string(kLockFile), " is locked)"));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(storage->lock_fd_, 0) == 0) {
    // The pid is for people reading the file; a short write changes nothing.
    [[maybe_unused]] ssize_t written = ::write(storage->lock_fd_, pid.data(), pid.size());
  }

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = options.tuning.background_jobs;
  dbo.bytes_per_sync = 1 << 20;
  dbo.keep_log_file_num = 4;
  auto cache = rocksdb::NewLRUCache(options.tuning.block_cache_bytes);

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    descriptors.emplace_back(std::string(kCfNames[i]), CfOptions(static_cast<Cf>(i), options, cache));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, path, descriptors, &handles, &raw);
  if (!s.ok()) {
    if (s.IsInvalidArgument()) {
      // Typically: the directory holds a RocksDB with other column families.
      return absl::FailedPreconditionError(
          absl::StrCat("'", path, "' is not an annals store: ", s.ToString()));
    }
    return FromRocksDb(s, absl::StrCat("open '", path, "'"));
  }
  storage->db_.reset(raw);
  storage->default_handle_ = handles[0];
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) storage->handles_[i] = handles[i + 1];
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

}  // namespace annals::internal
