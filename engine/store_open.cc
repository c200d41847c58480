// Opening a store: options checked, storage opened, state recovered, the
// on-disk format checked or upgraded in place; and closing it.
#include "event_store_impl.h"

#include "absl/strings/str_cat.h"
#include "annals/storage/v1/meta.pb.h"
#include "annals/version.h"
#include "chain_store.h"
#include "indexes.h"
#include "key_codec.h"
#include "status_util.h"
#include "validation.h"

namespace annals {

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::Open(std::string_view path,
                                                             const StoreOptions& options) {
  return internal::EventStoreImpl::Open(path, options);
}

namespace internal {
namespace {

absl::Status ValidateOptions(const StoreOptions& options) {
  auto bad = [](std::string_view field, std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("StoreOptions::", std::string(field), " ", std::string(why)));
  };
  if (options.max_event_bytes == 0) return bad("max_event_bytes", "must be > 0");
  if (options.max_append_bytes < options.max_event_bytes) {
    return bad("max_append_bytes", "must be >= max_event_bytes");
  }
  if (options.max_stream_name_bytes == 0) return bad("max_stream_name_bytes", "must be > 0");
  if (options.max_field_bytes == 0) return bad("max_field_bytes", "must be > 0");
  if (options.tuning.max_group_requests == 0) {
    return bad("tuning.max_group_requests", "must be > 0");
  }
  if (options.tuning.write_buffer_bytes < (64 << 10)) {
    return bad("tuning.write_buffer_bytes", "must be >= 64 KiB");
  }
  if (options.tuning.background_jobs < 1) return bad("tuning.background_jobs", "must be >= 1");
  return ValidateSystemStreams(options);
}

// Writes the format record of version kFormatVersion with where the chain
// over digests begins (format 5): `digest_from`.
absl::Status WriteFormat(Storage& storage, storage::v1::FormatInfo format, Position digest_from,
                         std::string_view what) {
  format.set_format_version(kFormatVersion);
  std::string position;
  AppendBigEndian64(&position, digest_from.value());
  rocksdb::WriteBatch batch;
  batch.Put(storage.cf(Cf::kMeta), std::string(kMetaFormatKey), format.SerializeAsString());
  batch.Put(storage.cf(Cf::kMeta), std::string(kMetaChainDigestFromKey), position);
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  return FromRocksDb(storage.db()->Write(write_options, &batch), what);
}

// Checks (or, for a new store, writes) the format record; upgrades a store of
// an older format in place.
absl::Status CheckFormat(Storage& storage, Position head, const StoreOptions& options) {
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kMeta),
                                        std::string(kMetaFormatKey), &value);
  if (storage.read_only() && s.IsNotFound()) {
    return absl::FailedPreconditionError(
        absl::StrCat("store '", storage.path(), "' has no format record yet"));
  }
  if (s.IsNotFound()) {
    if (head.value() != 0) {
      return absl::DataLossError(
          absl::StrCat("store '", storage.path(), "' has events but no format record"));
    }
    storage::v1::FormatInfo format;
    format.set_created_at_us(absl::ToUnixMicros(options.clock ? options.clock() : absl::Now()));
    format.set_created_by("annals " ANNALS_VERSION_STRING);
    format.set_store_id(std::string(EventId::Generate().AsBytes()));
    return WriteFormat(storage, format, Position(1), "write format record");
  }
  if (!s.ok()) return FromRocksDb(s, "read format record");
  storage::v1::FormatInfo format;
  if (!format.ParseFromString(value)) return absl::DataLossError("format record does not parse");
  if (format.format_version() > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store '", storage.path(), "' has on-disk format ", format.format_version(),
        ", newer than this library's ", kFormatVersion, "; open it with a newer annals"));
  }
  if (format.format_version() < 1) {
    return absl::DataLossError(
        absl::StrCat("format record holds version ", format.format_version()));
  }
  if (storage.read_only() && format.format_version() < kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("store '", storage.path(), "' has on-disk format ", format.format_version(),
                     "; open it for writing once to upgrade it to ", kFormatVersion));
  }
  // A store made before store ids gets one at its first read-write open
  // (the format record alone changes; a read-only handle reports none).
  const bool needs_id = format.store_id().empty() && !storage.read_only();
  if (needs_id) format.set_store_id(std::string(EventId::Generate().AsBytes()));
  if (format.format_version() == kFormatVersion) {
    if (!needs_id) return absl::OkStatus();
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    return FromRocksDb(storage.db()->Put(write_options, storage.cf(Cf::kMeta),
                                         std::string(kMetaFormatKey), format.SerializeAsString()),
                       "give the store its id");
  }
  // Format 1 had no secondary indexes: build them from the log (this moves
  // the record to 2).
  if (format.format_version() == 1) ANNALS_RETURN_IF_ERROR(BackfillIndexes(storage));
  // Formats 2 to 4 lacked column families (snapshots; read_models and
  // projections), which opening created empty, and chained events over their
  // bytes: events from the next position on are chained over their digest.
  return WriteFormat(storage, format, head.Next(), "upgrade format record");
}

// The primary's id if the store is a replica (MakeReplica), else empty.
absl::StatusOr<std::string> ReplicaOf(Storage& storage) {
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kMeta),
                                        std::string(kMetaFormatKey), &value);
  if (s.IsNotFound()) return std::string();
  if (!s.ok()) return FromRocksDb(s, "read format record");
  storage::v1::FormatInfo format;
  if (!format.ParseFromString(value)) return absl::DataLossError("format record does not parse");
  if (format.replica_of().empty()) return std::string();
  std::optional<EventId> id = EventId::FromBytes(format.replica_of());
  if (!id) return absl::DataLossError("the format record's replica_of is not 16 bytes");
  return id->ToString();
}

}  // namespace

// Reads the head position, chain head and stream id counter back.
absl::StatusOr<RecoveredState> Recover(Storage& storage) {
  RecoveredState state;
  StoredHead head;
  ANNALS_ASSIGN_OR_RETURN(head, ReadStoredHead(storage, rocksdb::ReadOptions()));
  state.head = head.head;
  state.chain_head = head.chain;
  state.last_recorded_at_us = head.last_recorded_at_us;
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kMeta),
                                        std::string(kMetaNextStreamIdKey), &value);
  if (s.ok()) {
    storage::v1::StreamIdCounter counter;
    if (!counter.ParseFromString(value))
      return absl::DataLossError("stream id counter is malformed");
    state.next_stream_id = counter.next_stream_id();
  } else if (!s.IsNotFound()) {
    return FromRocksDb(s, "read stream id counter");
  }
  return state;
}

absl::StatusOr<std::unique_ptr<EventStore>> EventStoreImpl::Open(std::string_view path,
                                                                 const StoreOptions& options) {
  ANNALS_RETURN_IF_ERROR(ValidateOptions(options));
  if (path.empty()) return absl::InvalidArgumentError("store path is empty");
  bool created = false;
  std::shared_ptr<Storage> storage;
  ANNALS_ASSIGN_OR_RETURN(storage, Storage::Open(std::string(path), options, &created));
  return OpenOn(std::move(storage), options);
}

absl::StatusOr<std::unique_ptr<EventStore>> EventStoreImpl::OpenOn(std::shared_ptr<Storage> storage,
                                                                   const StoreOptions& options) {
  RecoveredState recovered;
  ANNALS_ASSIGN_OR_RETURN(recovered, Recover(*storage));
  ANNALS_RETURN_IF_ERROR(CheckFormat(*storage, recovered.head, options));
  std::string replica_of;
  ANNALS_ASSIGN_OR_RETURN(replica_of, ReplicaOf(*storage));
  auto writer = std::make_shared<Writer>(storage, options, recovered);
  return std::unique_ptr<EventStore>(
      new EventStoreImpl(options, std::move(storage), std::move(writer), std::move(replica_of)));
}

EventStoreImpl::EventStoreImpl(const StoreOptions& options, std::shared_ptr<Storage> storage,
                               std::shared_ptr<Writer> writer, std::string replica_of)
    : options_(options),
      storage_(std::move(storage)),
      writer_(std::move(writer)),
      replica_of_(std::move(replica_of)) {}

EventStoreImpl::~EventStoreImpl() {
  // Close() fails only if its flush does, which loses nothing (the write-ahead
  // log holds every acknowledged append); a destructor cannot report it anyway.
  Close().IgnoreError();
}

absl::Status EventStoreImpl::Close() {
  std::shared_ptr<Writer> writer;
  {
    MutexLock lock(&mu_);
    if (writer_ == nullptr) return absl::OkStatus();
    writer = writer_;
  }
  // New appends are refused from here; queued ones commit first.
  writer->Close();
  // Flush the memtables so the next Open has no write-ahead log to replay
  // (a large log makes reopening slow, and replaying it leaves fresh L0 files
  // whose compaction then competes with the first reads).
  absl::Status flushed;
  if (auto handles = Acquire(); handles.ok() && !options_.read_only) {
    rocksdb::DB* db = handles->storage->db();
    std::vector<rocksdb::ColumnFamilyHandle*> cfs;
    for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
      cfs.push_back(handles->storage->cf(static_cast<Cf>(i)));
    }
    flushed = FromRocksDb(db->Flush(rocksdb::FlushOptions(), cfs), "flush on close");
  }
  MutexLock lock(&mu_);
  head_at_close_ = writer->head();
  writer_.reset();
  storage_.reset();
  // The data is safe in the write-ahead log even if the flush failed.
  return flushed;
}

}  // namespace internal
}  // namespace annals
