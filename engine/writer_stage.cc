// Staging a group's requests (docs/ARCHITECTURE.md, "Write path"): each
// request's checks against the stream heads, then its events, index entries
// and records into the group's WriteBatch; lifecycle operations and breaking
// schema registrations with their audit events.
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

absl::StatusOr<LoadedStream> Writer::LoadHead(const std::string& stream, const GroupState& group) {
  if (auto it = group.request.heads.find(stream); it != group.request.heads.end()) {
    return it->second;
  }
  if (auto it = group.staged.heads.find(stream); it != group.staged.heads.end()) return it->second;
  if (auto it = heads_.find(stream); it != heads_.end()) return it->second;

  LoadedStream head;
  std::optional<StreamRecord> record;
  ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(*storage_, stream));
  if (record.has_value()) {
    head.record = *record;
    std::optional<StreamHead> tail;
    ANNALS_ASSIGN_OR_RETURN(tail, ReadStreamHead(*storage_, *record));
    if (tail.has_value()) {
      head.exists = true;
      head.last_revision = tail->last_revision;
      head.last_position = tail->last_position;
    }
  }
  if (heads_.size() >= kMaxCachedHeads) heads_.clear();
  heads_[stream] = head;
  return head;
}

absl::StatusOr<std::vector<AppendResult>> Writer::Stage(Request& request, GroupState& group) {
  MultiAppendRequest& input = request.input;
  Storage& storage = *storage_;
  std::vector<StreamConflict> conflicts;
  if (request.lifecycle.has_value()) return StageLifecycle(*request.lifecycle, group);
  for (const StreamCondition& condition : input.conditions) {
    ANNALS_ASSIGN_OR_RETURN(LoadedStream head, LoadHead(condition.stream, group));
    if (head.record.tombstoned) return TombstonedError(condition.stream);
    if (!Satisfies(condition.expected, head)) {
      conflicts.push_back(ConflictOf(condition.stream, condition.expected, head));
    }
  }

  std::vector<LoadedStream> heads;
  std::vector<std::optional<AppendResult>> replays(input.appends.size());
  size_t replay_count = 0;
  for (size_t i = 0; i < input.appends.size(); ++i) {
    const AppendRequest& append = input.appends[i];
    ANNALS_ASSIGN_OR_RETURN(LoadedStream head, LoadHead(append.stream, group));
    if (head.record.tombstoned) return TombstonedError(append.stream);
    heads.push_back(head);
    const ExpectedRevision expected = append.expected;
    const bool passes = Satisfies(expected, head);
    ANNALS_ASSIGN_OR_RETURN(std::optional<IdMatch> match,
                            MatchRetry(storage, group.request, group.staged, head, append,
                                       request.caller_ids[i], passes));
    if (match.has_value() && match->matched == append.events.size()) {
      replays[i] = match->original;
      ++replay_count;
    } else if (match.has_value() && match->matched > 0) {
      return PartialOverlapError(append.stream, *match, append.events.size());
    } else if (!passes) {
      conflicts.push_back(ConflictOf(append.stream, expected, head));
    }
  }

  if (conflicts.empty() && replay_count == input.appends.size()) {
    // The whole request was committed before: answer as then, write nothing.
    std::vector<AppendResult> results;
    results.reserve(replays.size());
    for (auto& replay : replays) results.push_back(*replay);
    return results;
  }
  if (replay_count > 0) {
    // Part of a multi-stream request is a repeat and part is not: all or
    // nothing means none of it can go in now.
    for (size_t i = 0; i < replays.size(); ++i) {
      if (replays[i]) {
        conflicts.push_back(
            ConflictOf(input.appends[i].stream, input.appends[i].expected, heads[i]));
      }
    }
  }
  if (!conflicts.empty()) return WrongExpectedRevisionError(WrongExpectedRevision{conflicts});

  std::vector<AppendResult> results;
  results.reserve(input.appends.size());
  for (size_t i = 0; i < input.appends.size(); ++i) {
    AppendRequest& append = input.appends[i];
    // Only ids the caller chose can come back in a retry; ids the store made
    // up are never indexed (they cost W2 40% when they were).
    ANNALS_ASSIGN_OR_RETURN(AppendResult result, StageEvents(append.stream, heads[i], append.events,
                                                             request.caller_ids[i], group));
    results.push_back(result);
  }
  return results;
}

absl::StatusOr<AppendResult> Writer::StageEvents(const std::string& stream, LoadedStream head,
                                                 std::vector<EventData>& events, bool index_ids,
                                                 GroupState& group) {
  Storage& storage = *storage_;
  if (head.record.stream_id == 0) {
    head.record.stream_id = group.next_stream_id++;
    group.stream_id_counter_dirty = true;
    head.record.created_at_us = group.recorded_at_us;
    // The stream's record, written with its first event.
    group.batch.Put(storage.cf(Cf::kStreams), StreamKey(stream), head.record.Encode());
  }
  const uint64_t stream_id = head.record.stream_id;
  AppendResult result;
  result.first_revision = head.exists ? head.last_revision.Next() : Revision(0);
  result.first_position = group.next_position;
  Revision revision = result.first_revision;
  for (EventData& event : events) {
    const Position position = group.next_position;
    // Secondary indexes, in the same batch as the event (never out of step).
    ForEachIndexKey(stream, event.type, event.correlation_id, event.causation_id, position,
                    [&](Cf cf, const std::string& key) {
                      group.batch.Put(storage.cf(cf), key, rocksdb::Slice());
                    });
    storage::v1::StoredEvent& stored = group.scratch;
    stored.Clear();
    stored.set_stream_id(stream_id);
    stored.set_stream(stream);
    stored.set_revision(revision.value());
    stored.set_position(position.value());
    stored.set_event_id(std::string(event.event_id.AsBytes()));
    stored.set_type(std::move(event.type));
    stored.set_data(std::move(event.data));
    stored.set_content_type(std::move(event.content_type));
    for (auto& [key, value] : event.metadata) {
      storage::v1::MetadataEntry* entry = stored.add_metadata();
      entry->set_key(key);
      entry->set_value(value);
    }
    stored.set_correlation_id(std::move(event.correlation_id));
    stored.set_causation_id(std::move(event.causation_id));
    stored.set_recorded_at_us(group.recorded_at_us);
    std::string value = EncodeStoredEvent(stored, group.chain, &group.chain);

    if (!inline_hooks_.empty()) {
      // Inline projections see the event as stored (their writes join the
      // batch at BeforeWrite).
      EventRecord record;
      ANNALS_RETURN_IF_ERROR(DecodeStoredEvent(value, &record));
      for (const auto& hook : inline_hooks_) ANNALS_RETURN_IF_ERROR(hook->Apply(record));
    }
    group.batch.Put(storage.cf(Cf::kLog), LogKey(position), value);
    group.batch.Put(storage.cf(Cf::kStreamEvents), StreamEventKey(stream_id, revision), value);
    if (index_ids) {
      group.batch.Put(storage.cf(Cf::kEventIds), EventIdKey(event.event_id, stream_id),
                      EncodeEventIdValue({position, revision}));
      group.request.ids[{event.event_id, stream_id}] = {position, revision};
    }
    group.request.events[{stream_id, revision.value()}] = {event.event_id, position};
    result.last_revision = revision;
    result.last_position = position;
    revision = revision.Next();
    group.next_position = group.next_position.Next();
  }
  head.exists = true;
  head.last_revision = result.last_revision;
  head.last_position = result.last_position;
  group.request.heads[stream] = head;
  return result;
}

absl::StatusOr<std::vector<AppendResult>> Writer::StageLifecycle(const LifecycleChange& change,
                                                                 GroupState& group) {
  using Kind = LifecycleChange::Kind;
  if (change.kind == Kind::kSchemas) return StageSchemaChange(change, group);
  ANNALS_ASSIGN_OR_RETURN(LoadedStream head, LoadHead(change.stream, group));
  if (head.record.tombstoned) return TombstonedError(change.stream);
  const std::string audit_stream = AuditStreamOf(change.stream);
  ANNALS_ASSIGN_OR_RETURN(LoadedStream audit_head, LoadHead(audit_stream, group));
  if (change.options.event_id && audit_head.visible()) {
    std::vector<EventData> retried(1);
    retried.front().event_id = *change.options.event_id;
    ANNALS_ASSIGN_OR_RETURN(
        IdMatch match, MatchStoredIds(*storage_, group.request, group.staged, audit_head, retried));
    if (match.matched == 1) return std::vector<AppendResult>{match.original};
  }
  std::vector<StreamConflict> conflicts;
  if (!Satisfies(change.options.expected, head)) {
    conflicts.push_back(ConflictOf(change.stream, change.options.expected, head));
  }
  if (const auto& audit_expected = change.options.expected_audit;
      audit_expected && !Satisfies(*audit_expected, audit_head)) {
    conflicts.push_back(ConflictOf(audit_stream, *audit_expected, audit_head));
  }
  if (!conflicts.empty()) return WrongExpectedRevisionError(WrongExpectedRevision{conflicts});
  StreamRecord& record = head.record;
  LifecycleData data;
  EventData audit;
  ANNALS_ASSIGN_OR_RETURN(audit.type, ApplyLifecycleChange(change, head, record, data));
  if (head.exists) {
    // Scavenge may remove every event; the record keeps the numbering.
    record.last_revision = head.last_revision.value();
    record.last_position = head.last_position.value();
    record.last_recorded_at_us = group.recorded_at_us;
    // And the audit event, so an import restores it too.
    data.last_revision = head.last_revision.value();
    data.last_position = head.last_position.value();
  }
  if (record.stream_id == 0) {
    record.stream_id = group.next_stream_id++;
    group.stream_id_counter_dirty = true;
    record.created_at_us = group.recorded_at_us;
  }
  data.created_at_us = record.created_at_us;
  group.batch.Put(storage_->cf(Cf::kStreams), StreamKey(change.stream), record.Encode());
  group.request.heads[change.stream] = head;

  audit.data = EncodeLifecycleData(audit.type, data);
  audit.content_type = "application/json";
  if (!change.options.actor.empty()) audit.metadata["actor"] = change.options.actor;
  if (!change.options.reason.empty()) audit.metadata["reason"] = change.options.reason;
  audit.event_id = change.options.event_id.value_or(EventId::Generate());
  std::vector<EventData> events;
  events.push_back(std::move(audit));
  // An id the caller chose is indexed, as an append's, for its retry.
  ANNALS_ASSIGN_OR_RETURN(AppendResult result,
                          StageEvents(audit_stream, audit_head, events,
                                      /*index_ids=*/change.options.event_id.has_value(), group));
  return std::vector<AppendResult>{result};
}

absl::StatusOr<std::vector<AppendResult>> Writer::StageSchemaChange(const LifecycleChange& change,
                                                                    GroupState& group) {
  // The registry's keys and the event recording them, in one batch: a
  // breaking registration is written if and only if it is recorded.
  for (const auto& [key, value] : change.meta_puts)
    group.batch.Put(storage_->cf(Cf::kMeta), key, value);
  EventData audit;
  audit.type = std::string(kSchemasChangedType);
  audit.data = change.audit_data;
  audit.content_type = "application/json";
  if (!change.options.actor.empty()) audit.metadata["actor"] = change.options.actor;
  if (!change.options.reason.empty()) audit.metadata["reason"] = change.options.reason;
  audit.event_id = EventId::Generate();
  ANNALS_ASSIGN_OR_RETURN(LoadedStream head, LoadHead(change.stream, group));
  std::vector<EventData> events;
  events.push_back(std::move(audit));
  ANNALS_ASSIGN_OR_RETURN(AppendResult result,
                          StageEvents(change.stream, head, events, false, group));
  return std::vector<AppendResult>{result};
}

}  // namespace annals::internal
