// Inline mode (ProjectionRunner::RegisterInline): the projection runs as an
// InlineHook inside the store's group commit — the one call the write path
// makes into the read side (docs/ARCHITECTURE.md, deviations). Its writes
// and its checkpoint (the group's last position) join the group's write.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "annals/projection.h"
#include "runner_internal.h"
#include "staged_writer.h"

namespace annals::projection_internal {
namespace {

// Applies each event as the writer stages it. A request's writes stay
// pending until the writer keeps or rolls back that request; the kept ones
// go into the group's write. Touched only under the store's writer lock (one
// group at a time).
class InlineProjector final : public extension::InlineHook {
 public:
  explicit InlineProjector(Projector& p) : p_(p), writer_(*p.read_side, p.model_prefix) {}

  absl::Status Apply(const EventRecord& event) override {
    if (!p_.spec.filter.Matches(event)) return absl::OkStatus();
    absl::Status applied = p_.spec.apply(event, writer_);
    if (applied.ok()) return applied;
    return absl::FailedPreconditionError(
        absl::StrCat("inline projection '", p_.spec.name, "' rejected ", event.stream, "@",
                     event.revision.value(), ": ", applied.ToString()));
  }
  void EndRequest(bool kept) override {
    if (kept) {
      writer_.Keep();
    } else {
      writer_.Drop();
    }
  }
  void BeforeWrite(Position last, ReadSideBatch& writes) override {
    writer_.MoveTo(writes);
    PutCheckpoint(writes, p_.spec, last.value());
    last_ = last.value();
  }
  void AfterWrite(bool committed) override {
    writer_.Clear();
    const uint64_t last = last_;
    last_ = 0;
    if (!committed || last == 0) return;
    MutexLock lock(&p_.mu);
    p_.checkpoint = last;
    p_.progress.notify_all();
  }

 private:
  Projector& p_;
  StagedWriter writer_;
  uint64_t last_ = 0;  // the last position of the group being written
};

}  // namespace

absl::Status StartInline(Projector& p) {
  absl::StatusOr<storage::v1::ProjectionCheckpoint> stored =
      ReadCheckpoint(*p.read_side, p.spec.name, p.spec.version);
  if (!stored.ok()) return stored.status();
  {
    MutexLock lock(&p.mu);
    p.checkpoint = stored->position();
    p.state = ProjectionState::kCatchingUp;
  }
  // Most of the history without blocking appends, the rest with no group
  // committing, then the hook: no event can fall between the two.
  const ReadSide::CommitFn commit = [&p](const ReadSideBatch& batch) {
    return p.read_side->Commit(batch);
  };
  if (absl::Status s = CatchUp(p, commit); !s.ok()) return s;
  auto hook = std::make_shared<InlineProjector>(p);
  absl::Status added = p.read_side->AddInlineHook(
      hook, [&p](const ReadSide::CommitFn& locked) { return CatchUp(p, locked); });
  if (!added.ok()) return added;
  p.inline_hook = std::move(hook);
  {
    MutexLock lock(&p.mu);
    p.state = ProjectionState::kLive;
  }
  MaybeSwitchServing(p);
  return absl::OkStatus();
}

}  // namespace annals::projection_internal
