// Internal to projections/: what the runner's files share. One Projector per
// registered projection; the functions over it, by file:
//   catalog.cc           Register, the stored checkpoint and serving versions,
//                        the version switch, ListStored
//   staged_writer.cc     the ReadModelWriter every `apply` writes through
//   inline_projector.cc  inline mode: the hook inside group commit
//   parked.cc            parked events: park, list, retry, skip
//   queries.cc           Get, Scan, ScanPrefix of the served version
//   runner.cc            the async loop, catch-up, commits, stop, status
// Everything reaches the store through the engine's read-side extension
// (annals/read_side.h) and builds no key itself (annals/read_side_keys.h).
#ifndef ANNALS_PROJECTIONS_RUNNER_INTERNAL_H_
#define ANNALS_PROJECTIONS_RUNNER_INTERNAL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "annals/base/mutex.h"
#include "annals/event_store.h"
#include "annals/projection.h"
#include "annals/read_side.h"
#include "annals/read_side_keys.h"
#include "annals/storage/v1/projection.pb.h"
#include "annals/subscription.h"

namespace annals::projection_internal {

using extension::ReadSide;
using extension::ReadSideBatch;
using extension::ReadSideFamily;
using internal::Mutex;
using internal::MutexLock;

class StagedWriter;

// One registered projection, its thread (async) or hook (inline).
struct Projector {
  Projector(EventStore& store, std::unique_ptr<ReadSide> read_side, ProjectionSpec spec,
            bool inline_mode);

  // Constant after construction.
  EventStore& store;
  const std::unique_ptr<ReadSide> read_side;
  const ProjectionSpec spec;
  const bool inline_mode;
  const std::string model_prefix;  // of spec.version

  // Held while a batch (or a parked retry, skip or reset) changes the read
  // model, so those never interleave.
  Mutex apply_mu ABSL_ACQUIRED_BEFORE(mu);
  absl::flat_hash_set<std::string> parked_streams ABSL_GUARDED_BY(apply_mu);

  // Held by a query from choosing the served version until its read is
  // done, and by the version switch around its write: a query never reads
  // a version being dropped.
  mutable Mutex serving_mu ABSL_ACQUIRED_BEFORE(mu);

  // Status, read by any thread; `progress` is notified when it changes.
  mutable Mutex mu;
  mutable std::condition_variable progress;
  uint64_t checkpoint ABSL_GUARDED_BY(mu) = 0;
  ProjectionState state ABSL_GUARDED_BY(mu) = ProjectionState::kCatchingUp;
  absl::Status error ABSL_GUARDED_BY(mu);
  uint64_t parked ABSL_GUARDED_BY(mu) = 0;
  uint32_t serving_version ABSL_GUARDED_BY(mu) = 0;

  // Async mode, set by Start before the thread starts.
  std::atomic<bool> stop{false};
  std::unique_ptr<Subscription> subscription;
  std::thread thread;
  // Inline mode: the hook inside the store's group commit, while installed.
  std::shared_ptr<extension::InlineHook> inline_hook;
};

// --- catalog.cc ---

// InvalidArgument naming the first field of `spec` that breaks its rule.
absl::Status ValidateSpec(const ProjectionSpec& spec);
// The version queries of `spec.name` read: the stored one, else (a new
// name) spec.version, then stored. FailedPrecondition if the store serves a
// newer version than spec.version.
absl::StatusOr<uint32_t> EnsureServingVersion(ReadSide& read_side, const ProjectionSpec& spec);
// The serving version of every projection the store knows, in name order.
absl::StatusOr<std::vector<std::pair<std::string, uint32_t>>> StoredServingVersions(
    const ReadSide& read_side);
// The stored checkpoint of one version (position 0 if it has none).
absl::StatusOr<storage::v1::ProjectionCheckpoint> ReadCheckpoint(const ReadSide& read_side,
                                                                 std::string_view name,
                                                                 uint32_t version);
// Adds the checkpoint of `spec` at `position`, stamped now, to `batch`.
void PutCheckpoint(ReadSideBatch& batch, const ProjectionSpec& spec, uint64_t position);
// Adds the removal of everything stored for one version of `name` (read
// model, checkpoint, parked events) to `batch`.
void DropVersion(ReadSideBatch& batch, std::string_view name, uint32_t version);
// Once the running version is live and is not the served one: serves it and
// drops the old version, in one write.
void MaybeSwitchServing(Projector& p);

// --- parked.cc ---

// Adds `event`, parked because of `why`, to `batch`; later events of its
// stream park behind it.
void Park(Projector& p, const EventRecord& event, const std::string& why, ReadSideBatch& batch)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.apply_mu);
// The parked events of one version of `name`, in position order (events
// scavenged since are left out).
absl::StatusOr<std::vector<ParkedEvent>> ReadParked(EventStore& store, const ReadSide& read_side,
                                                    std::string_view name, uint32_t version);
// Loads p.parked_streams from the stored parked events; returns their count.
absl::StatusOr<uint64_t> LoadParkedStreams(Projector& p);

// --- inline_projector.cc ---

// Catches `p` up from its stored checkpoint and installs its inline hook.
absl::Status StartInline(Projector& p);

// --- runner.cc ---

// Starts (or restarts) `p`'s thread from its stored checkpoint.
absl::Status Start(Projector& p);
// Stops `p` (joins its thread or removes its hook); state kStopped unless
// it failed.
void Halt(Projector& p);
// Applies the events after p.checkpoint up to the head in batches of
// spec.batch_size, each committed through `commit` with its checkpoint.
absl::Status CatchUp(Projector& p, const ReadSide::CommitFn& commit);
// Applies `event` up to spec.max_attempts times with doubling backoff; its
// writes are kept in `writer` only if an attempt succeeds.
absl::Status ApplyWithRetries(Projector& p, const EventRecord& event, StagedWriter& writer);
// Commits `batch` with the checkpoint at `checkpoint`, in one write; then
// publishes the checkpoint (and kLive once at the head).
absl::Status Commit(Projector& p, ReadSideBatch& batch, uint64_t checkpoint);
// State kFailed with `error`; wakes waiters.
void Fail(Projector& p, absl::Status error);

}  // namespace annals::projection_internal

namespace annals {

// The registry of one runner's projections.
class ProjectionRunner::Impl {
 public:
  explicit Impl(EventStore& store) : store_(store) {}

  // Validates `spec`, records its serving version and starts it (catalog.cc).
  absl::Status Register(ProjectionSpec spec, bool inline_mode);
  // NotFound for a name not registered.
  absl::StatusOr<projection_internal::Projector*> Find(std::string_view name) const;
  // Halts every projection.
  void Stop();

 private:
  EventStore& store_;
  mutable projection_internal::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<projection_internal::Projector>> projectors_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace annals

#endif  // ANNALS_PROJECTIONS_RUNNER_INTERNAL_H_
