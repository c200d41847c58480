// Writer::Import (annals/maintenance.h Import): events staged with their own
// ids, revisions, positions and times, lifecycle audit events applied again.
#include <utility>

#include "absl/strings/str_cat.h"
#include "annals/schemas.h"
#include "annals/storage/v1/meta.pb.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "annals/storage/v1/stream_record.pb.h"
#include "append_rules.h"
#include "event_codec.h"
#include "indexes.h"
#include "key_codec.h"
#include "lifecycle_data.h"
#include "status_util.h"
#include "stream_records.h"
#include "writer_group.h"

namespace annals::internal {

absl::Status Writer::StageImportedLifecycle(const EventRecord& e, const std::string& where,
                                            GroupState& group) {
  absl::StatusOr<LifecycleData> decoded = DecodeLifecycleData(e.type, e.data);
  if (!decoded.ok())
    return absl::InvalidArgumentError(where + std::string(decoded.status().message()));
  const LifecycleData& data = *decoded;
  if (data.last_position && *data.last_position >= e.position.value()) {
    return absl::InvalidArgumentError(where + "lastPosition is not before the audit event");
  }
  if (data.last_revision && *data.last_revision >= *data.last_position) {
    return absl::InvalidArgumentError(where + "lastRevision is not below lastPosition");
  }
  const std::string target = e.stream.substr(2);
  const int64_t us = absl::ToUnixMicros(e.recorded_at);
  ANNALS_ASSIGN_OR_RETURN(LoadedStream target_head, LoadHead(target, group));
  if (target_head.record.tombstoned) return TombstonedError(target);
  StreamRecord& record = target_head.record;
  if (e.type == kMetadataEventType) {
    record.max_count = data.max_count;
    record.max_age_us = data.max_age_us;
    record.truncate_before = data.truncate_before;
    record.custom_json = data.custom_json;
  } else if (e.type == kStreamDeletedEventType) {
    record.truncate_before = data.truncate_before;
  } else {
    record.tombstoned = true;
  }
  // The stream's head as the operation saw it, where the export lacks the
  // events that made it (the source's Scavenge removed them).
  if (data.last_revision) {
    if (!target_head.exists || target_head.last_revision.value() < *data.last_revision) {
      target_head.exists = true;
      target_head.last_revision = Revision(*data.last_revision);
      target_head.last_position = Position(*data.last_position);
    }
  } else if (e.type == kStreamDeletedEventType && !target_head.exists) {
    // An export written before audit events kept the head: the stream
    // ended at truncateBefore - 1, and its next append continues there.
    target_head.exists = true;
    target_head.last_revision = Revision(*record.truncate_before - 1);
    target_head.last_position = e.position;
  }
  if (target_head.exists) {
    record.last_revision = target_head.last_revision.value();
    record.last_position = target_head.last_position.value();
    record.last_recorded_at_us = us;
  }
  if (record.stream_id == 0) {
    record.stream_id = group.next_stream_id++;
    group.stream_id_counter_dirty = true;
    record.created_at_us = us;
  }
  if (data.created_at_us) record.created_at_us = *data.created_at_us;  // the source's, exactly
  group.batch.Put(storage_->cf(Cf::kStreams), StreamKey(target), record.Encode());
  group.request.heads[target] = target_head;
  return absl::OkStatus();
}

absl::Status Writer::Import(std::vector<EventRecord> events) {
  MutexLock lock(&write_mu_);
  if (!inline_hooks_.empty()) {
    return absl::FailedPreconditionError(
        "cannot import while inline projections are installed; import first, then register them");
  }
  GroupState group;
  group.chain = chain_head_;
  group.next_stream_id = next_stream_id_;
  Position last = committed_head_;
  int64_t last_us = last_recorded_at_us_;
  for (size_t i = 0; i < events.size(); ++i) {
    EventRecord& e = events[i];
    auto where = [&] {
      return absl::StrCat("imported event ", i, " (", e.stream, "@", e.revision.value(),
                          ", position ", e.position.value(), "): ");
    };
    if (e.position <= last) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "positions must increase past ",
                                                     last.value(),
                                                     " (the store's head or the previous event)"));
    }
    const int64_t us = absl::ToUnixMicros(e.recorded_at);
    if (us < last_us) return absl::InvalidArgumentError(where() + "recorded_at goes backwards");
    ANNALS_ASSIGN_OR_RETURN(LoadedStream head, LoadHead(e.stream, group));
    if (head.record.tombstoned) return TombstonedError(e.stream);
    if (head.exists && e.revision <= head.last_revision) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "revision must be after the stream's last, ", head.last_revision.value()));
    }
    // The time index, as the source's commits wrote it: one entry for the
    // first event of each new bucket.
    StageTimeEntry(group, us, last.value() == 0 ? std::nullopt : std::optional<int64_t>(last_us),
                   e.position);
    group.next_position = e.position;
    group.recorded_at_us = us;
    const bool audit = e.stream.starts_with("$$");
    if (audit) ANNALS_RETURN_IF_ERROR(StageImportedLifecycle(e, where(), group));
    // Revisions may skip (events scavenged in the source): numbering goes on
    // from the imported one.
    if (e.revision.value() > 0 && !(head.exists && head.last_revision.Next() == e.revision)) {
      head.exists = true;
      head.last_revision = Revision(e.revision.value() - 1);
    }
    std::vector<EventData> one(1);
    EventData& data = one.front();
    data.type = std::move(e.type);
    data.data = std::move(e.data);
    data.content_type = std::move(e.content_type);
    data.metadata = std::move(e.metadata);
    data.event_id = e.event_id;
    data.correlation_id = std::move(e.correlation_id);
    data.causation_id = std::move(e.causation_id);
    // Every id is indexed (which the source chose is not known), audit
    // events' too: a lifecycle change is retried by its id as well.
    ANNALS_RETURN_IF_ERROR(StageEvents(e.stream, head, one, /*index_ids=*/true, group).status());
    last = e.position;
    last_us = us;
  }
  if (events.empty()) return absl::OkStatus();
  StageStreamIdCounter(group);
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  ANNALS_RETURN_IF_ERROR(FromRocksDb(storage_->db()->Write(write_options, &group.batch), "import"));
  AdoptCommitted(group, group.request.heads, last, last_us);
  return absl::OkStatus();
}

}  // namespace annals::internal
