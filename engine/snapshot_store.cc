// The snapshot store (annals/snapshot.h): one column family keyed like
// stream_events (stream id, revision), written outside the log.
#include "event_store_impl.h"

#include "absl/strings/str_cat.h"
#include "annals/storage/v1/snapshot.pb.h"
#include "event_codec.h"
#include "key_codec.h"
#include "status_util.h"
#include "stream_records.h"
#include "validation.h"

namespace annals::internal {

namespace {

absl::StatusOr<Snapshot> DecodeSnapshot(std::string_view stream, std::string_view key,
                                        std::string_view value) {
  std::optional<StreamEventKeyParts> parts = ParseStreamEventKey(key);
  storage::v1::StoredSnapshot stored;
  if (!parts || !stored.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(
        absl::StrCat("snapshot of '", std::string(stream), "' is malformed"));
  }
  Snapshot snapshot;
  snapshot.stream = std::string(stream);
  snapshot.revision = parts->revision;
  snapshot.schema_version = stored.schema_version();
  snapshot.state = std::move(*stored.mutable_state());
  snapshot.folded_from = Revision(stored.folded_from());
  snapshot.created_at = FromMicros(stored.created_at_us());
  snapshot.position = Position(stored.position());
  return snapshot;
}

}  // namespace

absl::Status EventStoreImpl::WriteSnapshot(const Snapshot& snapshot) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(snapshot.stream, options_));
  ANNALS_ASSIGN_OR_RETURN(StreamLookup lookup, Lookup(snapshot.stream));
  const Handles& handles = lookup.handles;
  std::optional<StreamRecord>& record = lookup.record;
  std::optional<StreamHead> tail;
  if (record) {
    ANNALS_ASSIGN_OR_RETURN(tail, ReadStreamHead(*handles.storage, *record));
  }
  if (!tail || tail->last_revision < snapshot.revision) {
    return absl::NotFoundError(
        absl::StrCat("stream '", snapshot.stream, "' has no revision ", snapshot.revision.value()));
  }
  if (record->tombstoned) {
    return absl::FailedPreconditionError(
        absl::StrCat("stream '", snapshot.stream, "' is deleted (tombstoned)"));
  }
  storage::v1::StoredSnapshot stored;
  stored.set_schema_version(snapshot.schema_version);
  stored.set_state(snapshot.state);
  stored.set_folded_from(snapshot.folded_from.value());
  stored.set_position(snapshot.position.value());
  stored.set_created_at_us(absl::ToUnixMicros(options_.clock ? options_.clock() : absl::Now()));
  rocksdb::WriteBatch batch;
  batch.Put(handles.storage->cf(Cf::kSnapshots), SnapshotKey(record->stream_id, snapshot.revision),
            stored.SerializeAsString());
  return handles.writer->WriteExclusive(batch, options_.sync);
}

absl::StatusOr<std::optional<Snapshot>> EventStoreImpl::ReadSnapshot(std::string_view stream,
                                                                     Revision at_or_below) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options_));
  ANNALS_ASSIGN_OR_RETURN(StreamLookup lookup, Lookup(stream));
  const Handles& handles = lookup.handles;
  std::optional<StreamRecord>& record = lookup.record;
  if (!record) return std::nullopt;
  rocksdb::ReadOptions read_options;
  read_options.prefix_same_as_start = true;
  BoundedIterator it(*handles.storage, Cf::kSnapshots, SnapshotKey(record->stream_id, Revision(0)),
                     SnapshotsEnd(record->stream_id), read_options);
  it->SeekForPrev(SnapshotKey(record->stream_id, at_or_below));
  if (!it->Valid()) {
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read snapshot"));
    return std::nullopt;
  }
  return DecodeSnapshot(stream, it->key().ToStringView(), it->value().ToStringView());
}

absl::StatusOr<std::vector<Snapshot>> EventStoreImpl::ListSnapshots(std::string_view stream) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options_));
  ANNALS_ASSIGN_OR_RETURN(StreamLookup lookup, Lookup(stream));
  const Handles& handles = lookup.handles;
  std::optional<StreamRecord>& record = lookup.record;
  std::vector<Snapshot> snapshots;
  if (!record) return snapshots;
  BoundedIterator it(*handles.storage, Cf::kSnapshots, SnapshotKey(record->stream_id, Revision(0)),
                     SnapshotsEnd(record->stream_id));
  for (it->Seek(SnapshotKey(record->stream_id, Revision(0))); it->Valid(); it->Next()) {
    ANNALS_ASSIGN_OR_RETURN(Snapshot snapshot, DecodeSnapshot(stream, it->key().ToStringView(),
                                                              it->value().ToStringView()));
    snapshots.push_back(std::move(snapshot));
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "list snapshots"));
  return snapshots;
}

absl::Status EventStoreImpl::DeleteSnapshots(std::string_view stream) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options_));
  ANNALS_ASSIGN_OR_RETURN(StreamLookup lookup, Lookup(stream));
  const Handles& handles = lookup.handles;
  std::optional<StreamRecord>& record = lookup.record;
  if (!record) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.DeleteRange(handles.storage->cf(Cf::kSnapshots),
                    SnapshotKey(record->stream_id, Revision(0)), SnapshotsEnd(record->stream_id));
  return handles.writer->WriteExclusive(batch, options_.sync);
}

}  // namespace annals::internal
