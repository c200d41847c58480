// RepairStore and the chain head (annals/maintenance.h).
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/maintenance.h"
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
  ChainHead result{Position(0), std::string(32, '\0')};
  if (head.value() == 0) return result;
  // The newest event at or below the head (Scavenge may have removed the
  // head's own event).
  internal::Storage& storage = *handles.storage;
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog)));
  it->SeekForPrev(internal::LogKey(head));
  if (!it->Valid()) {
    ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "read the chain head"));
    return result;
  }
  const std::optional<Position> position = internal::ParseLogKey(it->key().ToStringView());
  const std::optional<internal::SplitValue> split = internal::SplitStoredValue(it->value().ToStringView());
  if (!position || !split) return absl::DataLossError("the log's last event is malformed");
  result.position = *position;
  result.hash.assign(reinterpret_cast<const char*>(split->stored_hash.data()), split->stored_hash.size());
  return result;
}

namespace {

absl::Status SyncPath(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open '", path.string(), "' to sync it"));
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
  for (const auto& entry : std::filesystem::directory_iterator(from, ec)) {
    if (!entry.is_regular_file()) continue;
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
  if (ec) return absl::InternalError(absl::StrCat("cannot list '", from.string(), "': ", ec.message()));
  ANNALS_RETURN_IF_ERROR(SyncPath(to, /*directory=*/true));
  return SyncPath(to.parent_path().empty() ? std::filesystem::path(".") : to.parent_path(),
                  /*directory=*/true);
}

std::string DefaultBackupDirectory(std::string_view path) {
  std::string base(path);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return absl::StrCat(base, ".damaged-",
                      absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()));
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
  ANNALS_ASSIGN_OR_RETURN(
      storage, internal::Storage::OpenForRepair(
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
  ANNALS_ASSIGN_OR_RETURN(report.verify, store->Verify());
  // Close flushes: the damaged log is no longer needed by the next open.
  ANNALS_RETURN_IF_ERROR(store->Close());
  return report;
}

}  // namespace annals
