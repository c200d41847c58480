// EventStoreImpl's administrative calls, for tools: Import (restoring an
// export), the schema registry, and the logical backup of a read-only store.
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "event_store_impl.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "key_codec.h"
#include "rocksdb/utilities/checkpoint.h"
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
  ANNALS_ASSIGN_OR_RETURN(std::shared_ptr<Storage> target, Storage::Open(directory, options, &created));
  if (!created) {
    return absl::FailedPreconditionError(absl::StrCat("backup directory '", directory, "' holds a store"));
  }
  constexpr size_t kBatchBytes = 4 << 20;
  // One consistent view: a read-only store changes only on Refresh, and
  // every column family's iterator is taken before the first write.
  std::vector<std::unique_ptr<rocksdb::Iterator>> iterators;
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    iterators.emplace_back(source.db()->NewIterator(rocksdb::ReadOptions(), source.cf(static_cast<Cf>(i))));
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
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) cfs.push_back(target->cf(static_cast<Cf>(i)));
  ANNALS_RETURN_IF_ERROR(FromRocksDb(target->db()->Flush(rocksdb::FlushOptions(), cfs), "backup flush"));
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
                const google::protobuf::Message*, ErrorLocation, const std::string& message) override {
    if (!errors.empty()) errors += "; ";
    absl::StrAppend(&errors, filename, element_name.empty() ? "" : " ", element_name, ": ", message);
  }
  std::string errors;
};

void ClearJsonNames(google::protobuf::DescriptorProto* message) {
  for (auto& field : *message->mutable_field()) field.clear_json_name();
  for (auto& nested : *message->mutable_nested_type()) ClearJsonNames(&nested);
}

// The first well-known type that `pool` defines otherwise than protobuf
// itself (json_name aside); nullopt if none. Protobuf's JSON printer, which
// the tool decodes payloads with, renders these by name and trusts their
// shape: a google.protobuf.Struct whose field is no map makes it loop
// forever. tools/lib/payload.cc refuses such a registry the same way.
std::optional<std::string> RedefinedWellKnownType(const google::protobuf::DescriptorPool& pool) {
  namespace pb = ::google::protobuf;
  for (const pb::Descriptor* own :
       {pb::Any::descriptor(), pb::Duration::descriptor(), pb::FieldMask::descriptor(),
        pb::ListValue::descriptor(), pb::Struct::descriptor(), pb::Timestamp::descriptor(),
        pb::Value::descriptor(), pb::BoolValue::descriptor(), pb::BytesValue::descriptor(),
        pb::DoubleValue::descriptor(), pb::FloatValue::descriptor(), pb::Int32Value::descriptor(),
        pb::Int64Value::descriptor(), pb::StringValue::descriptor(), pb::UInt32Value::descriptor(),
        pb::UInt64Value::descriptor()}) {
    const pb::Descriptor* defined = pool.FindMessageTypeByName(own->full_name());
    if (defined == nullptr) continue;
    pb::DescriptorProto defined_proto, own_proto;
    defined->CopyTo(&defined_proto);
    own->CopyTo(&own_proto);
    ClearJsonNames(&defined_proto);
    ClearJsonNames(&own_proto);
    if (defined_proto.SerializeAsString() != own_proto.SerializeAsString()) return own->full_name();
  }
  return std::nullopt;
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
    const EventRecord& e = events[i];
    // The checks of an append, on the stream the event belongs to (an audit
    // event's own name, `$$...`, is no user stream).
    AppendRequest check;
    check.stream = e.stream.starts_with("$$") ? e.stream.substr(2) : e.stream;
    check.events.push_back(EventData{e.type, e.data, e.content_type, e.metadata, e.event_id,
                                     e.correlation_id, e.causation_id});
    bool caller_ids = false;
    if (absl::Status s = ValidateAppend(check, options_, &caller_ids); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("imported event ", i, ": ", s.message()));
    }
    if (e.event_id.is_nil()) {
      return absl::InvalidArgumentError(absl::StrCat("imported event ", i, " has no event id"));
    }
    if (e.position.value() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("imported event ", i, " has position 0"));
    }
  }
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return handles.writer->Import(std::move(events));
}

absl::Status EventStoreImpl::RegisterSchemas(std::string_view file_descriptor_set,
                                             const std::map<std::string, std::string>& bindings) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(file_descriptor_set.data(), static_cast<int>(file_descriptor_set.size())) ||
      set.file_size() == 0) {
    return absl::InvalidArgumentError(
        "not a protobuf FileDescriptorSet (make one with protoc --include_imports --descriptor_set_out=FILE)");
  }
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
  google::protobuf::SimpleDescriptorDatabase database;
  for (const auto& [name, bytes] : files) {
    google::protobuf::FileDescriptorProto proto;
    if (!proto.ParseFromString(bytes) || !database.Add(proto)) {
      return absl::InvalidArgumentError(absl::StrCat("schema file '", name, "' is malformed or duplicated"));
    }
  }
  CollectErrors errors;
  google::protobuf::DescriptorPool pool(&database, &errors);
  // Every file, stored ones too: a replaced file may break one importing it.
  for (const auto& [name, bytes] : files) {
    if (pool.FindFileByName(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "schema file '", name, "' does not build (", errors.errors,
          "); make the set with protoc --include_imports"));
    }
  }
  if (std::optional<std::string> type = RedefinedWellKnownType(pool)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the set defines ", *type, " unlike protobuf's own well-known type; use protobuf's google/protobuf/*.proto"));
  }
  for (const auto& [type, message] : bindings) {
    if (type.empty()) return absl::InvalidArgumentError("a binding has an empty event type");
    if (pool.FindMessageTypeByName(message) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("binding ", type, " -> ", message, ": no such message in the schemas"));
    }
  }
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta = handles.storage->cf(Cf::kMeta);
  for (const auto& file : set.file()) {
    batch.Put(meta, absl::StrCat(std::string(kSchemaFilePrefix), file.name()), files[file.name()]);
  }
  for (const auto& [type, message] : bindings) {
    batch.Put(meta, absl::StrCat(std::string(kSchemaTypePrefix), type), message);
  }
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
