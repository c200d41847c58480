// The writer's queue, leaders and group commit (docs/ARCHITECTURE.md, "Write
// path"): callers enqueue, the first waiting one leads a group, stages its
// requests (writer_stage.cc), writes ONE WriteBatch and publishes the head.
#include "writer.h"

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
#include "sync_point.h"
#include "writer_group.h"

namespace annals::internal {

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
  Request request{std::move(input),
                  std::nullopt,
                  std::move(caller_ids),
                  absl::UnknownError("not committed"),
                  false,
                  {}};
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
  // Under notify_mu_: a wake after this point cannot be missed (tests wait
  // here for a subscriber to be blocked).
  ANNALS_SYNC_POINT("Writer::AwaitHeadBeyond:Waiting");
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
  SubmitAll({&request}, /*fill=*/true);
  return std::move(request.result);
}

std::vector<absl::StatusOr<std::vector<AppendResult>>> Writer::SubmitEach(
    std::vector<std::pair<MultiAppendRequest, std::vector<bool>>> requests) {
  std::deque<Request> queued;  // stable addresses: the queue points into it
  std::vector<Request*> mine;
  for (auto& entry : requests) {
    Request& request = queued.emplace_back();
    request.input = std::move(entry.first);
    request.caller_ids = std::move(entry.second);
    request.result = absl::UnknownError("not committed");
    mine.push_back(&request);
  }
  std::vector<absl::StatusOr<std::vector<AppendResult>>> results;
  if (mine.empty()) return results;
  SubmitAll(mine, /*fill=*/false);
  results.reserve(queued.size());
  for (Request& request : queued) results.push_back(std::move(request.result));
  return results;
}

void Writer::SubmitAll(const std::vector<Request*>& mine, bool fill) {
  Request& last = *mine.back();
  for (Request* r : mine) {
    r->owner = &last;
    r->waker = &last.wake;
  }
  auto is_mine = [&last](const Request* r) { return r->owner == &last; };
  queue_mu_.Lock();
  if (closed_) {
    queue_mu_.Unlock();
    for (Request* r : mine) r->result = absl::UnavailableError("the store is closed");
    return;
  }
  for (Request* r : mine) queue_.push_back(r);
  if (waiting_leader_ != nullptr) waiting_leader_->waker->notify_one();
  // Sleep until a leader has committed them all (they are queued together
  // and groups take the queue in order: the last one done means all are),
  // or until one is first in line with no leader: then this caller leads.
  queue_mu_.AwaitOn(last.wake, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
    return last.done || (!leader_active_ && !queue_.empty() && is_mine(queue_.front()));
  });
  // This caller leads groups until its own requests have been committed
  // (they may span more than one group).
  while (!last.done) {
    leader_active_ = true;
    if (fill) AwaitGroupFill(last);
    std::vector<Request*> group;
    while (!queue_.empty() && group.size() < options_.tuning.max_group_requests) {
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    // What AwaitGroupFill expects back: threads that each brought one
    // request; a caller that brings its group (SubmitEach) is not waited for.
    last_group_size_ = fill ? group.size() : 0;
    queue_mu_.Unlock();
    CommitGroup(group);
    queue_mu_.Lock();
    for (Request* r : group) {
      r->done = true;
      if (!is_mine(r)) r->waker->notify_one();
    }
    leader_active_ = false;
    // The next in line leads the next group; Close() and AwaitPublished()
    // wait on the shared condition.
    if (!queue_.empty() && !is_mine(queue_.front())) queue_.front()->waker->notify_one();
    queue_mu_.SignalAll();
  }
  queue_mu_.Unlock();
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
      *leader.waker,
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

  StageTimeEntry(
      group, group.recorded_at_us,
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
  CountGroup(staged_requests.size(), group.next_position.value() - committed_head_.Next().value(),
             group.batch.GetDataSize());
  AdoptCommitted(group, group.staged.heads, Position(group.next_position.value() - 1),
                 group.recorded_at_us);
}

void Writer::CountGroup(size_t requests, uint64_t events, uint64_t bytes) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  counters_.groups.fetch_add(1, kRelaxed);
  counters_.events.fetch_add(events, kRelaxed);
  counters_.bytes.fetch_add(bytes, kRelaxed);
  if (options_.sync) counters_.synced_groups.fetch_add(1, kRelaxed);
  counters_.group_requests_sum.fetch_add(requests, kRelaxed);
  // Only the leader writes: a plain compare is enough.
  if (requests > counters_.group_requests_max.load(kRelaxed)) {
    counters_.group_requests_max.store(requests, kRelaxed);
  }
  for (int i = 0; i < StoreStats::kGroupSizeBuckets; ++i) {
    if (requests <= StoreStats::kGroupSizeBounds[i])
      counters_.group_size_buckets[i].fetch_add(1, kRelaxed);
  }
}

void Writer::ReadCounters(StoreStats& stats) const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  stats.head = head();
  stats.commit_groups = counters_.groups.load(kRelaxed);
  stats.events_appended = counters_.events.load(kRelaxed);
  stats.bytes_appended = counters_.bytes.load(kRelaxed);
  stats.synced_groups = counters_.synced_groups.load(kRelaxed);
  stats.group_requests_sum = counters_.group_requests_sum.load(kRelaxed);
  stats.group_requests_max = counters_.group_requests_max.load(kRelaxed);
  for (int i = 0; i < StoreStats::kGroupSizeBuckets; ++i) {
    stats.group_size_buckets[i] = counters_.group_size_buckets[i].load(kRelaxed);
  }
}

void Writer::StageTimeEntry(GroupState& group, int64_t recorded_at_us,
                            std::optional<int64_t> previous_us, Position position) {
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
  group.batch.Put(storage_->cf(Cf::kMeta), std::string(kMetaNextStreamIdKey),
                  counter.SerializeAsString());
}

void Writer::AdoptCommitted(GroupState& group,
                            const absl::flat_hash_map<std::string, LoadedStream>& heads,
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

std::string AuditStreamOf(std::string_view stream) {
  return absl::StrCat("$$", std::string(stream));
}

}  // namespace annals::internal
