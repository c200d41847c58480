// Internal: the write path. Every append goes through Writer::Submit; the
// writer checks expected revisions against the stream heads, assigns
// revisions, positions, timestamps and chain hashes, and commits a whole
// group of waiting requests as ONE WriteBatch (group commit, DESIGN.md §4).
//
// The writer is a role, not a thread: the first caller that finds no group
// in progress leads the next one and commits on behalf of everyone queued
// behind it (as RocksDB's own WriteThread does). A lone appender therefore
// never pays a thread hand-off; under load each fsync still covers every
// request that was waiting. docs/ARCHITECTURE.md records the measurement.
#ifndef ANNALS_ENGINE_WRITER_H_
#define ANNALS_ENGINE_WRITER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "annals/append.h"
#include "annals/base/mutex.h"
#include "annals/errors.h"
#include "annals/event.h"
#include "annals/options.h"
#include "annals/stats.h"
#include "annals/streams.h"
#include "hash_chain.h"
#include "rocksdb/write_batch.h"
#include "storage.h"
#include "stream_records.h"

namespace annals::internal {

// What the writer knows of one stream.
struct LoadedStream {
  // The stream has had events: its numbering continues after last_revision
  // (even when they are deleted).
  bool exists = false;
  Revision last_revision;
  Position last_position;
  // The `streams` record; record.stream_id == 0 while there is none.
  StreamRecord record;

  uint64_t stream_id() const { return record.stream_id; }
  // Soft-deleted: every event hidden by truncate_before.
  bool deleted() const {
    return exists && record.truncate_before.has_value() &&
           *record.truncate_before > last_revision.value();
  }
  // What expected-revision checks see: a soft-deleted stream is no stream.
  bool visible() const { return exists && !deleted(); }
};

// A lifecycle operation (annals/streams.h), committed through the writer so
// that it is ordered with appends and recorded in `$$<stream>`. kSchemas is
// a schema registration that breaks stored events (EventStoreImpl::
// RegisterSchemas): its registry keys and its audit event in `stream`
// (`$schemas` itself, not `$$$schemas`) commit together.
struct LifecycleChange {
  enum class Kind { kSetMetadata, kDelete, kTombstone, kSchemas };
  Kind kind = Kind::kSetMetadata;
  std::string stream;
  StreamMetadata metadata;  // kSetMetadata
  LifecycleOptions options;
  std::vector<std::pair<std::string, std::string>> meta_puts;  // kSchemas: `meta` key, value
  std::string audit_data;                                      // kSchemas: the event's JSON
};

// The audit stream of `stream`'s lifecycle operations.
std::string AuditStreamOf(std::string_view stream);

// The state recovered from disk when the store opens.
struct RecoveredState {
  Position head;
  ChainHash chain_head = kGenesisChainHash;
  int64_t last_recorded_at_us = 0;
  uint64_t next_stream_id = 1;
};

// Runs inside group commit: the one call from the write path into the read
// side (docs/ARCHITECTURE.md, deviations). Sees each event as it is staged;
// what it writes goes into the group's WriteBatch at BeforeWrite, so its
// effects commit (or roll back) with the appends themselves. Called by the
// committing thread, one group at a time, under the writer's lock. Its one
// implementation adapts the read side's extension::InlineHook
// (annals/read_side.h; engine/read_side.cc).
class InlineHook {
 public:
  virtual ~InlineHook() = default;
  // A non-OK status rejects the request the event belongs to.
  virtual absl::Status Apply(const EventRecord& event) = 0;
  // The request staged since the last call was kept, or rolled back.
  virtual void EndRequest(bool kept) = 0;
  // Before the group's write: `last` is its last position.
  virtual void BeforeWrite(rocksdb::WriteBatch& batch, Position last) = 0;
  // After it (or when nothing was written): whether it committed.
  virtual void AfterWrite(bool committed) = 0;
};

class Writer {
 public:
  Writer(std::shared_ptr<Storage> storage, const StoreOptions& options, RecoveredState recovered);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Commits `request` (already validated) with the next group. Blocks until
  // it is committed or rejected. `caller_ids[i]` says whether the events of
  // request.appends[i] carry ids the caller chose (only those are indexed
  // for idempotency). Unavailable once Close() has begun.
  absl::StatusOr<std::vector<AppendResult>> Submit(MultiAppendRequest request,
                                                   std::vector<bool> caller_ids)
      ABSL_LOCKS_EXCLUDED(queue_mu_, write_mu_);

  // Commits independent requests (each already validated, with its
  // caller_ids) in the same group when they fit one (max_group_requests),
  // each succeeding or failing on its own, as if each were Submitted by a
  // thread of its own at once, but with no thread per request and no wait
  // for more to arrive (the caller brings the whole group). One result per
  // request, in order.
  std::vector<absl::StatusOr<std::vector<AppendResult>>> SubmitEach(
      std::vector<std::pair<MultiAppendRequest, std::vector<bool>>> requests)
      ABSL_LOCKS_EXCLUDED(queue_mu_, write_mu_);

  // Commits a lifecycle operation with the next group. Returns the position
  // of its audit event.
  absl::StatusOr<Position> SubmitLifecycle(LifecycleChange change)
      ABSL_LOCKS_EXCLUDED(queue_mu_, write_mu_);

  // Runs `fn` with no group being committed (Scavenge's deletes), then
  // forgets the cached head of `stream` so the next use rereads its record.
  void RunExclusive(const std::string& stream, const std::function<void()>& fn)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Runs `catch_up` with no group committing, then (if it succeeded)
  // installs `hook` for every later group: nothing commits in between.
  absl::Status AddInlineHook(std::shared_ptr<InlineHook> hook,
                             const std::function<absl::Status()>& catch_up)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  void RemoveInlineHook(const InlineHook* hook) ABSL_LOCKS_EXCLUDED(write_mu_);

  // Writes `batch` while no group is committing. Every write to RocksDB
  // outside group commit (checkpoints) goes through here, so RocksDB never
  // merges writers itself: its write-group hand-off is invisible to TSan in
  // an uninstrumented librocksdb.
  absl::Status WriteExclusive(rocksdb::WriteBatch& batch, bool sync) ABSL_LOCKS_EXCLUDED(write_mu_);

  // Commits imported events (Import, already validated) as one
  // synced batch while no group commits: each keeps its id, revision,
  // position and recorded_at; `$$<stream>` lifecycle events take effect.
  absl::Status Import(std::vector<EventRecord> events) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Subscriptions and WaitForHead: waits until head() > `seen`, `stop` is
  // set, subscriptions are closed, or `deadline`.
  enum class Wake { kAdvanced, kTimeout, kStopped };
  Wake AwaitHeadBeyond(Position seen, absl::Time deadline, const std::atomic<bool>& stop)
      ABSL_LOCKS_EXCLUDED(notify_mu_);
  // Wakes every AwaitHeadBeyond so it rechecks `stop`.
  void WakeWaiters() ABSL_LOCKS_EXCLUDED(notify_mu_);
  // True once Close() has run: subscriptions end.
  bool closed_for_subscriptions() const {
    return subscriptions_closed_.load(std::memory_order_acquire);
  }

  // Read-only stores: publishes a head another process committed (Refresh).
  void PublishExternalHead(Position head) {
    // Concurrent Refresh calls may finish out of order: the head only grows.
    uint64_t seen = published_head_.load(std::memory_order_relaxed);
    while (seen < head.value() &&
           !published_head_.compare_exchange_weak(seen, head.value(), std::memory_order_release)) {
    }
    WakeWaiters();
  }

  // The last published position: every position up to it is committed.
  Position head() const { return Position(published_head_.load(std::memory_order_acquire)); }

  // Blocks until head() >= position. Returns at once for a position already
  // published; used by readers that saw a commit before its publication.
  void AwaitPublished(Position position) ABSL_LOCKS_EXCLUDED(queue_mu_);

  // Rejects new requests, then waits for queued ones to commit.
  void Close() ABSL_LOCKS_EXCLUDED(queue_mu_);

  // Fills the writer's counters of `stats` (annals/stats.h): relaxed loads,
  // no lock.
  void ReadCounters(StoreStats& stats) const;

 private:
  struct Request {
    MultiAppendRequest input;
    std::optional<LifecycleChange> lifecycle;          // instead of `input`
    std::vector<bool> caller_ids;                      // per append, see Submit
    absl::StatusOr<std::vector<AppendResult>> result;  // written by the leader
    bool done = false;                                 // guarded by queue_mu_
    // Its caller sleeps here until done or at the queue's front with no
    // leader; the leader wakes exactly the callers it completed.
    std::condition_variable wake;
    // The call that submitted it (SubmitEach submits several) and the
    // condition it sleeps on; set by SubmitAll.
    const void* owner = nullptr;
    std::condition_variable* waker = nullptr;
  };
  struct GroupState;

  // Before taking a group: waits briefly for writers expected back soon.
  void AwaitGroupFill(Request& leader) ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_);

  // Commits `group` as one WriteBatch and fills each request's result.
  // REQUIRES: called by the current leader only.
  void CommitGroup(const std::vector<Request*>& group) ABSL_LOCKS_EXCLUDED(queue_mu_);
  // Checks one request and stages its writes into `group`. Returns the
  // request's results or its error (then nothing of it is staged).
  absl::StatusOr<std::vector<AppendResult>> Stage(Request& request, GroupState& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<std::vector<AppendResult>> StageLifecycle(const LifecycleChange& change,
                                                           GroupState& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<std::vector<AppendResult>> StageSchemaChange(const LifecycleChange& change,
                                                              GroupState& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Import: applies the lifecycle operation an imported `$$<stream>` audit
  // event records to its stream's record. `where` prefixes errors.
  absl::Status StageImportedLifecycle(const EventRecord& e, const std::string& where,
                                      GroupState& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Stages `events` at the end of `stream` (head as loaded) with their index
  // entries; creates the stream's record if it has none.
  absl::StatusOr<AppendResult> StageEvents(const std::string& stream, LoadedStream head,
                                           std::vector<EventData>& events, bool index_ids,
                                           GroupState& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<LoadedStream> LoadHead(const std::string& stream, const GroupState& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Stages the time-index entry of `position`, recorded at `recorded_at_us`,
  // if it is the first of its bucket after the event recorded at
  // `previous_us` (nullopt: the store's first event).
  void StageTimeEntry(GroupState& group, int64_t recorded_at_us, std::optional<int64_t> previous_us,
                      Position position) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Stages the stream-id counter if the group assigned ids.
  void StageStreamIdCounter(GroupState& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // After a group's write: adopts its heads and state, publishes its last
  // position and wakes subscriptions.
  void AdoptCommitted(GroupState& group,
                      const absl::flat_hash_map<std::string, LoadedStream>& heads, Position last,
                      int64_t last_recorded_at_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<std::vector<AppendResult>> SubmitRequest(Request& request)
      ABSL_LOCKS_EXCLUDED(queue_mu_, write_mu_);
  // Queues `mine` (one call's requests, in order) and returns once all are
  // committed, leading groups when one of them is first in line. With
  // `fill`, a leader may wait briefly for more writers (AwaitGroupFill).
  void SubmitAll(const std::vector<Request*>& mine, bool fill)
      ABSL_LOCKS_EXCLUDED(queue_mu_, write_mu_);

  // Constant after construction.
  const std::shared_ptr<Storage> storage_;
  const StoreOptions options_;

  // The queue of waiting requests and the leader flag.
  Mutex queue_mu_;
  std::deque<Request*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool leader_active_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool closed_ ABSL_GUARDED_BY(queue_mu_) = false;
  // Requests in the last group, and the leader (if any) waiting for the
  // next group to fill (commit delay, see AwaitGroupFill).
  size_t last_group_size_ ABSL_GUARDED_BY(queue_mu_) = 0;
  Request* waiting_leader_ ABSL_GUARDED_BY(queue_mu_) = nullptr;

  // Held by the leader while it builds and commits a group; never contended
  // (leader_active_ admits one leader), it names the state only a leader may
  // touch so Clang can check it.
  Mutex write_mu_ ABSL_ACQUIRED_AFTER(queue_mu_);
  absl::flat_hash_map<std::string, LoadedStream> heads_ ABSL_GUARDED_BY(write_mu_);
  Position committed_head_ ABSL_GUARDED_BY(write_mu_);
  ChainHash chain_head_ ABSL_GUARDED_BY(write_mu_);
  int64_t last_recorded_at_us_ ABSL_GUARDED_BY(write_mu_);
  uint64_t next_stream_id_ ABSL_GUARDED_BY(write_mu_);
  std::vector<std::shared_ptr<InlineHook>> inline_hooks_ ABSL_GUARDED_BY(write_mu_);

  // Readers load it without a lock; the leader stores it after each commit.
  std::atomic<uint64_t> published_head_;
  // Subscriptions sleep on notify_cv_ until the head moves (AwaitHeadBeyond).
  Mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::atomic<bool> subscriptions_closed_{false};
  // Duration of the last synced commit in µs: bounds the commit delay.
  // Written by the leader, read by the next one.
  std::atomic<int64_t> last_sync_micros_{0};
  // GetStoreStats' counters: bumped by the leader after each committed
  // group with relaxed atomics (no lock on the append path), read by anyone.
  struct Counters {
    std::atomic<uint64_t> groups{0};
    std::atomic<uint64_t> events{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> synced_groups{0};
    std::atomic<uint64_t> group_requests_sum{0};
    std::atomic<uint64_t> group_requests_max{0};
    std::atomic<uint64_t> group_size_buckets[StoreStats::kGroupSizeBuckets] = {};
  };
  Counters counters_;
  void CountGroup(size_t requests, uint64_t events, uint64_t bytes);
};

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_WRITER_H_
