// RepairStore and the chain head (annals/maintenance.h).
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/maintenance.h"
#include "chain_store.h"
#include "event_store_impl.h"
#include "hash_chain.h"
#include "internal_access.h"
#include "key_codec.h"
#include "status_util.h"

namespace annals {

absl::StatusOr<ChainHead> ReadChainHead(EventStore& store) {
  internal::EngineHandles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, internal::EngineHandlesOf(store));
  const Position head = store.head();
  internal::Storage& storage = *handles.storage;
  internal::ChainHash hash = internal::kGenesisChainHash;
  Position last(0);
  // The newest event at or below the head, then the events Scavenge removed
  // after it (their digests carry the chain to the head).
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog)));
  it->SeekForPrev(internal::LogKey(head));
  if (it->Valid()) {
    const std::optional<Position> position = internal::ParseLogKey(it->key().ToStringView());
    const std::optional<internal::SplitValue> split =
        internal::SplitStoredValue(it->value().ToStringView());
    if (!position || !split) return absl::DataLossError("the log's last event is malformed");
    last = *position;
    hash = split->stored_hash;
  } else {
    ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "read the chain head"));
  }
  internal::Carried carried;
  ANNALS_ASSIGN_OR_RETURN(carried, internal::CarryOverRemoved(storage, rocksdb::ReadOptions(), hash,
                                                              last, head.Next()));
  return ChainHead{carried.last, std::string(reinterpret_cast<const char*>(carried.hash.data()),
                                             carried.hash.size())};
}

namespace {

absl::Status SyncPath(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot open '", path.string(), "' to sync it"));
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("cannot sync '", path.string(), "'"));
  return absl::OkStatus();
}

// Copies the store's files into the new directory `to`: SST files (never
// rewritten in place) as hard links where possible, the rest as synced
// copies, so the copy survives a crash during the repair that follows.
absl::Status BackUpFiles(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  if (std::filesystem::exists(to, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the repair's backup directory '", to.string(), "' already exists"));
  }
  std::filesystem::create_directories(to, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the backup directory '", to.string(), "': ", ec.message()));
  }
  for (auto it = std::filesystem::directory_iterator(from, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    std::error_code type_error;
    if (!entry.is_regular_file(type_error)) continue;
    const std::string name = entry.path().filename().string();
    if (name == "LOCK" || name == "ANNALS.lock") continue;
    const std::filesystem::path target = to / name;
    if (name.ends_with(".sst")) {
      std::filesystem::create_hard_link(entry.path(), target, ec);
      if (!ec) continue;
    }
    std::filesystem::copy_file(entry.path(), target, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot back up '", entry.path().string(), "': ", ec.message()));
    }
    ANNALS_RETURN_IF_ERROR(SyncPath(target, /*directory=*/false));
  }
  if (ec)
    return absl::InternalError(absl::StrCat("cannot list '", from.string(), "': ", ec.message()));
  ANNALS_RETURN_IF_ERROR(SyncPath(to, /*directory=*/true));
  return SyncPath(to.parent_path().empty() ? std::filesystem::path(".") : to.parent_path(),
                  /*directory=*/true);
}

// The largest position the damaged log still shows anywhere, read from a
// scratch copy of the backup opened skipping every damaged record (what
// RocksDB then recovers is no consistent store, but each position it holds
// was written). Those after the intact prefix were acknowledged and may
// have been seen: they must never be given to new events.
std::optional<uint64_t> LargestPositionWritten(const std::filesystem::path& backup) {
  std::error_code ec;
  const std::filesystem::path scratch = backup / ".largest-position-scan";
  std::filesystem::remove_all(scratch, ec);
  if (!BackUpFiles(backup, scratch).ok()) return std::nullopt;
  std::optional<uint64_t> largest;
  {
    rocksdb::DBOptions options;
    options.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
    options.avoid_flush_during_recovery = true;
    std::vector<std::string> names;
    if (rocksdb::DB::ListColumnFamilies(options, scratch.string(), &names).ok()) {
      std::vector<rocksdb::ColumnFamilyDescriptor> families;
      families.reserve(names.size());
      for (const std::string& name : names)
        families.emplace_back(name, rocksdb::ColumnFamilyOptions());
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      rocksdb::DB* raw = nullptr;
      if (rocksdb::DB::Open(options, scratch.string(), families, &handles, &raw).ok()) {
        std::unique_ptr<rocksdb::DB> db(raw);
        for (size_t i = 0; i < names.size(); ++i) {
          if (names[i] != internal::CfName(internal::Cf::kLog)) continue;
          std::unique_ptr<rocksdb::Iterator> it(
              db->NewIterator(rocksdb::ReadOptions(), handles[i]));
          it->SeekToLast();
          if (it->Valid()) {
            if (std::optional<Position> p = internal::ParseLogKey(it->key().ToStringView()))
              largest = p->value();
          }
        }
        for (rocksdb::ColumnFamilyHandle* handle : handles)
          db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
        db->Close().PermitUncheckedError();
      }
    }
  }
  std::filesystem::remove_all(scratch, ec);
  return largest;
}

std::string DefaultBackupDirectory(std::string_view path) {
  std::string base(path);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return absl::StrCat(base, ".damaged-",
                      absl::FormatTime("%Y%m%dT%H%M%E6SZ", absl::Now(), absl::UTCTimeZone()));
}

}  // namespace

absl::StatusOr<RepairReport> RepairStore(std::string_view path, const RepairOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("store path is empty");
  RepairReport report;
  const std::string backup_directory =
      options.backup_directory.empty() ? DefaultBackupDirectory(path) : options.backup_directory;
  StoreOptions store_options;
  std::optional<internal::WalDamage> damage;
  std::shared_ptr<internal::Storage> storage;
  ANNALS_ASSIGN_OR_RETURN(storage, internal::Storage::OpenForRepair(
                                       std::string(path), store_options,
                                       [&](const internal::WalDamage&) {
                                         return BackUpFiles(std::string(path), backup_directory);
                                       },
                                       &damage));
  if (damage) {
    report.repaired = true;
    report.damaged_file = damage->file;
    report.damaged_offset = damage->offset;
    report.bytes_dropped = damage->bytes_after;
    report.backup_directory = backup_directory;
  }
  if (damage) {
    // Positions past the intact prefix were acknowledged: keep them out of
    // use (a lost range, which Verify reports and the next open skips).
    ANNALS_ASSIGN_OR_RETURN(internal::StoredHead kept,
                            internal::ReadStoredHead(*storage, rocksdb::ReadOptions()));
    if (std::optional<uint64_t> largest = LargestPositionWritten(backup_directory);
        largest && *largest > kept.head.value()) {
      report.lost_first = kept.head.Next();
      report.lost_last = Position(*largest);
      std::string last;
      internal::AppendBigEndian64(&last, *largest);
      rocksdb::WriteOptions sync;
      sync.sync = true;
      ANNALS_RETURN_IF_ERROR(
          internal::FromRocksDb(storage->db()->Put(sync, storage->cf(internal::Cf::kMeta),
                                                   internal::LostRangeKey(kept.head.Next()), last),
                                "record the positions lost"));
    }
  }
  std::unique_ptr<EventStore> store;
  ANNALS_ASSIGN_OR_RETURN(store, internal::EventStoreImpl::OpenOn(storage, store_options));
  {
    std::unique_ptr<rocksdb::Iterator> it(
        storage->db()->NewIterator(rocksdb::ReadOptions(), storage->cf(internal::Cf::kLog)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++report.events;
    ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "count the log's events"));
  }
  storage.reset();
  report.head = store->head();
  ANNALS_ASSIGN_OR_RETURN(report.chain_head, ReadChainHead(*store));
  ANNALS_ASSIGN_OR_RETURN(report.verify, Verify(*store));
  // Close flushes: the damaged log is no longer needed by the next open.
  ANNALS_RETURN_IF_ERROR(store->Close());
  return report;
}

}  // namespace annals
