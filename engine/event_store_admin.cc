// EventStoreImpl's administrative calls, for tools: Import (restoring an
// export), the schema registry (with its compatibility check against stored
// events, schema_compat.h), and the logical backup of a read-only store.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "annals/maintenance.h"
#include "event_codec.h"
#include "event_store_impl.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "key_codec.h"
#include "lifecycle_data.h"
#include "nlohmann/json.hpp"
#include "rocksdb/utilities/checkpoint.h"
#include "schema_compat.h"
#include "status_util.h"
#include "validation.h"

namespace annals::internal {
namespace {

constexpr std::string_view kSchemaFilePrefix = "schema/file/";
constexpr std::string_view kSchemaTypePrefix = "schema/type/";

// Writes every key of `source` into a new store at `directory`, column
// family by column family, in batches.
absl::Status CopyInto(Storage& source, const std::string& directory) {
  StoreOptions options;
  options.create_if_missing = true;
  bool created = false;
  ANNALS_ASSIGN_OR_RETURN(std::shared_ptr<Storage> target,
                          Storage::Open(directory, options, &created));
  if (!created) {
    return absl::FailedPreconditionError(
        absl::StrCat("backup directory '", directory, "' holds a store"));
  }
  constexpr size_t kBatchBytes = 4 << 20;
  // One consistent view: a read-only store changes only on Refresh, and
  // every column family's iterator is taken before the first write.
  std::vector<std::unique_ptr<rocksdb::Iterator>> iterators;
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    iterators.emplace_back(
        source.db()->NewIterator(rocksdb::ReadOptions(), source.cf(static_cast<Cf>(i))));
  }
  rocksdb::WriteOptions unsynced;
  unsynced.disableWAL = true;  // flushed below, before the copy counts as done
  for (size_t i = 0; i < iterators.size(); ++i) {
    rocksdb::ColumnFamilyHandle* cf = target->cf(static_cast<Cf>(i));
    rocksdb::WriteBatch batch;
    for (iterators[i]->SeekToFirst(); iterators[i]->Valid(); iterators[i]->Next()) {
      batch.Put(cf, iterators[i]->key(), iterators[i]->value());
      if (batch.GetDataSize() >= kBatchBytes) {
        ANNALS_RETURN_IF_ERROR(FromRocksDb(target->db()->Write(unsynced, &batch), "backup copy"));
        batch.Clear();
      }
    }
    ANNALS_RETURN_IF_ERROR(FromRocksDb(iterators[i]->status(), "backup read"));
    ANNALS_RETURN_IF_ERROR(FromRocksDb(target->db()->Write(unsynced, &batch), "backup copy"));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i)
    cfs.push_back(target->cf(static_cast<Cf>(i)));
  ANNALS_RETURN_IF_ERROR(
      FromRocksDb(target->db()->Flush(rocksdb::FlushOptions(), cfs), "backup flush"));
  return FromRocksDb(target->db()->SyncWAL(), "backup sync");
}

// CopyInto a sibling directory, renamed to `directory` only once complete:
// a failed copy (a full disk) never leaves something that looks like a
// backup.
absl::Status CopyStore(Storage& source, const std::string& directory) {
  const std::string partial = directory + ".incomplete";
  std::error_code ec;
  if (std::filesystem::exists(partial, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", partial, "' exists (an interrupted backup?); remove it first"));
  }
  absl::Status copied = CopyInto(source, partial);
  if (copied.ok()) {
    std::filesystem::rename(partial, directory, ec);
    if (ec) copied = absl::InternalError(absl::StrCat("rename '", partial, "': ", ec.message()));
  }
  if (!copied.ok()) std::filesystem::remove_all(partial, ec);
  return copied;
}

// Keeps the descriptor pool's complaints for the error message (instead of
// protobuf's log).
class CollectErrors : public google::protobuf::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message*, ErrorLocation,
                const std::string& message) override {
    if (!errors.empty()) errors += "; ";
    absl::StrAppend(&errors, filename, element_name.empty() ? "" : " ", element_name, ": ",
                    message);
  }
  std::string errors;
};

// A DescriptorPool over the registry's files (name -> FileDescriptorProto
// bytes), every file built.
struct SchemaPool {
  google::protobuf::SimpleDescriptorDatabase database;
  CollectErrors errors;
  std::unique_ptr<google::protobuf::DescriptorPool> pool;

  // InvalidArgument naming the first file that is malformed or does not
  // build with the others.
  static absl::StatusOr<std::unique_ptr<SchemaPool>> Build(
      const std::map<std::string, std::string>& files) {
    auto built = std::make_unique<SchemaPool>();
    for (const auto& [name, bytes] : files) {
      google::protobuf::FileDescriptorProto proto;
      if (!proto.ParseFromString(bytes) || !built->database.Add(proto)) {
        return absl::InvalidArgumentError(
            absl::StrCat("schema file '", name, "' is malformed or duplicated"));
      }
    }
    built->pool =
        std::make_unique<google::protobuf::DescriptorPool>(&built->database, &built->errors);
    // Every file, stored ones too: a replaced file may break one importing it.
    for (const auto& [name, bytes] : files) {
      if (built->pool->FindFileByName(name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("schema file '", name, "' does not build (", built->errors.errors,
                         "); make the set with protoc --include_imports"));
      }
    }
    return built;
  }
};

// The content type of the event at `position`.
absl::StatusOr<std::string> ContentTypeAt(Storage& storage, Position position) {
  std::string value;
  const rocksdb::Status s =
      storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kLog), LogKey(position), &value);
  if (s.IsNotFound()) return std::string();  // removed by Scavenge since the index was read
  ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "read event"));
  EventRecord record;
  ANNALS_RETURN_IF_ERROR(DecodeStoredEvent(value, &record));
  return std::move(record.content_type);
}

// The messages stored events were written with, and what they will be
// decoded as after registering `bindings`: for each event type that has
// events, its binding, and the messages the content types of its first and
// last event name. One walk of `by_type` that seeks from one type to the
// next: O(types), not O(events).
absl::StatusOr<std::vector<MessageInUse>> MessagesInUse(
    Storage& storage, const std::map<std::string, std::string>& stored_bindings,
    const std::map<std::string, std::string>& bindings) {
  std::vector<MessageInUse> in_use;
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(rocksdb::ReadOptions(), storage.cf(Cf::kByType)));
  it->SeekToFirst();
  while (it->Valid()) {
    const std::optional<std::string_view> name = ParseIndexKeyName(it->key().ToStringView());
    const std::optional<Position> first = ParseIndexKeyPosition(it->key().ToStringView());
    if (!name || !first) return absl::DataLossError("malformed by_type index key");
    const std::string type(*name);
    it->SeekForPrev(IndexKey(type, Position(UINT64_MAX)));
    const std::optional<Position> last =
        it->Valid() ? ParseIndexKeyPosition(it->key().ToStringView()) : std::nullopt;
    if (!last) return absl::DataLossError("malformed by_type index key");
    for (Position position : {*first, *last}) {
      std::string content_type;
      ANNALS_ASSIGN_OR_RETURN(content_type, ContentTypeAt(storage, position));
      if (std::string message = MessageTypeOf(content_type); !message.empty())
        in_use.push_back({message, message});
    }
    if (auto bound = stored_bindings.find(type); bound != stored_bindings.end()) {
      auto rebound = bindings.find(type);
      in_use.push_back(
          {bound->second, rebound == bindings.end() ? bound->second : rebound->second});
    }
    it->Seek(IndexKeyAfterName(type));
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read the type index"));
  return in_use;
}

// What registering `bindings` and the files of `after` breaks for the
// events stored now (one appended while this runs is not checked: appends do
// not wait for registrations).
absl::StatusOr<std::vector<std::string>> BreakingChanges(
    Storage& storage, const StoredSchemas& stored, const google::protobuf::DescriptorPool& after,
    const std::map<std::string, std::string>& bindings) {
  absl::StatusOr<std::unique_ptr<SchemaPool>> before = SchemaPool::Build(stored.files);
  if (!before.ok()) {
    return absl::DataLossError(
        absl::StrCat("the stored schema registry: ", before.status().message()));
  }
  std::vector<MessageInUse> in_use;
  ANNALS_ASSIGN_OR_RETURN(in_use, MessagesInUse(storage, stored.bindings, bindings));
  return FindBreakingChanges(*(*before)->pool, after, in_use);
}

// The data of a `$schemasChanged` event.
std::string SchemaAuditData(const google::protobuf::FileDescriptorSet& set,
                            const std::map<std::string, std::string>& bindings,
                            const std::vector<std::string>& breaking) {
  nlohmann::ordered_json data = nlohmann::ordered_json::object();
  data["files"] = nlohmann::ordered_json::array();
  for (const auto& file : set.file()) data["files"].push_back(file.name());
  data["bindings"] = nlohmann::ordered_json::object();
  for (const auto& [type, message] : bindings) data["bindings"][type] = message;
  data["breakingChanges"] = breaking;
  return data.dump();
}

}  // namespace

absl::Status EventStoreImpl::Backup(std::string_view directory) {
  if (directory.empty()) return absl::InvalidArgumentError("backup directory is empty");
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  std::error_code ec;
  if (std::filesystem::exists(std::string(directory), ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("backup directory '", std::string(directory), "' already exists"));
  }
  if (options_.read_only) return CopyStore(*handles.storage, std::string(directory));
  rocksdb::Checkpoint* raw = nullptr;
  ANNALS_RETURN_IF_ERROR(
      FromRocksDb(rocksdb::Checkpoint::Create(handles.storage->db(), &raw), "start backup"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // Flushes first (log_size_for_flush = 0), so the copy needs no WAL and
  // every acknowledged append up to now is in it.
  return FromRocksDb(checkpoint->CreateCheckpoint(std::string(directory), /*log_size_for_flush=*/0),
                     absl::StrCat("backup to '", std::string(directory), "'"));
}

absl::Status EventStoreImpl::Import(std::vector<EventRecord> events) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  for (size_t i = 0; i < events.size(); ++i) {
    if (absl::Status s = ValidateImportEvent(events[i], options_); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("imported event ", i, ": ", s.message()));
    }
  }
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return handles.writer->Import(std::move(events));
}

namespace {

// The registration's actor and reason: UTF-8, at most `max_bytes` each.
absl::Status ValidateRegistration(const SchemaRegistration& options, size_t max_bytes) {
  if (!IsValidUtf8(options.actor) || !IsValidUtf8(options.reason)) {
    return absl::InvalidArgumentError("SchemaRegistration: actor and reason must be valid UTF-8");
  }
  if (options.actor.size() > max_bytes || options.reason.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SchemaRegistration: actor and reason are at most ", max_bytes, " bytes each"));
  }
  return absl::OkStatus();
}

absl::Status ParseDescriptorSet(std::string_view bytes, google::protobuf::FileDescriptorSet& set) {
  if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || set.file_size() == 0) {
    return absl::InvalidArgumentError(
        "not a protobuf FileDescriptorSet (make one with protoc --include_imports "
        "--descriptor_set_out=FILE)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EventStoreImpl::RegisterSchemas(std::string_view file_descriptor_set,
                                             const std::map<std::string, std::string>& bindings,
                                             const SchemaRegistration& options) {
  ANNALS_RETURN_IF_ERROR(CheckAppendable());
  ANNALS_RETURN_IF_ERROR(ValidateRegistration(options, options_.max_field_bytes));
  google::protobuf::FileDescriptorSet set;
  ANNALS_RETURN_IF_ERROR(ParseDescriptorSet(file_descriptor_set, set));
  // One registration at a time: each checks against what the last wrote.
  MutexLock registering(&schemas_mu_);
  ANNALS_ASSIGN_OR_RETURN(StoredSchemas stored, ReadSchemas());
  // The stored files and the new ones (replacing those of the same name)
  // must build together.
  std::map<std::string, std::string> files = stored.files;
  for (const auto& file : set.file()) {
    if (file.name().empty()) return absl::InvalidArgumentError("a file of the set has no name");
    files[file.name()] = file.SerializeAsString();
  }
  std::unique_ptr<SchemaPool> after;
  ANNALS_ASSIGN_OR_RETURN(after, SchemaPool::Build(files));
  ANNALS_RETURN_IF_ERROR(CheckWellKnownTypes(files));
  for (const auto& [type, message] : bindings) {
    if (type.empty()) return absl::InvalidArgumentError("a binding has an empty event type");
    if (after->pool->FindMessageTypeByName(message) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("binding ", type, " -> ", message, ": no such message in the schemas"));
    }
  }
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  std::vector<std::string> breaking;
  ANNALS_ASSIGN_OR_RETURN(breaking,
                          BreakingChanges(*handles.storage, stored, *after->pool, bindings));
  if (!breaking.empty() && !options.allow_breaking) return BreakingSchemaChangesError(breaking);

  std::vector<std::pair<std::string, std::string>> puts;
  for (const auto& file : set.file()) {
    puts.emplace_back(absl::StrCat(std::string(kSchemaFilePrefix), file.name()),
                      files[file.name()]);
  }
  for (const auto& [type, message] : bindings) {
    puts.emplace_back(absl::StrCat(std::string(kSchemaTypePrefix), type), message);
  }
  if (!breaking.empty()) {
    // Allowed: written with its audit event, through the writer so the
    // event is ordered and chained like any other.
    LifecycleChange change{.kind = LifecycleChange::Kind::kSchemas,
                           .stream = std::string(kSchemasStream),
                           .options = {.actor = options.actor, .reason = options.reason},
                           .meta_puts = std::move(puts),
                           .audit_data = SchemaAuditData(set, bindings, breaking)};
    return handles.writer->SubmitLifecycle(std::move(change)).status();
  }
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta = handles.storage->cf(Cf::kMeta);
  for (const auto& [key, value] : puts) batch.Put(meta, key, value);
  return handles.writer->WriteExclusive(batch, /*sync=*/true);
}

absl::StatusOr<StoredSchemas> EventStoreImpl::ReadSchemas() {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  StoredSchemas schemas;
  std::unique_ptr<rocksdb::Iterator> it(
      handles.storage->db()->NewIterator(rocksdb::ReadOptions(), handles.storage->cf(Cf::kMeta)));
  for (it->Seek("schema/"); it->Valid() && it->key().starts_with("schema/"); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.starts_with(kSchemaFilePrefix)) {
      schemas.files[std::string(key.substr(kSchemaFilePrefix.size()))] = it->value().ToString();
    } else if (key.starts_with(kSchemaTypePrefix)) {
      schemas.bindings[std::string(key.substr(kSchemaTypePrefix.size()))] = it->value().ToString();
    }
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read schemas"));
  return schemas;
}

}  // namespace annals::internal

namespace annals {

absl::Status ValidateImportEvent(const EventRecord& e, const StoreOptions& options) {
  const bool audit = e.stream.starts_with("$$");
  if (e.stream != kSchemasStream) {
    // The rules of an append, on the stream the event belongs to (an audit
    // event's own name, `$$...`, is no user stream).
    AppendRequest check;
    check.stream = audit ? e.stream.substr(2) : e.stream;
    check.events.push_back(EventData{e.type, e.data, e.content_type, e.metadata, e.event_id,
                                     e.correlation_id, e.causation_id});
    bool caller_ids = false;
    ANNALS_RETURN_IF_ERROR(internal::ValidateAppend(check, options, &caller_ids));
  } else {
    ANNALS_RETURN_IF_ERROR(
        internal::ValidateEventFields(EventData{e.type, e.data, e.content_type, e.metadata,
                                                e.event_id, e.correlation_id, e.causation_id},
                                      options));
  }
  if (e.event_id.is_nil()) return absl::InvalidArgumentError("the event has no event id");
  if (e.position.value() == 0)
    return absl::InvalidArgumentError("position 0 (positions start at 1)");
  if (e.position.value() > kMaxImportedPosition) {
    return absl::InvalidArgumentError(absl::StrCat("position ", e.position.value(),
                                                   " is past the largest importable, ",
                                                   kMaxImportedPosition));
  }
  if (e.revision.value() >= e.position.value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revision ", e.revision.value(), " at position ", e.position.value(),
                     ": a revision is below its position (each earlier "
                     "revision of the stream took a position)"));
  }
  if (audit) {
    internal::LifecycleData data;
    ANNALS_ASSIGN_OR_RETURN(data, internal::DecodeLifecycleData(e.type, e.data));
    // The stream's head was before the event recording the operation.
    if (data.last_position && *data.last_position >= e.position.value()) {
      return absl::InvalidArgumentError("lastPosition is not before the lifecycle event");
    }
    if (data.last_revision && *data.last_revision >= *data.last_position) {
      return absl::InvalidArgumentError("lastRevision is not below lastPosition");
    }
    if (e.type == internal::kStreamDeletedEventType &&
        *data.truncate_before >= e.position.value()) {
      return absl::InvalidArgumentError(
          "truncateBefore is past what the stream can have held before the delete");
    }
  }
  return absl::OkStatus();
}

struct ImportChecker::State {
  StoreOptions options;
  Position last_position;
  absl::Time last_recorded_at = absl::InfinitePast();
  struct Stream {
    std::optional<uint64_t> last_revision;
    bool tombstoned = false;
  };
  std::map<std::string, Stream> streams;
};

ImportChecker::ImportChecker(const StoreOptions& options) : state_(std::make_unique<State>()) {
  state_->options = options;
}
ImportChecker::~ImportChecker() = default;

absl::Status ImportChecker::Check(const EventRecord& e) {
  ANNALS_RETURN_IF_ERROR(ValidateImportEvent(e, state_->options));
  if (e.position <= state_->last_position)
    return absl::InvalidArgumentError("positions must increase");
  if (e.recorded_at < state_->last_recorded_at)
    return absl::InvalidArgumentError("recorded_at goes backwards");
  State::Stream& stream = state_->streams[e.stream];
  if (stream.last_revision && e.revision.value() <= *stream.last_revision) {
    return absl::InvalidArgumentError(absl::StrCat("revision ", e.revision.value(), " of '",
                                                   e.stream, "' does not follow its revision ",
                                                   *stream.last_revision));
  }
  const bool audit = e.stream.starts_with("$$");
  State::Stream* target = audit ? &state_->streams[e.stream.substr(2)] : nullptr;
  if (!audit && stream.tombstoned) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", e.stream, "' has an event after its tombstone"));
  }
  if (target != nullptr && target->tombstoned) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", e.stream.substr(2), "' has a lifecycle event after its tombstone"));
  }
  // Accepted: the state moves on.
  stream.last_revision = e.revision.value();
  state_->last_position = e.position;
  state_->last_recorded_at = e.recorded_at;
  if (target != nullptr) {
    const internal::LifecycleData data = *internal::DecodeLifecycleData(e.type, e.data);
    auto restore = [&](uint64_t revision) {
      if (!target->last_revision || *target->last_revision < revision)
        target->last_revision = revision;
    };
    if (data.last_revision) restore(*data.last_revision);
    if (e.type == internal::kStreamDeletedEventType) restore(*data.truncate_before - 1);
    if (e.type == internal::kStreamTombstonedEventType) target->tombstoned = true;
  }
  return absl::OkStatus();
}

}  // namespace annals
