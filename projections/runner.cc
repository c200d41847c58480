// ProjectionRunner (annals/projection.h): the async loop. One thread per
// projection pulls events from a filtered subscription, applies a batch to
// a StagedWriter, and commits the writes and the checkpoint in one write
// through the engine's read side (docs/ARCHITECTURE.md, "Read side").
// Also: catch-up (inline mode), stop, reset, status and waiting.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/projection.h"
#include "runner_internal.h"
#include "staged_writer.h"
#include "testing_hooks.h"

namespace annals::projection_internal {
namespace {

uint64_t CheckpointOf(Projector& p) {
  MutexLock lock(&p.mu);
  return p.checkpoint;
}

void PublishCheckpoint(Projector& p, uint64_t checkpoint, bool live) {
  MutexLock lock(&p.mu);
  p.checkpoint = checkpoint;
  if (live) p.state = ProjectionState::kLive;
  p.progress.notify_all();
}

// Stopped, or the store closed: waiters learn it at once.
void MarkStopped(Projector& p) {
  MutexLock lock(&p.mu);
  if (p.state != ProjectionState::kFailed) p.state = ProjectionState::kStopped;
  p.progress.notify_all();
}

// Nothing selected lately: still records how far the filter looked, so
// waiting for a position that holds no selected event ends.
absl::Status CommitIdle(Projector& p, uint64_t& committed) {
  const uint64_t reached = p.subscription->reached().value();
  if (reached > committed) {
    ReadSideBatch batch;
    if (absl::Status s = Commit(p, batch, reached); !s.ok()) return s;
    committed = reached;
  } else if (committed >= p.read_side->head().value()) {
    MutexLock lock(&p.mu);
    p.state = ProjectionState::kLive;
  }
  return absl::OkStatus();
}

// `first`, and the events after it that are ready now, up to batch_size.
std::vector<EventRecord> TakeBatch(Projector& p, EventRecord first) {
  std::vector<EventRecord> events;
  events.push_back(std::move(first));
  while (events.size() < p.spec.batch_size) {
    absl::StatusOr<EventRecord> more = p.subscription->Next(absl::ZeroDuration());
    if (!more.ok()) break;  // none ready now (or stopping): commit what we have
    events.push_back(*std::move(more));
  }
  return events;
}

absl::Status FailedOn(const Projector& p, const EventRecord& event, const absl::Status& applied) {
  return absl::Status(applied.code(),
                      absl::StrCat("projection '", p.spec.name, "' failed on ", event.stream, "@",
                                   event.revision.value(), " (position ", event.position.value(),
                                   "): ", applied.message()));
}

// Applies `events` and commits them with the checkpoint. Under kStop, an
// event that keeps failing ends the batch: the events before it commit and
// its failure is returned. `committed` is the checkpoint committed.
absl::Status ApplyBatch(Projector& p, const std::vector<EventRecord>& events, uint64_t& committed) {
  MutexLock apply(&p.apply_mu);
  StagedWriter writer(*p.read_side, p.model_prefix);
  ReadSideBatch batch;
  uint64_t checkpoint = p.subscription->reached().value();
  absl::Status failure;
  for (const EventRecord& event : events) {
    if (p.parked_streams.contains(event.stream)) {
      // A stream with a parked event: later ones wait behind it, in order.
      Park(p, event, "an earlier event of this stream is parked", batch);
      continue;
    }
    absl::Status applied = ApplyWithRetries(p, event, writer);
    if (applied.ok()) continue;
    if (p.spec.on_failure == OnFailure::kPark) {
      Park(p, event, applied.ToString(), batch);
      continue;
    }
    checkpoint = event.position.value() - 1;  // this event stays unapplied
    failure = FailedOn(p, event, applied);
    break;
  }
  writer.MoveTo(batch);
  if (absl::Status s = Commit(p, batch, checkpoint); !s.ok()) return s;
  committed = checkpoint;
  return failure;
}

void Run(Projector& p) {
  uint64_t committed = CheckpointOf(p);
  while (!p.stop) {
    absl::StatusOr<EventRecord> first = p.subscription->Next(absl::Milliseconds(100));
    if (absl::IsDeadlineExceeded(first.status())) {
      if (absl::Status s = CommitIdle(p, committed); !s.ok()) return Fail(p, s);
      MaybeSwitchServing(p);
      continue;
    }
    if (absl::IsCancelled(first.status())) return MarkStopped(p);
    if (!first.ok()) return Fail(p, first.status());
    const std::vector<EventRecord> events = TakeBatch(p, *std::move(first));
    if (absl::Status s = ApplyBatch(p, events, committed); !s.ok()) return Fail(p, s);
  }
}

}  // namespace

absl::Status Start(Projector& p) {
  absl::StatusOr<storage::v1::ProjectionCheckpoint> stored =
      ReadCheckpoint(*p.read_side, p.spec.name, p.spec.version);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<uint64_t> parked = LoadParkedStreams(p);
  if (!parked.ok()) return parked.status();
  SubscribeOptions options;
  options.filter = p.spec.filter;
  options.start = StartFrom::AfterPosition(Position(stored->position()));
  options.batch_size = p.spec.batch_size;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = p.store.Subscribe(options);
  if (!subscription.ok()) return subscription.status();
  p.subscription = *std::move(subscription);
  {
    MutexLock lock(&p.mu);
    p.checkpoint = stored->position();
    p.parked = *parked;
    p.state = ProjectionState::kCatchingUp;
    p.error = absl::OkStatus();
  }
  p.stop = false;
  p.thread = std::thread([&p] { Run(p); });
  return absl::OkStatus();
}

void Halt(Projector& p) {
  if (p.inline_mode) {
    // When RemoveInlineHook returns, no group runs the hook any more.
    if (p.inline_hook) p.read_side->RemoveInlineHook(p.inline_hook.get());
    p.inline_hook.reset();
  } else {
    p.stop = true;
    if (p.subscription) p.subscription->Stop();
    if (p.thread.joinable()) p.thread.join();
  }
  MarkStopped(p);
}

absl::Status CatchUp(Projector& p, const ReadSide::CommitFn& commit) {
  for (;;) {
    const uint64_t checkpoint = CheckpointOf(p);
    if (checkpoint >= p.read_side->head().value()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<EventIterator>> it =
        p.store.ReadAll({.from = Position(checkpoint + 1),
                         .max_count = p.spec.batch_size,
                         .filter = p.spec.filter});
    if (!it.ok()) return it.status();
    StagedWriter writer(*p.read_side, p.model_prefix);
    for (; (*it)->Valid(); (*it)->Next()) {
      if (absl::Status applied = ApplyWithRetries(p, (*it)->record(), writer); !applied.ok())
        return applied;
    }
    if (absl::Status s = (*it)->status(); !s.ok()) return s;
    const uint64_t reached = std::max(checkpoint + 1, (*it)->reached().value());
    ReadSideBatch batch;
    writer.MoveTo(batch);
    PutCheckpoint(batch, p.spec, reached);
    if (absl::Status s = commit(batch); !s.ok()) return s;
    PublishCheckpoint(p, reached, /*live=*/false);
  }
}

absl::Status ApplyWithRetries(Projector& p, const EventRecord& event, StagedWriter& writer) {
  absl::Duration backoff = p.spec.retry_backoff;
  absl::Status status;
  for (int attempt = 1; attempt <= p.spec.max_attempts; ++attempt) {
    status = p.spec.apply(event, writer);
    if (status.ok()) {
      writer.Keep();
      return status;
    }
    writer.Drop();
    if (attempt < p.spec.max_attempts && !p.stop) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
  }
  return status;
}

absl::Status Commit(Projector& p, ReadSideBatch& batch, uint64_t checkpoint) {
  // The read-model writes and the checkpoint: one write, all or nothing.
  PutCheckpoint(batch, p.spec, checkpoint);
  if (absl::Status s = p.read_side->Commit(batch); !s.ok()) return s;
  PublishCheckpoint(p, checkpoint, /*live=*/checkpoint >= p.read_side->head().value());
  return absl::OkStatus();
}

void Fail(Projector& p, absl::Status error) {
  MutexLock lock(&p.mu);
  p.state = ProjectionState::kFailed;
  p.error = std::move(error);
  p.progress.notify_all();
}

namespace {

Mutex wait_hook_mu;
std::function<void()> wait_hook ABSL_GUARDED_BY(wait_hook_mu);

void RunWaitHook() {
  std::function<void()> hook;
  {
    MutexLock lock(&wait_hook_mu);
    hook = wait_hook;
  }
  if (hook) hook();
}

}  // namespace

void SetWaitHookForTesting(std::function<void()> hook) {
  MutexLock lock(&wait_hook_mu);
  wait_hook = std::move(hook);
}

}  // namespace annals::projection_internal

namespace annals {

using projection_internal::MutexLock;
using projection_internal::Projector;

absl::StatusOr<Projector*> ProjectionRunner::Impl::Find(std::string_view name) const {
  MutexLock lock(&mu_);
  auto it = projectors_.find(std::string(name));
  if (it == projectors_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no projection '", std::string(name), "' is registered"));
  }
  return it->second.get();
}

void ProjectionRunner::Impl::Stop() {
  std::vector<Projector*> all;
  {
    MutexLock lock(&mu_);
    for (auto& [name, p] : projectors_) all.push_back(p.get());
  }
  for (Projector* p : all) projection_internal::Halt(*p);
}

ProjectionRunner::ProjectionRunner(EventStore& store) : impl_(std::make_unique<Impl>(store)) {}

ProjectionRunner::~ProjectionRunner() { Stop(); }

absl::Status ProjectionRunner::Register(ProjectionSpec spec) {
  return impl_->Register(std::move(spec), /*inline_mode=*/false);
}

absl::Status ProjectionRunner::RegisterInline(ProjectionSpec spec) {
  return impl_->Register(std::move(spec), /*inline_mode=*/true);
}

void ProjectionRunner::Stop() { impl_->Stop(); }

absl::Status ProjectionRunner::Reset(std::string_view name) {
  absl::StatusOr<Projector*> found = impl_->Find(name);
  if (!found.ok()) return found.status();
  Projector& p = **found;
  projection_internal::Halt(p);
  extension::ReadSideBatch batch;
  projection_internal::DropVersion(batch, p.spec.name, p.spec.version);
  if (absl::Status s = p.read_side->Commit(batch); !s.ok()) return s;
  return p.inline_mode ? projection_internal::StartInline(p) : projection_internal::Start(p);
}

absl::StatusOr<ProjectionStatus> ProjectionRunner::Status(std::string_view name) const {
  absl::StatusOr<Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  ProjectionStatus status;
  status.name = (*p)->spec.name;
  status.version = (*p)->spec.version;
  {
    MutexLock lock(&(*p)->mu);
    status.state = (*p)->state;
    status.checkpoint = Position((*p)->checkpoint);
    status.error = (*p)->error;
    status.parked = (*p)->parked;
    status.serving_version = (*p)->serving_version;
  }
  const uint64_t head = (*p)->read_side->head().value();
  status.lag = head > status.checkpoint.value() ? head - status.checkpoint.value() : 0;
  if (status.lag > 0) {
    // How old the first event it has not applied is.
    auto it = (*p)->store.ReadAll({.from = status.checkpoint.Next(), .max_count = 1});
    if (it.ok() && (*it)->Valid()) {
      status.time_behind =
          std::max(absl::ZeroDuration(), absl::Now() - (*it)->record().recorded_at);
    }
  }
  return status;
}

absl::Status ProjectionRunner::WaitForPosition(std::string_view name, Position position,
                                               absl::Duration timeout) const {
  absl::StatusOr<Projector*> found = impl_->Find(name);
  if (!found.ok()) return found.status();
  Projector& p = **found;
  MutexLock lock(&p.mu);
  projection_internal::RunWaitHook();
  p.mu.AwaitOnWithTimeout(
      p.progress,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.mu) {
        return p.checkpoint >= position.value() || p.state == ProjectionState::kFailed ||
               p.state == ProjectionState::kStopped;
      },
      timeout);
  if (p.checkpoint >= position.value()) return absl::OkStatus();
  if (p.state == ProjectionState::kFailed) {
    return absl::FailedPreconditionError(absl::StrCat("projection failed: ", p.error.ToString()));
  }
  if (p.state == ProjectionState::kStopped)
    return absl::FailedPreconditionError("projection is stopped");
  return absl::DeadlineExceededError(absl::StrCat("projection '", std::string(name),
                                                  "' is at position ", p.checkpoint, ", not ",
                                                  position.value()));
}

}  // namespace annals
