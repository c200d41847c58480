#include "scavenge.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "chain_store.h"
#include "event_codec.h"
#include "hash_chain.h"
#include "indexes.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "status_util.h"
#include "stream_records.h"

namespace annals::internal {
namespace {

// Events removed per batch: bounds both the batch and how long appends wait.
constexpr size_t kEventsPerBatch = 1000;

constexpr Cf kScavengedCfs[] = {
    Cf::kLog,           Cf::kStreamEvents, Cf::kEventIds, Cf::kByCategory, Cf::kByType,
    Cf::kByCorrelation, Cf::kByCausation,  Cf::kStreams,  Cf::kSnapshots,  Cf::kMeta};

uint64_t LiveBytes(Storage& storage) {
  uint64_t total = 0;
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    uint64_t bytes = 0;
    if (storage.db()->GetIntProperty(storage.cf(static_cast<Cf>(i)),
                                     rocksdb::DB::Properties::kLiveSstFilesSize, &bytes)) {
      total += bytes;
    }
  }
  return total;
}

absl::Status FlushAll(Storage& storage) {
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    cfs.push_back(storage.cf(static_cast<Cf>(i)));
  }
  return FromRocksDb(storage.db()->Flush(rocksdb::FlushOptions(), cfs), "flush for scavenge");
}

// The first revision of the stream that stays (everything below goes).
absl::StatusOr<uint64_t> KeepFrom(Storage& storage, const StreamRecord& record,
                                  const StreamHead& head, int64_t now_us) {
  const uint64_t end = head.last_revision.value() + 1;
  if (record.tombstoned) return end;
  uint64_t keep = std::min(record.truncate_before.value_or(0), end);
  if (record.max_count && end > *record.max_count) keep = std::max(keep, end - *record.max_count);
  if (record.max_age_us) {
    // Revisions are in recorded_at order: skip the expired prefix.
    const int64_t cutoff = now_us - *record.max_age_us;
    BoundedIterator it(storage, Cf::kStreamEvents, StreamEventKey(record.stream_id, Revision(keep)),
                       StreamEventsEnd(record.stream_id));
    EventRecord event;
    for (it->Seek(it.lower()); it->Valid(); it->Next()) {
      ANNALS_RETURN_IF_ERROR(
          DecodeStoredEvent(std::string_view(it->value().data(), it->value().size()), &event));
      if (absl::ToUnixMicros(event.recorded_at) >= cutoff) break;
      keep = event.revision.value() + 1;
    }
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan expired events"));
  }
  return keep;
}

// Removes up to kEventsPerBatch hidden events of `stream`. Returns how many
// it removed (0: nothing left to remove). REQUIRES: no group committing.
absl::StatusOr<uint64_t> ScavengeBatch(Storage& storage, const std::string& stream,
                                       const StoreOptions& options, int64_t now_us,
                                       Position digest_from, ScavengeResult* result) {
  std::optional<StreamRecord> record;
  ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(storage, stream));
  if (!record) return 0;
  std::optional<StreamHead> head;
  ANNALS_ASSIGN_OR_RETURN(head, ReadStreamHead(storage, *record));
  if (!head) return 0;
  uint64_t keep_from;
  ANNALS_ASSIGN_OR_RETURN(keep_from, KeepFrom(storage, *record, *head, now_us));
  if (keep_from == 0) return 0;

  BoundedIterator it(storage, Cf::kStreamEvents, "",
                     SnapshotKey(record->stream_id, Revision(keep_from)));
  rocksdb::WriteBatch batch;
  uint64_t removed = 0;
  std::string first_key, last_key;
  EventRecord event;
  for (it->Seek(StreamEventKey(record->stream_id, Revision(0)));
       it->Valid() && removed < kEventsPerBatch; it->Next()) {
    ANNALS_RETURN_IF_ERROR(
        DecodeStoredEvent(std::string_view(it->value().data(), it->value().size()), &event));
    // What stays of the event: its digest, which the next event's chain
    // hash covers (docs/FORMAT.md), so Verify checks the chain across the
    // gap and a reopen knows the head even if the log's last events go.
    const std::optional<SplitValue> split =
        SplitStoredValue(std::string_view(it->value().data(), it->value().size()));
    if (!split) {
      return absl::DataLossError(
          absl::StrCat("event at position ", event.position.value(), " has no chain hash"));
    }
    RemovedEvent kept{.digest = event.position >= digest_from,
                      .recorded_at_us = absl::ToUnixMicros(event.recorded_at)};
    kept.hash = kept.digest ? EventDigest(split->hashed_bytes) : split->stored_hash;
    batch.Put(storage.cf(Cf::kMeta), RemovedEventKey(event.position), EncodeRemovedEvent(kept));
    if (removed == 0) first_key = it->key().ToString();
    last_key = it->key().ToString();
    batch.Delete(storage.cf(Cf::kLog), LogKey(event.position));
    ForEachIndexKey(event.stream, event.type, event.correlation_id, event.causation_id,
                    event.position, [&](Cf cf, const std::string& key) {
                      batch.Delete(storage.cf(cf), key);
                      ++result->index_entries_removed;
                    });
    batch.Delete(storage.cf(Cf::kEventIds), EventIdKey(event.event_id, record->stream_id));
    ++removed;
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan hidden events"));
  if (removed == 0) return 0;
  // One range tombstone for the stream's own copies: [first, last].
  batch.DeleteRange(storage.cf(Cf::kStreamEvents), first_key, KeyAfter(last_key));
  // Snapshots below the first kept revision folded removed events.
  batch.DeleteRange(storage.cf(Cf::kSnapshots), SnapshotKey(record->stream_id, Revision(0)),
                    SnapshotKey(record->stream_id, Revision(keep_from)));
  if (keep_from > head->last_revision.value() && !record->last_revision) {
    // The last event goes too: the record keeps the head from now on.
    record->last_revision = head->last_revision.value();
    record->last_position = head->last_position.value();
    record->last_recorded_at_us = head->last_recorded_at_us;
    batch.Put(storage.cf(Cf::kStreams), StreamKey(stream), record->Encode());
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options.sync;
  ANNALS_RETURN_IF_ERROR(FromRocksDb(storage.db()->Write(write_options, &batch), "scavenge batch"));
  result->events_removed += removed;
  return removed;
}

}  // namespace

absl::StatusOr<ScavengeResult> Scavenge(Storage& storage, Writer& writer,
                                        const StoreOptions& options,
                                        const ScavengeOptions& scavenge) {
  auto progress = [&](std::string_view step, uint64_t done, uint64_t total) {
    if (scavenge.progress) scavenge.progress(step, done, total);
  };
  ScavengeResult result;
  ANNALS_RETURN_IF_ERROR(FlushAll(storage));
  result.bytes_before = LiveBytes(storage);
  const int64_t now_us = absl::ToUnixMicros(options.clock ? options.clock() : absl::Now());
  Position digest_from;
  ANNALS_ASSIGN_OR_RETURN(digest_from, ReadDigestFrom(storage, rocksdb::ReadOptions()));

  // Streams with anything to hide: a lifecycle setting in their record.
  std::vector<std::string> candidates;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        storage.db()->NewIterator(rocksdb::ReadOptions(), storage.cf(Cf::kStreams)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string stream = it->key().ToString();
      std::optional<StreamRecord> record;
      ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(storage, stream));
      if (record && (record->tombstoned || record->truncate_before || record->max_count ||
                     record->max_age_us)) {
        candidates.push_back(std::move(stream));
      }
    }
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan streams"));
  }

  uint64_t examined = 0;
  for (const std::string& stream : candidates) {
    bool any = false;
    for (;;) {
      absl::StatusOr<uint64_t> removed = 0;
      writer.RunExclusive(stream, [&] {
        removed = ScavengeBatch(storage, stream, options, now_us, digest_from, &result);
      });
      if (!removed.ok()) return removed.status();
      if (*removed == 0) break;
      any = true;
    }
    if (any) ++result.streams_scavenged;
    progress("streams", ++examined, candidates.size());
  }
  if (candidates.empty()) progress("streams", 0, 0);

  if (result.events_removed > 0) {
    ANNALS_RETURN_IF_ERROR(FlushAll(storage));
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    uint64_t compacted = 0;
    for (Cf cf : kScavengedCfs) {
      ANNALS_RETURN_IF_ERROR(FromRocksDb(
          storage.db()->CompactRange(compact, storage.cf(cf), nullptr, nullptr), "compact"));
      progress("compact", ++compacted, std::size(kScavengedCfs));
    }
  }
  result.bytes_after = LiveBytes(storage);
  return result;
}

}  // namespace annals::internal
