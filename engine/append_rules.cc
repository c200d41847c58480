#include "append_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "annals/schemas.h"
#include "status_util.h"

namespace annals::internal {

bool Satisfies(ExpectedRevision expected, const LoadedStream& head) {
  switch (expected.kind()) {
    case ExpectedRevision::Kind::kAny:
      return true;
    case ExpectedRevision::Kind::kNoStream:
      return !head.visible();
    case ExpectedRevision::Kind::kStreamExists:
      return head.visible();
    case ExpectedRevision::Kind::kExact:
      // A soft-deleted stream still knows its last revision, and numbering
      // continues after it: naming it recreates the stream (KurrentDB's rule).
      return head.exists && head.last_revision == expected.revision();
  }
  return false;
}

StreamConflict ConflictOf(const std::string& stream, ExpectedRevision expected,
                          const LoadedStream& head) {
  StreamConflict conflict{stream, expected, std::nullopt};
  if (head.visible()) conflict.actual = head.last_revision;
  return conflict;
}

absl::Status TombstonedError(const std::string& stream) {
  return absl::FailedPreconditionError(
      absl::StrCat("stream '", stream, "' is deleted (tombstoned); its name cannot be used again"));
}

namespace {

// Looks up the event stored at (stream, revision), staged ones first.
absl::StatusOr<std::optional<std::pair<EventId, Position>>> FindEventAt(Storage& storage,
                                                                        const Staged& request,
                                                                        const Staged& group,
                                                                        uint64_t stream_id,
                                                                        Revision revision) {
  StreamRevisionKey key{stream_id, revision.value()};
  if (auto it = request.events.find(key); it != request.events.end()) return it->second;
  if (auto it = group.events.find(key); it != group.events.end()) return it->second;
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kStreamEvents),
                                        StreamEventKey(stream_id, revision), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksDb(s, "read stream event");
  storage::v1::StoredEvent stored;
  if (!stored.ParseFromString(value)) return absl::DataLossError("stored event does not parse");
  std::optional<EventId> id = EventId::FromBytes(stored.event_id());
  if (!id) return absl::DataLossError("stored event has a malformed event id");
  return std::make_pair(*id, Position(stored.position()));
}

}  // namespace

absl::StatusOr<IdMatch> MatchStoredFrom(Storage& storage, const Staged& request,
                                        const Staged& group, const LoadedStream& head,
                                        Revision first, const std::vector<EventData>& events) {
  IdMatch match;
  for (size_t k = 0; k < events.size(); ++k) {
    Revision revision(first.value() + k);
    if (revision > head.last_revision) break;
    ANNALS_ASSIGN_OR_RETURN(auto found,
                            FindEventAt(storage, request, group, head.stream_id(), revision));
    if (!found.has_value() || found->first != events[k].event_id) continue;
    if (match.matched == 0) match.original.first_position = found->second;
    ++match.matched;
    match.original.last_position = found->second;
  }
  match.original.first_revision = first;
  match.original.last_revision = Revision(first.value() + events.size() - 1);
  return match;
}

absl::StatusOr<IdMatch> MatchStoredIds(Storage& storage, const Staged& request, const Staged& group,
                                       const LoadedStream& head,
                                       const std::vector<EventData>& events) {
  IdMatch match;
  bool consecutive = true;
  for (size_t k = 0; k < events.size(); ++k) {
    EventIdStreamKey key{events[k].event_id, head.stream_id()};
    std::optional<EventIdValue> found;
    if (auto it = request.ids.find(key); it != request.ids.end()) {
      found = it->second;
    } else if (auto it2 = group.ids.find(key); it2 != group.ids.end()) {
      found = it2->second;
    } else {
      std::string value;
      rocksdb::Status s =
          storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kEventIds),
                            EventIdKey(events[k].event_id, head.stream_id()), &value);
      if (!s.ok() && !s.IsNotFound()) return FromRocksDb(s, "read event id");
      if (s.ok()) {
        found = DecodeEventIdValue(value);
        if (!found) return absl::DataLossError("event id entry is malformed");
      }
    }
    if (!found) continue;
    if (match.matched == 0) {
      match.original.first_revision = found->revision;
      match.original.first_position = found->position;
    } else if (found->revision.value() != match.original.last_revision.value() + 1) {
      consecutive = false;
    }
    if (match.matched != k) consecutive = false;
    ++match.matched;
    match.original.last_revision = found->revision;
    match.original.last_position = found->position;
  }
  // Ids found out of order count as a partial overlap, never as a retry.
  if (!consecutive && match.matched == events.size()) match.matched = events.size() - 1;
  return match;
}

absl::Status PartialOverlapError(const std::string& stream, const IdMatch& match,
                                 size_t event_count) {
  return absl::AlreadyExistsError(
      absl::StrCat("append to '", stream, "' partially repeats an earlier append: ", match.matched,
                   " of ", event_count,
                   " event ids are already stored in the stream; retry with the exact original "
                   "events or with new ids"));
}

absl::StatusOr<std::optional<IdMatch>> MatchRetry(Storage& storage, const Staged& request,
                                                  const Staged& group, const LoadedStream& head,
                                                  const AppendRequest& append, bool caller_ids,
                                                  bool passes) {
  using Kind = ExpectedRevision::Kind;
  const ExpectedRevision expected = append.expected;
  if (!head.visible()) return std::nullopt;
  if (passes && caller_ids &&
      (expected.kind() == Kind::kAny || expected.kind() == Kind::kStreamExists)) {
    return MatchStoredIds(storage, request, group, head, append.events);
  }
  if (!passes && (expected.kind() == Kind::kNoStream ||
                  (expected.kind() == Kind::kExact && expected.revision() < head.last_revision))) {
    const Revision first =
        expected.kind() == Kind::kNoStream ? Revision(0) : expected.revision().Next();
    return MatchStoredFrom(storage, request, group, head, first, append.events);
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ApplyLifecycleChange(const LifecycleChange& change,
                                                 const LoadedStream& head, StreamRecord& record,
                                                 LifecycleData& data) {
  using Kind = LifecycleChange::Kind;
  std::string type;
  switch (change.kind) {
    case Kind::kSetMetadata: {
      type = std::string(kMetadataEventType);
      record.max_count = change.metadata.max_count;
      record.max_age_us.reset();
      if (change.metadata.max_age) {
        record.max_age_us = absl::ToInt64Microseconds(*change.metadata.max_age);
      }
      // New settings never undelete: a soft delete's truncation stays.
      std::optional<uint64_t> truncate;
      if (change.metadata.truncate_before) truncate = change.metadata.truncate_before->value();
      if (head.deleted() && (!truncate || *truncate < *record.truncate_before)) {
        truncate = record.truncate_before;
      }
      record.truncate_before = truncate;
      record.custom_json = change.metadata.custom_json;
      data.max_count = record.max_count;
      data.max_age_us = record.max_age_us;
      data.truncate_before = record.truncate_before;
      data.custom_json = record.custom_json;
      break;
    }
    case Kind::kDelete:
      if (!head.visible()) {
        return absl::NotFoundError(absl::StrCat("stream '", change.stream, "' not found"));
      }
      type = std::string(kStreamDeletedEventType);
      record.truncate_before = head.last_revision.value() + 1;
      data.truncate_before = record.truncate_before;
      break;
    case Kind::kTombstone:
      if (!head.exists) {
        return absl::NotFoundError(absl::StrCat("stream '", change.stream, "' not found"));
      }
      type = std::string(kStreamTombstonedEventType);
      record.tombstoned = true;
      break;
    case Kind::kSchemas:
      return absl::InternalError("schema changes are staged by StageSchemaChange");
  }
  return type;
}

}  // namespace annals::internal
