#include "writer.h"

#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "annals/schemas.h"
#include "annals/storage/v1/meta.pb.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "annals/storage/v1/stream_info.pb.h"
#include "event_codec.h"
#include "indexes.h"
#include "key_codec.h"
#include "lifecycle_data.h"
#include "status_util.h"
#include "stream_heads.h"

namespace annals::internal {
namespace {

// The most stream heads kept in memory; past it the cache starts over (a miss
// costs one bloom-filtered point read).
constexpr size_t kMaxCachedHeads = 1 << 20;

using StreamRevisionKey = std::pair<uint64_t, uint64_t>;
using EventIdStreamKey = std::pair<EventId, uint64_t>;

bool Satisfies(ExpectedRevision expected, const StreamHead& head) {
  switch (expected.kind()) {
    case ExpectedRevision::Kind::kAny:
      return true;
    case ExpectedRevision::Kind::kNoStream:
      return !head.visible();
    case ExpectedRevision::Kind::kStreamExists:
      return head.visible();
    case ExpectedRevision::Kind::kExact:
      return head.visible() && head.last_revision == expected.revision();
  }
  return false;
}

StreamConflict ConflictOf(const std::string& stream, ExpectedRevision expected,
                          const StreamHead& head) {
  StreamConflict conflict{stream, expected, std::nullopt};
  if (head.visible()) conflict.actual = head.last_revision;
  return conflict;
}

absl::Status TombstonedError(const std::string& stream) {
  return absl::FailedPreconditionError(
      absl::StrCat("stream '", stream, "' is deleted (tombstoned); its name cannot be used again"));
}

// Writes staged by one request: merged into the group only if the whole
// request passes its checks.
struct Staged {
  absl::flat_hash_map<std::string, StreamHead> heads;
  absl::flat_hash_map<StreamRevisionKey, std::pair<EventId, Position>> events;
  absl::flat_hash_map<EventIdStreamKey, EventIdValue> ids;

  void MergeInto(Staged& other) {
    for (auto& [k, v] : heads) other.heads[k] = v;
    for (auto& [k, v] : events) other.events[k] = v;
    for (auto& [k, v] : ids) other.ids[k] = v;
  }
};

// How many of an append's event ids are already stored where a retry of the
// same append would have put them.
struct IdMatch {
  size_t matched = 0;
  AppendResult original;
};

}  // namespace

struct Writer::GroupState {
  rocksdb::WriteBatch batch;
  Position next_position;
  ChainHash chain;
  uint64_t next_stream_id;
  bool stream_id_counter_dirty = false;
  int64_t recorded_at_us;
  Staged staged;    // requests of this group already accepted
  Staged request;   // the request being staged now
  storage::v1::StoredEvent scratch;
};

Writer::Writer(std::shared_ptr<Storage> storage, const StoreOptions& options,
               RecoveredState recovered)
    : storage_(std::move(storage)),
      options_(options),
      committed_head_(recovered.head),
      chain_head_(recovered.chain_head),
      last_recorded_at_us_(recovered.last_recorded_at_us),
      next_stream_id_(recovered.next_stream_id),
      published_head_(recovered.head.value()) {}

absl::StatusOr<std::vector<AppendResult>> Writer::Submit(MultiAppendRequest input,
                                                         std::vector<bool> caller_ids) {
  Request request{std::move(input), std::nullopt, std::move(caller_ids),
                  absl::UnknownError("not committed"), false, {}};
  return SubmitRequest(request);
}

absl::StatusOr<Position> Writer::SubmitLifecycle(LifecycleChange change) {
  Request request{{}, std::move(change), {}, absl::UnknownError("not committed"), false, {}};
  absl::StatusOr<std::vector<AppendResult>> result = SubmitRequest(request);
  if (!result.ok()) return result.status();
  return result->front().last_position;
}

void Writer::RunExclusive(const std::string& stream, const std::function<void()>& fn) {
  MutexLock lock(&write_mu_);
  fn();
  heads_.erase(stream);
}

absl::Status Writer::AddInlineHook(std::shared_ptr<InlineHook> hook,
                                   const std::function<absl::Status()>& catch_up) {
  MutexLock lock(&write_mu_);
  ANNALS_RETURN_IF_ERROR(catch_up());
  inline_hooks_.push_back(std::move(hook));
  return absl::OkStatus();
}

void Writer::RemoveInlineHook(const InlineHook* hook) {
  MutexLock lock(&write_mu_);
  std::erase_if(inline_hooks_, [&](const auto& h) { return h.get() == hook; });
}

absl::Status Writer::WriteExclusive(rocksdb::WriteBatch& batch, bool sync) {
  MutexLock lock(&write_mu_);
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  return FromRocksDb(storage_->db()->Write(write_options, &batch), "write");
}

Writer::Wake Writer::AwaitHeadBeyond(Position seen, absl::Time deadline,
                                     const std::atomic<bool>& stop) {
  auto stopped = [&] {
    return stop.load(std::memory_order_acquire) ||
           subscriptions_closed_.load(std::memory_order_acquire);
  };
  MutexLock lock(&notify_mu_);
  const bool woke = notify_mu_.AwaitOnWithTimeout(
      notify_cv_, [&] { return head() > seen || stopped(); },
      std::max(deadline - absl::Now(), absl::ZeroDuration()));
  if (stopped()) return Wake::kStopped;
  return woke ? Wake::kAdvanced : Wake::kTimeout;
}

void Writer::WakeWaiters() {
  // Taking the lock orders this wake after any waiter's predicate check.
  { MutexLock lock(&notify_mu_); }
  notify_cv_.notify_all();
}

absl::StatusOr<std::vector<AppendResult>> Writer::SubmitRequest(Request& request) {
  queue_mu_.Lock();
  if (closed_) {
    queue_mu_.Unlock();
    return absl::UnavailableError("the store is closed");
  }
  queue_.push_back(&request);
  if (waiting_leader_ != nullptr) waiting_leader_->wake.notify_one();
  // Sleep until a leader has committed this request, or until it is first in
  // line with no leader: then this caller leads.
  queue_mu_.AwaitOn(request.wake, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
    return request.done ||
           (!leader_active_ && !queue_.empty() && queue_.front() == &request);
  });
  // This caller leads groups until its own request has been committed (it
  // may sit beyond the first group's size limit).
  while (!request.done) {
    leader_active_ = true;
    AwaitGroupFill(request);
    std::vector<Request*> group;
    while (!queue_.empty() && group.size() < options_.tuning.max_group_requests) {
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    last_group_size_ = group.size();
    queue_mu_.Unlock();
    CommitGroup(group);
    queue_mu_.Lock();
    for (Request* r : group) {
      r->done = true;
      if (r != &request) r->wake.notify_one();
    }
    leader_active_ = false;
    // The next in line leads the next group; Close() and AwaitPublished()
    // wait on the shared condition.
    if (!queue_.empty() && queue_.front() != &request) queue_.front()->wake.notify_one();
    queue_mu_.SignalAll();
  }
  queue_mu_.Unlock();
  return std::move(request.result);
}

void Writer::AwaitGroupFill(Request& leader) {
  // Commit delay (PostgreSQL's commit_delay, made adaptive). The writers the
  // last group released are on their way back with their next request; if
  // fewer are queued than were in that group, wait up to half an fsync for
  // them, so that one fsync covers them all. A lone writer (last group of
  // one) and unsynced stores never wait.
  if (!options_.sync || queue_.size() >= last_group_size_) return;
  const int64_t sync_micros = last_sync_micros_.load(std::memory_order_relaxed);
  const absl::Duration delay = absl::Microseconds(std::min<int64_t>(sync_micros / 2, 2000));
  if (delay <= absl::ZeroDuration()) return;
  waiting_leader_ = &leader;
  queue_mu_.AwaitOnWithTimeout(
      leader.wake,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return queue_.size() >= last_group_size_ || closed_;
      },
      delay);
  waiting_leader_ = nullptr;
}

void Writer::AwaitPublished(Position position) {
  if (head() >= position) return;
  MutexLock lock(&queue_mu_);
  queue_mu_.Await([&] { return head() >= position; });
}

void Writer::Close() {
  {
    MutexLock lock(&queue_mu_);
    closed_ = true;
    queue_mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
      return queue_.empty() && !leader_active_;
    });
  }
  subscriptions_closed_.store(true, std::memory_order_release);
  WakeWaiters();
}

absl::StatusOr<StreamHead> Writer::LoadHead(const std::string& stream, const GroupState& group) {
  if (auto it = group.request.heads.find(stream); it != group.request.heads.end()) {
    return it->second;
  }
  if (auto it = group.staged.heads.find(stream); it != group.staged.heads.end()) return it->second;
  if (auto it = heads_.find(stream); it != heads_.end()) return it->second;

  StreamHead head;
  std::optional<StreamRecord> record;
  ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(*storage_, stream));
  if (record.has_value()) {
    head.record = *record;
    std::optional<StreamTail> tail;
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

namespace {

// Looks up the event stored at (stream, revision), staged ones first.
absl::StatusOr<std::optional<std::pair<EventId, Position>>> FindEventAt(
    Storage& storage, const Staged& request, const Staged& group, uint64_t stream_id,
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

// KurrentDB's rule for a retry whose expected revision is behind: compare the
// incoming ids with the events stored from `first` on.
absl::StatusOr<IdMatch> MatchStoredFrom(Storage& storage, const Staged& request,
                                        const Staged& group, const StreamHead& head,
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

// Best-effort deduplication for `any` / `stream_exists`: where are the ids?
absl::StatusOr<IdMatch> MatchStoredIds(Storage& storage, const Staged& request,
                                       const Staged& group, const StreamHead& head,
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

}  // namespace

std::string AuditStreamOf(std::string_view stream) { return absl::StrCat("$$", std::string(stream)); }

namespace {

absl::Status PartialOverlapError(const std::string& stream, const IdMatch& match,
                                 size_t event_count) {
  return absl::AlreadyExistsError(absl::StrCat(
      "append to '", stream, "' partially repeats an earlier append: ", match.matched, " of ",
      event_count, " event ids are already stored in the stream; retry with the exact original "
      "events or with new ids"));
}

}  // namespace

absl::StatusOr<std::vector<AppendResult>> Writer::Stage(Request& request, GroupState& group) {
  MultiAppendRequest& input = request.input;
  Storage& storage = *storage_;
  std::vector<StreamConflict> conflicts;
  if (request.lifecycle.has_value()) return StageLifecycle(*request.lifecycle, group);
  for (const StreamCondition& condition : input.conditions) {
    ANNALS_ASSIGN_OR_RETURN(StreamHead head, LoadHead(condition.stream, group));
    if (head.record.tombstoned) return TombstonedError(condition.stream);
    if (!Satisfies(condition.expected, head)) {
      conflicts.push_back(ConflictOf(condition.stream, condition.expected, head));
    }
  }

  std::vector<StreamHead> heads;
  std::vector<std::optional<AppendResult>> replays(input.appends.size());
  size_t replay_count = 0;
  for (size_t i = 0; i < input.appends.size(); ++i) {
    const AppendRequest& append = input.appends[i];
    ANNALS_ASSIGN_OR_RETURN(StreamHead head, LoadHead(append.stream, group));
    if (head.record.tombstoned) return TombstonedError(append.stream);
    heads.push_back(head);
    const ExpectedRevision expected = append.expected;
    using Kind = ExpectedRevision::Kind;
    std::optional<IdMatch> match;
    bool passes = Satisfies(expected, head);
    if (passes && head.visible() && request.caller_ids[i] &&
        (expected.kind() == Kind::kAny || expected.kind() == Kind::kStreamExists)) {
      ANNALS_ASSIGN_OR_RETURN(match,
                              MatchStoredIds(storage, group.request, group.staged, head, append.events));
    } else if (!passes && head.visible() &&
               (expected.kind() == Kind::kNoStream ||
                (expected.kind() == Kind::kExact && expected.revision() < head.last_revision))) {
      Revision first = expected.kind() == Kind::kNoStream ? Revision(0) : expected.revision().Next();
      ANNALS_ASSIGN_OR_RETURN(match, MatchStoredFrom(storage, group.request, group.staged, head,
                                                     first, append.events));
    }
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
    for (auto& replay : replays) results.push_back(*replay);
    return results;
  }
  if (replay_count > 0) {
    // Part of a multi-stream request is a repeat and part is not: all or
    // nothing means none of it can go in now.
    for (size_t i = 0; i < replays.size(); ++i) {
      if (replays[i]) {
        conflicts.push_back(ConflictOf(input.appends[i].stream, input.appends[i].expected, heads[i]));
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
    ANNALS_ASSIGN_OR_RETURN(
        AppendResult result,
        StageEvents(append.stream, heads[i], append.events, request.caller_ids[i], group));
    results.push_back(result);
  }
  return results;
}

absl::StatusOr<AppendResult> Writer::StageEvents(const std::string& stream, StreamHead head,
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
      // Inline projections see the event as stored and write into this batch.
      EventRecord record;
      ANNALS_RETURN_IF_ERROR(DecodeStoredEvent(value, &record));
      for (const auto& hook : inline_hooks_) ANNALS_RETURN_IF_ERROR(hook->Apply(record, group.batch));
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
  ANNALS_ASSIGN_OR_RETURN(StreamHead head, LoadHead(change.stream, group));
  if (head.record.tombstoned) return TombstonedError(change.stream);
  if (!Satisfies(change.options.expected, head)) {
    return WrongExpectedRevisionError(
        WrongExpectedRevision{{ConflictOf(change.stream, change.options.expected, head)}});
  }
  StreamRecord& record = head.record;
  EventData audit;
  LifecycleData data;
  switch (change.kind) {
    case Kind::kSetMetadata: {
      audit.type = std::string(kMetadataEventType);
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
      data.max_count = record.max_count;
      data.max_age_us = record.max_age_us;
      data.truncate_before = record.truncate_before;
      break;
    }
    case Kind::kDelete:
      if (!head.visible()) {
        return absl::NotFoundError(absl::StrCat("stream '", change.stream, "' not found"));
      }
      audit.type = std::string(kStreamDeletedEventType);
      record.truncate_before = head.last_revision.value() + 1;
      data.truncate_before = record.truncate_before;
      break;
    case Kind::kTombstone:
      if (!head.exists) {
        return absl::NotFoundError(absl::StrCat("stream '", change.stream, "' not found"));
      }
      audit.type = std::string(kStreamTombstonedEventType);
      record.tombstoned = true;
      break;
    case Kind::kSchemas:
      return absl::InternalError("schema changes are staged by StageSchemaChange");
  }
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
  audit.event_id = EventId::Generate();
  const std::string audit_stream = AuditStreamOf(change.stream);
  ANNALS_ASSIGN_OR_RETURN(StreamHead audit_head, LoadHead(audit_stream, group));
  std::vector<EventData> events;
  events.push_back(std::move(audit));
  ANNALS_ASSIGN_OR_RETURN(AppendResult result,
                          StageEvents(audit_stream, audit_head, events, false, group));
  return std::vector<AppendResult>{result};
}

absl::StatusOr<std::vector<AppendResult>> Writer::StageSchemaChange(const LifecycleChange& change,
                                                                    GroupState& group) {
  // The registry's keys and the event recording them, in one batch: a
  // breaking registration is written if and only if it is recorded.
  for (const auto& [key, value] : change.meta_puts) group.batch.Put(storage_->cf(Cf::kMeta), key, value);
  EventData audit;
  audit.type = std::string(kSchemasChangedType);
  audit.data = change.audit_data;
  audit.content_type = "application/json";
  if (!change.options.actor.empty()) audit.metadata["actor"] = change.options.actor;
  if (!change.options.reason.empty()) audit.metadata["reason"] = change.options.reason;
  audit.event_id = EventId::Generate();
  ANNALS_ASSIGN_OR_RETURN(StreamHead head, LoadHead(change.stream, group));
  std::vector<EventData> events;
  events.push_back(std::move(audit));
  ANNALS_ASSIGN_OR_RETURN(AppendResult result, StageEvents(change.stream, head, events, false, group));
  return std::vector<AppendResult>{result};
}

void Writer::CommitGroup(const std::vector<Request*>& group_requests) {
  MutexLock lock(&write_mu_);
  GroupState group;
  group.next_position = committed_head_.Next();
  group.chain = chain_head_;
  group.next_stream_id = next_stream_id_;
  int64_t now_us = absl::ToUnixMicros(options_.clock ? options_.clock() : absl::Now());
  // recorded_at never goes backwards, even when the clock does.
  group.recorded_at_us = std::max(now_us, last_recorded_at_us_);

  std::vector<Request*> staged_requests;
  for (Request* request : group_requests) {
    const Position saved_position = group.next_position;
    const ChainHash saved_chain = group.chain;
    const uint64_t saved_stream_id = group.next_stream_id;
    const bool saved_dirty = group.stream_id_counter_dirty;
    group.batch.SetSavePoint();
    group.request = Staged();
    absl::StatusOr<std::vector<AppendResult>> result = Stage(*request, group);
    if (result.ok()) {
      group.batch.PopSavePoint().PermitUncheckedError();
      group.request.MergeInto(group.staged);
      if (group.next_position != saved_position) staged_requests.push_back(request);
    } else {
      // A failed check fails only its own request (DESIGN.md §4).
      group.batch.RollbackToSavePoint().PermitUncheckedError();
      group.next_position = saved_position;
      group.chain = saved_chain;
      group.next_stream_id = saved_stream_id;
      group.stream_id_counter_dirty = saved_dirty;
    }
    for (const auto& hook : inline_hooks_) hook->EndRequest(result.ok());
    request->result = std::move(result);
  }
  if (staged_requests.empty()) {
    for (const auto& hook : inline_hooks_) hook->AfterWrite(false);
    return;
  }
  for (const auto& hook : inline_hooks_) {
    hook->BeforeWrite(group.batch, Position(group.next_position.value() - 1));
  }

  StageTimeEntry(group, group.recorded_at_us,
                 committed_head_.value() == 0 ? std::nullopt : std::optional<int64_t>(last_recorded_at_us_),
                 committed_head_.Next());
  StageStreamIdCounter(group);
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  const absl::Time write_start = absl::Now();
  rocksdb::Status s = storage_->db()->Write(write_options, &group.batch);
  if (options_.sync) {
    last_sync_micros_.store(absl::ToInt64Microseconds(absl::Now() - write_start),
                            std::memory_order_relaxed);
  }
  for (const auto& hook : inline_hooks_) hook->AfterWrite(s.ok());
  if (!s.ok()) {
    absl::Status error = FromRocksDb(s, "commit append group");
    for (Request* request : staged_requests) request->result = error;
    return;
  }
  AdoptCommitted(group, group.staged.heads, Position(group.next_position.value() - 1), group.recorded_at_us);
}

void Writer::StageTimeEntry(GroupState& group, int64_t recorded_at_us, std::optional<int64_t> previous_us,
                            Position position) {
  if (previous_us && TimeIndexBucket(recorded_at_us) <= TimeIndexBucket(*previous_us)) return;
  // The time index: the first position recorded in this bucket, keyed by its
  // exact recorded_at (FindPositionAt scans the rest of a bucket).
  std::string value;
  AppendBigEndian64(&value, position.value());
  group.batch.Put(storage_->cf(Cf::kByTime), TimeKey(recorded_at_us), value);
}

void Writer::StageStreamIdCounter(GroupState& group) {
  if (!group.stream_id_counter_dirty) return;
  storage::v1::StreamIdCounter counter;
  counter.set_next_stream_id(group.next_stream_id);
  group.batch.Put(storage_->cf(Cf::kMeta), std::string(kMetaNextStreamIdKey), counter.SerializeAsString());
}

void Writer::AdoptCommitted(GroupState& group, const absl::flat_hash_map<std::string, StreamHead>& heads,
                            Position last, int64_t last_recorded_at_us) {
  if (heads_.size() + heads.size() > kMaxCachedHeads) heads_.clear();
  for (const auto& [stream, head] : heads) heads_[stream] = head;
  committed_head_ = last;
  chain_head_ = group.chain;
  next_stream_id_ = group.next_stream_id;
  last_recorded_at_us_ = last_recorded_at_us;
  published_head_.store(committed_head_.value(), std::memory_order_release);
  WakeWaiters();
}

}  // namespace annals::internal

namespace annals::internal {

absl::Status Writer::StageImportedLifecycle(const EventRecord& e, const std::string& where, GroupState& group) {
  absl::StatusOr<LifecycleData> decoded = DecodeLifecycleData(e.type, e.data);
  if (!decoded.ok()) return absl::InvalidArgumentError(where + std::string(decoded.status().message()));
  const LifecycleData& data = *decoded;
  if (data.last_position && *data.last_position >= e.position.value()) {
    return absl::InvalidArgumentError(where + "lastPosition is not before the audit event");
  }
  if (data.last_revision && *data.last_revision >= *data.last_position) {
    return absl::InvalidArgumentError(where + "lastRevision is not below lastPosition");
  }
  const std::string target = e.stream.substr(2);
  const int64_t us = absl::ToUnixMicros(e.recorded_at);
  ANNALS_ASSIGN_OR_RETURN(StreamHead target_head, LoadHead(target, group));
  if (target_head.record.tombstoned) return TombstonedError(target);
  StreamRecord& record = target_head.record;
  if (e.type == kMetadataEventType) {
    record.max_count = data.max_count;
    record.max_age_us = data.max_age_us;
    record.truncate_before = data.truncate_before;
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
      return absl::StrCat("imported event ", i, " (", e.stream, "@", e.revision.value(), ", position ",
                          e.position.value(), "): ");
    };
    if (e.position <= last) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "positions must increase past ", last.value(), " (the store's head or the previous event)"));
    }
    const int64_t us = absl::ToUnixMicros(e.recorded_at);
    if (us < last_us) return absl::InvalidArgumentError(where() + "recorded_at goes backwards");
    ANNALS_ASSIGN_OR_RETURN(StreamHead head, LoadHead(e.stream, group));
    if (head.record.tombstoned) return TombstonedError(e.stream);
    if (head.exists && e.revision <= head.last_revision) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "revision must be after the stream's last, ",
                                                     head.last_revision.value()));
    }
    // The time index, as the source's commits wrote it: one entry for the
    // first event of each new bucket.
    StageTimeEntry(group, us, last.value() == 0 ? std::nullopt : std::optional<int64_t>(last_us), e.position);
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
    ANNALS_RETURN_IF_ERROR(StageEvents(e.stream, head, one, /*index_ids=*/!audit, group).status());
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
