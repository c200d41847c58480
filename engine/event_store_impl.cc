#include "event_store_impl.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "annals/storage/v1/checkpoint.pb.h"
#include "annals/storage/v1/meta.pb.h"
#include "annals/storage/v1/snapshot.pb.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "chain_store.h"
#include "event_codec.h"
#include "indexes.h"
#include "key_codec.h"
#include "reader.h"
#include "rocksdb/utilities/checkpoint.h"
#include "scavenge.h"
#include "status_util.h"
#include "stream_records.h"
#include "validation.h"
#include "verify.h"

namespace annals::internal {

absl::StatusOr<EventStoreImpl::Handles> EventStoreImpl::Acquire() const {
  MutexLock lock(&mu_);
  if (storage_ == nullptr) return absl::UnavailableError("the store is closed");
  return Handles{storage_, writer_};
}

absl::StatusOr<EventStoreImpl::StreamLookup> EventStoreImpl::Lookup(std::string_view stream) const {
  StreamLookup lookup;
  ANNALS_ASSIGN_OR_RETURN(lookup.handles, Acquire());
  ANNALS_ASSIGN_OR_RETURN(lookup.record, ReadStreamRecord(*lookup.handles.storage, stream));
  return lookup;
}

absl::Status EventStoreImpl::CheckWritable() const {
  if (options_.read_only) {
    return absl::FailedPreconditionError("the store is open read-only (StoreOptions::read_only)");
  }
  return absl::OkStatus();
}

absl::Status EventStoreImpl::Refresh() {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  if (!options_.read_only) return absl::OkStatus();
  ANNALS_RETURN_IF_ERROR(handles.storage->CatchUp());
  RecoveredState recovered;
  ANNALS_ASSIGN_OR_RETURN(recovered, Recover(*handles.storage));
  handles.writer->PublishExternalHead(recovered.head);
  return absl::OkStatus();
}

absl::Status EventStoreImpl::CheckAppendable() const {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  MutexLock lock(&mu_);
  if (replica_of_.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the store is a read replica of store ", replica_of_,
      " (fed by `annals follow`): append to the primary; only Import writes a replica's log"));
}

absl::StatusOr<AppendResult> EventStoreImpl::Append(AppendRequest request) {
  ANNALS_RETURN_IF_ERROR(CheckAppendable());
  bool caller_ids = false;
  ANNALS_RETURN_IF_ERROR(ValidateAppend(request, options_, &caller_ids));
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  MultiAppendRequest multi;
  multi.appends.push_back(std::move(request));
  std::vector<AppendResult> results;
  ANNALS_ASSIGN_OR_RETURN(results, handles.writer->Submit(std::move(multi), {caller_ids}));
  return results.front();
}

absl::StatusOr<MultiAppendResult> EventStoreImpl::AppendMulti(MultiAppendRequest request) {
  ANNALS_RETURN_IF_ERROR(CheckAppendable());
  std::vector<bool> caller_ids;
  ANNALS_RETURN_IF_ERROR(ValidateMultiAppend(request, options_, &caller_ids));
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  MultiAppendResult result;
  ANNALS_ASSIGN_OR_RETURN(result.results,
                          handles.writer->Submit(std::move(request), std::move(caller_ids)));
  return result;
}

std::vector<absl::StatusOr<AppendResult>> EventStoreImpl::AppendEach(
    std::vector<AppendRequest> requests) {
  std::vector<absl::StatusOr<AppendResult>> results(requests.size(),
                                                    absl::UnknownError("not committed"));
  absl::StatusOr<Handles> handles = Acquire();
  if (absl::Status writable = CheckAppendable(); !writable.ok()) handles = writable;
  if (!handles.ok()) {
    for (auto& result : results) result = handles.status();
    return results;
  }
  // The invalid ones fail alone; the rest go to the writer together.
  std::vector<std::pair<MultiAppendRequest, std::vector<bool>>> valid;
  std::vector<size_t> where;
  for (size_t i = 0; i < requests.size(); ++i) {
    bool caller_ids = false;
    if (absl::Status status = ValidateAppend(requests[i], options_, &caller_ids); !status.ok()) {
      results[i] = std::move(status);
      continue;
    }
    MultiAppendRequest multi;
    multi.appends.push_back(std::move(requests[i]));
    valid.emplace_back(std::move(multi), std::vector<bool>{caller_ids});
    where.push_back(i);
  }
  std::vector<absl::StatusOr<std::vector<AppendResult>>> committed =
      handles->writer->SubmitEach(std::move(valid));
  for (size_t j = 0; j < committed.size(); ++j) {
    if (committed[j].ok()) {
      results[where[j]] = committed[j]->front();
    } else {
      results[where[j]] = committed[j].status();
    }
  }
  return results;
}

namespace {

// What GetStreamInfo answers for a stream whose record is `record`; nullopt
// if it never had events.
absl::StatusOr<std::optional<StreamInfo>> InfoOf(Storage& storage, Writer& writer,
                                                 std::string_view stream,
                                                 const StreamRecord& record) {
  std::optional<StreamHead> tail;
  ANNALS_ASSIGN_OR_RETURN(tail, ReadStreamHead(storage, record));
  if (!tail) return std::nullopt;
  // The commit that wrote this tail may not be published yet; readers must
  // never see past the head, so wait for it (a few microseconds at most).
  writer.AwaitPublished(tail->last_position);
  StreamInfo info{std::string(stream),
                  tail->last_revision,
                  tail->last_position,
                  FromMicros(record.created_at_us),
                  FromMicros(tail->last_recorded_at_us),
                  StreamState::kActive,
                  record.metadata()};
  if (record.tombstoned) {
    info.state = StreamState::kTombstoned;
  } else if (record.truncate_before && *record.truncate_before > tail->last_revision.value()) {
    info.state = StreamState::kDeleted;
  }
  return info;
}

}  // namespace

absl::StatusOr<StreamInfo> EventStoreImpl::GetStreamInfo(std::string_view stream) {
  ANNALS_RETURN_IF_ERROR(ValidateReadableStreamName(stream, options_));
  ANNALS_ASSIGN_OR_RETURN(StreamLookup lookup, Lookup(stream));
  const Handles& handles = lookup.handles;
  std::optional<StreamRecord>& record = lookup.record;
  std::optional<StreamInfo> info;
  if (record) {
    ANNALS_ASSIGN_OR_RETURN(info, InfoOf(*handles.storage, *handles.writer, stream, *record));
  }
  if (!info)
    return absl::NotFoundError(absl::StrCat("stream '", std::string(stream), "' not found"));
  return *std::move(info);
}

absl::StatusOr<std::vector<StreamInfo>> EventStoreImpl::ListStreams(
    const ListStreamsOptions& options) {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  std::vector<StreamInfo> streams;
  std::unique_ptr<rocksdb::Iterator> it(handles.storage->db()->NewIterator(
      rocksdb::ReadOptions(), handles.storage->cf(Cf::kStreams)));
  std::string start = StreamKey(options.prefix);
  if (!options.after.empty() && options.after >= start) {
    start = KeyAfter(StreamKey(options.after));
  }
  for (it->Seek(start); it->Valid() && streams.size() < options.limit; it->Next()) {
    const std::string_view name = it->key().ToStringView();
    if (!name.starts_with(options.prefix)) break;
    std::optional<StreamRecord> record;
    ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(*handles.storage, name));
    if (!record) continue;
    std::optional<StreamInfo> info;
    ANNALS_ASSIGN_OR_RETURN(info, InfoOf(*handles.storage, *handles.writer, name, *record));
    if (info) streams.push_back(*std::move(info));
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "list streams"));
  return streams;
}

absl::StatusOr<std::optional<EventRecord>> EventStoreImpl::FindEvent(std::string_view stream,
                                                                     const EventId& event_id) {
  ANNALS_RETURN_IF_ERROR(ValidateReadableStreamName(stream, options_));
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  Storage& storage = *handles.storage;
  std::optional<StreamRecord> record;
  ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(storage, stream));
  if (!record) return std::nullopt;
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kEventIds),
                                        EventIdKey(event_id, record->stream_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "read event id"));
  std::optional<EventIdValue> found = DecodeEventIdValue(value);
  if (!found) return absl::DataLossError("event id entry is malformed");
  // Committed but perhaps not yet published: readers never see past the head.
  handles.writer->AwaitPublished(found->position);
  s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kStreamEvents),
                        StreamEventKey(record->stream_id, found->revision), &value);
  if (s.IsNotFound()) return std::nullopt;  // scavenged
  ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "read event"));
  EventRecord event;
  ANNALS_RETURN_IF_ERROR(DecodeStoredEvent(value, &event));
  return event;
}

absl::StatusOr<std::unique_ptr<EventIterator>> EventStoreImpl::ReadStream(
    std::string_view stream, const ReadStreamOptions& options) {
  ANNALS_RETURN_IF_ERROR(ValidateReadableStreamName(stream, options_));
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  // The head first, then the stream: events committed after this point may
  // be in the iterator's snapshot, and the iterator skips them (position >
  // head), so the read sees whole commits only.
  const Position head = handles.writer->head();
  std::optional<StreamRecord> record;
  ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(*handles.storage, stream));
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat("stream '", std::string(stream), "' not found"));
  };
  if (!record) return not_found();
  if (record->tombstoned) {
    return absl::FailedPreconditionError(
        absl::StrCat("stream '", std::string(stream), "' is deleted (tombstoned)"));
  }
  // Retention (applied at read time): the first revision still visible.
  uint64_t first_visible = 0;
  if (record->truncate_before || record->max_count || record->last_revision) {
    std::optional<StreamHead> tail;
    ANNALS_ASSIGN_OR_RETURN(tail, ReadStreamHead(*handles.storage, *record));
    if (!tail) return not_found();
    const uint64_t end = tail->last_revision.value() + 1;
    first_visible = record->truncate_before.value_or(0);
    // Soft-deleted (or truncated past the end): no stream to read.
    if (first_visible >= end) return not_found();
    if (record->max_count && end > *record->max_count) {
      first_visible = std::max(first_visible, end - *record->max_count);
    }
  }
  int64_t min_recorded_at_us = std::numeric_limits<int64_t>::min();
  if (record->max_age_us) {
    min_recorded_at_us =
        absl::ToUnixMicros(options_.clock ? options_.clock() : absl::Now()) - *record->max_age_us;
  }
  const uint64_t id = record->stream_id;
  std::string lower = StreamEventKey(id, Revision(first_visible));
  // Upper bounds keep the stream id's prefix: a backward read seeks for the
  // last key before `upper`, and prefix seeks must stay inside one prefix.
  // (Revision 2^64-1 is unreachable, so excluding it costs nothing.)
  std::string upper = StreamEventKey(id, Revision(~uint64_t{0}));
  if (options.from) {
    if (options.direction == Direction::kForward) {
      if (options.from->value() > first_visible) lower = StreamEventKey(id, *options.from);
    } else if (options.from->value() < ~uint64_t{0}) {
      if (options.from->value() < first_visible) return NewEmptyEventIterator();
      upper = StreamEventKey(id, options.from->Next());
    }
  }
  return NewRangeEventIterator(handles.storage, Cf::kStreamEvents, std::move(lower),
                               std::move(upper), options.direction, options.max_count, head,
                               Position(0), min_recorded_at_us);
}

absl::StatusOr<std::unique_ptr<EventIterator>> EventStoreImpl::ReadAll(
    const ReadAllOptions& options) {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return NewLogRead(handles.storage, handles.writer->head(), SourceForFilter(options.filter),
                    options);
}

absl::StatusOr<std::unique_ptr<EventIterator>> EventStoreImpl::ReadIndex(
    Index index, std::string_view key, const ReadAllOptions& options) {
  Cf cf = Cf::kByCategory;
  std::string_view what = "category";
  switch (index) {
    case Index::kCategory:
      break;
    case Index::kEventType:
      cf = Cf::kByType;
      what = "event type";
      break;
    case Index::kCorrelation:
      cf = Cf::kByCorrelation;
      what = "correlation id";
      break;
    case Index::kCausation:
      cf = Cf::kByCausation;
      what = "causation id";
      break;
  }
  ANNALS_RETURN_IF_ERROR(ValidateIndexKey(what, key));
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return NewLogRead(handles.storage, handles.writer->head(), ReadSource{cf, {std::string(key)}},
                    options);
}

absl::StatusOr<Position> EventStoreImpl::FindPosition(absl::Time time) {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  int64_t us = absl::ToUnixMicros(time);
  if (absl::FromUnixMicros(us) < time) ++us;
  return FindPositionAt(*handles.storage, us, handles.writer->head());
}

namespace {

absl::Status ValidateLifecycle(std::string_view stream, const LifecycleOptions& lifecycle,
                               const StoreOptions& options) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options));
  if (!IsValidUtf8(lifecycle.actor) || !IsValidUtf8(lifecycle.reason)) {
    return absl::InvalidArgumentError("LifecycleOptions: actor and reason must be valid UTF-8");
  }
  if (lifecycle.actor.size() > options.max_field_bytes ||
      lifecycle.reason.size() > options.max_field_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LifecycleOptions: actor and reason are at most ", options.max_field_bytes, " bytes each"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Position> EventStoreImpl::ChangeLifecycle(LifecycleChange change) {
  ANNALS_RETURN_IF_ERROR(CheckAppendable());
  ANNALS_RETURN_IF_ERROR(ValidateLifecycle(change.stream, change.options, options_));
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return handles.writer->SubmitLifecycle(std::move(change));
}

absl::StatusOr<Position> EventStoreImpl::SetStreamMetadata(std::string_view stream,
                                                           const StreamMetadata& metadata,
                                                           const LifecycleOptions& options) {
  if (metadata.max_count && *metadata.max_count == 0) {
    return absl::InvalidArgumentError("StreamMetadata::max_count must be >= 1");
  }
  if (metadata.max_age && *metadata.max_age < absl::Seconds(1)) {
    return absl::InvalidArgumentError("StreamMetadata::max_age must be >= 1 second");
  }
  ANNALS_RETURN_IF_ERROR(ValidateCustomMetadataJson(metadata.custom_json));
  return ChangeLifecycle(
      {LifecycleChange::Kind::kSetMetadata, std::string(stream), metadata, options});
}

absl::StatusOr<StreamMetadata> EventStoreImpl::GetStreamMetadata(std::string_view stream) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options_));
  ANNALS_ASSIGN_OR_RETURN(StreamLookup lookup, Lookup(stream));
  return lookup.record ? lookup.record->metadata() : StreamMetadata{};
}

absl::StatusOr<Position> EventStoreImpl::DeleteStream(std::string_view stream,
                                                      const LifecycleOptions& options) {
  return ChangeLifecycle({LifecycleChange::Kind::kDelete, std::string(stream), {}, options});
}

absl::StatusOr<Position> EventStoreImpl::TombstoneStream(std::string_view stream,
                                                         const LifecycleOptions& options) {
  return ChangeLifecycle({LifecycleChange::Kind::kTombstone, std::string(stream), {}, options});
}

absl::StatusOr<VerifyReport> EventStoreImpl::Verify(const VerifyOptions& options) {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return VerifyStorage(*handles.storage, handles.writer->head(), options);
}

absl::StatusOr<ScavengeResult> EventStoreImpl::Scavenge(const ScavengeOptions& scavenge) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return internal::Scavenge(*handles.storage, *handles.writer, options_, scavenge);
}

absl::StatusOr<std::unique_ptr<Subscription>> EventStoreImpl::Subscribe(
    const SubscribeOptions& options) {
  if (!options.stream.empty()) {
    ANNALS_RETURN_IF_ERROR(ValidateReadableStreamName(options.stream, options_));
  }
  if (!options.durable_name.empty()) ANNALS_RETURN_IF_ERROR(CheckWritable());
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return SubscriptionImpl::Create(handles.storage, handles.writer, open_subscribers_, options,
                                  options_.sync);
}

absl::StatusOr<std::vector<SubscriberInfo>> EventStoreImpl::ListSubscribers() {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  const uint64_t head = handles.writer->head().value();
  std::vector<SubscriberInfo> subscribers;
  std::unique_ptr<rocksdb::Iterator> it(handles.storage->db()->NewIterator(
      rocksdb::ReadOptions(), handles.storage->cf(Cf::kCheckpoints)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    storage::v1::SubscriberCheckpoint checkpoint;
    if (!checkpoint.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("checkpoint of '", it->key().ToString(), "' does not parse"));
    }
    const uint64_t position = checkpoint.position();
    subscribers.push_back(SubscriberInfo{it->key().ToString(), checkpoint.stream(),
                                         Position(position), head > position ? head - position : 0,
                                         FromMicros(checkpoint.updated_at_us())});
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "list subscribers"));
  return subscribers;
}

absl::Status EventStoreImpl::DeleteSubscriber(std::string_view name) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  {
    MutexLock lock(&open_subscribers_->mu);
    if (open_subscribers_->names.contains(std::string(name))) {
      return absl::FailedPreconditionError(
          absl::StrCat("durable subscriber '", std::string(name), "' has an open subscription"));
    }
  }
  std::string value;
  rocksdb::Status s = handles.storage->db()->Get(
      rocksdb::ReadOptions(), handles.storage->cf(Cf::kCheckpoints), name, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("no durable subscriber '", std::string(name), "'"));
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "read checkpoint"));
  rocksdb::WriteBatch batch;
  batch.Delete(handles.storage->cf(Cf::kCheckpoints), rocksdb::Slice(name.data(), name.size()));
  return handles.writer->WriteExclusive(batch, options_.sync);
}

absl::StatusOr<Position> EventStoreImpl::WaitForHead(Position after, absl::Duration timeout) {
  absl::StatusOr<Handles> handles = Acquire();
  if (!handles.ok()) return absl::CancelledError("the store is closed");
  Writer& writer = *handles->writer;
  if (writer.head() > after) return writer.head();
  // The writer's head notification, as subscriptions wait on it: woken by
  // each publish (commits, Refresh) and by Close.
  const std::atomic<bool> never_stopped{false};
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    // One wait is at most an hour: a condition variable's wait overflows
    // its clock for an infinite timeout.
    const absl::Time until = std::min(deadline, absl::Now() + absl::Hours(1));
    switch (writer.AwaitHeadBeyond(after, until, never_stopped)) {
      case Writer::Wake::kAdvanced:
        return writer.head();
      case Writer::Wake::kStopped:
        return absl::CancelledError("the store is closed");
      case Writer::Wake::kTimeout:
        if (until >= deadline) {
          return absl::DeadlineExceededError(absl::StrCat("the head is still ",
                                                          writer.head().value(), " after ",
                                                          absl::FormatDuration(timeout)));
        }
        break;
    }
  }
}

absl::StatusOr<EngineHandles> EventStoreImpl::InternalHandles() const {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  return EngineHandles{handles.storage, handles.writer, options_.sync};
}

absl::StatusOr<StoreStats> EventStoreImpl::GetStoreStats() {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  StoreStats stats;
  handles.writer->ReadCounters(stats);
  rocksdb::DB& db = *handles.storage->db();
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    const Cf cf = static_cast<Cf>(i);
    ColumnFamilyStats family{.name = std::string(CfName(cf))};
    // A property RocksDB cannot give stays 0.
    db.GetIntProperty(handles.storage->cf(cf), "rocksdb.live-sst-files-size",
                      &family.live_sst_bytes);
    db.GetIntProperty(handles.storage->cf(cf), "rocksdb.estimate-num-keys", &family.estimated_keys);
    stats.column_families.push_back(std::move(family));
  }
  return stats;
}

namespace {

// The format record as stored now: read each time, so that a read-only
// handle sees what the writer changed since it opened.
absl::StatusOr<storage::v1::FormatInfo> ReadFormat(Storage& storage) {
  std::string value;
  ANNALS_RETURN_IF_ERROR(
      FromRocksDb(storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kMeta),
                                    std::string(kMetaFormatKey), &value),
                  "read format record"));
  storage::v1::FormatInfo format;
  if (!format.ParseFromString(value)) return absl::DataLossError("format record does not parse");
  return format;
}

}  // namespace

absl::StatusOr<std::string> EventStoreImpl::GetStoreId() {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  storage::v1::FormatInfo format;
  ANNALS_ASSIGN_OR_RETURN(format, ReadFormat(*handles.storage));
  if (format.store_id().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store '", handles.storage->path(),
        "' has no id yet (it was made before store ids): open it for writing once to give it one"));
  }
  std::optional<EventId> id = EventId::FromBytes(format.store_id());
  if (!id) return absl::DataLossError("the format record's store id is not 16 bytes");
  return id->ToString();
}

absl::StatusOr<std::optional<std::string>> EventStoreImpl::GetReplicaOf() {
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  storage::v1::FormatInfo format;
  ANNALS_ASSIGN_OR_RETURN(format, ReadFormat(*handles.storage));
  if (format.replica_of().empty()) return std::nullopt;
  std::optional<EventId> id = EventId::FromBytes(format.replica_of());
  if (!id) return absl::DataLossError("the format record's replica_of is not 16 bytes");
  return id->ToString();
}

absl::Status EventStoreImpl::MakeReplica(std::string_view primary_id) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  std::optional<EventId> primary = EventId::Parse(primary_id);
  if (!primary || primary->is_nil()) {
    return absl::InvalidArgumentError(
        absl::StrCat("primary store id '", std::string(primary_id), "' is not a UUID"));
  }
  Handles handles;
  ANNALS_ASSIGN_OR_RETURN(handles, Acquire());
  storage::v1::FormatInfo format;
  ANNALS_ASSIGN_OR_RETURN(format, ReadFormat(*handles.storage));
  if (format.store_id() == primary->AsBytes()) {
    return absl::InvalidArgumentError("a store cannot be a replica of itself");
  }
  if (!format.replica_of().empty()) {
    if (format.replica_of() == primary->AsBytes()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("the store is a replica of another store (",
                     EventId::FromBytes(format.replica_of()).value_or(EventId()).ToString(), ")"));
  }
  // Flagged first, so no append starts meanwhile; the head then says whether
  // one got in before.
  {
    MutexLock lock(&mu_);
    replica_of_ = primary->ToString();
  }
  if (handles.writer->head() != Position(0)) {
    MutexLock lock(&mu_);
    replica_of_.clear();
    return absl::FailedPreconditionError(
        "only an empty store can become a replica (this one has events of its own)");
  }
  format.set_replica_of(std::string(primary->AsBytes()));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  absl::Status written = FromRocksDb(
      handles.storage->db()->Put(write_options, handles.storage->cf(Cf::kMeta),
                                 std::string(kMetaFormatKey), format.SerializeAsString()),
      "mark the store as a replica");
  if (!written.ok()) {
    MutexLock lock(&mu_);
    replica_of_.clear();
  }
  return written;
}

absl::StatusOr<EngineHandles> EngineHandlesOf(EventStore& store) {
  return StoreAccess::Of(store).InternalHandles();
}

Position EventStoreImpl::head() const {
  MutexLock lock(&mu_);
  return writer_ != nullptr ? writer_->head() : head_at_close_;
}

}  // namespace annals::internal
