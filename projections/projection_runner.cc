// ProjectionRunner (annals/projection.h). One thread per projection pulls
// events from a filtered subscription, applies a batch to a staged
// read-model writer, and commits the writes and the checkpoint in one
// WriteBatch through the store's writer (docs/ARCHITECTURE.md, "Read side").
#include "annals/projection.h"

#include <condition_variable>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "annals/base/mutex.h"
#include "annals/storage/v1/projection.pb.h"
#include "internal_access.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "status_util.h"

namespace annals {
namespace {

using internal::Cf;
using internal::EngineHandles;
using internal::Mutex;
using internal::MutexLock;

void AppendBigEndian32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

// `read_models` keys: name 0x00 version(u32 BE) key.
std::string ModelPrefix(std::string_view name, uint32_t version) {
  std::string prefix(name);
  prefix.push_back('\0');
  AppendBigEndian32(&prefix, version);
  return prefix;
}
// `projections` keys: tag 0x00 name [0x00 version(u32 BE) [position(u64 BE)]].
std::string MetaKey(char tag, std::string_view name) {
  std::string key(1, tag);
  key.push_back('\0');
  key.append(name);
  return key;
}
std::string MetaKey(char tag, std::string_view name, uint32_t version) {
  std::string key = MetaKey(tag, name);
  key.push_back('\0');
  AppendBigEndian32(&key, version);
  return key;
}
std::string CheckpointKey(std::string_view name, uint32_t version) { return MetaKey('c', name, version); }
std::string ParkedPrefix(std::string_view name, uint32_t version) { return MetaKey('p', name, version); }
std::string ServingKey(std::string_view name) { return MetaKey('s', name); }
std::string ParkedKey(std::string_view name, uint32_t version, Position position) {
  std::string key = ParkedPrefix(name, version);
  internal::AppendBigEndian64(&key, position.value());
  return key;
}
// The first key after every key starting with `prefix` (prefixes here never
// end in 0xff bytes only).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The read-model writes of one batch: each event's writes are staged apart
// and kept only if its apply succeeds. Get reads through both.
class StagedWriter final : public ReadModelWriter {
 public:
  StagedWriter(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string prefix)
      : db_(db), cf_(cf), prefix_(std::move(prefix)) {}

  void Put(std::string_view key, std::string_view value) override {
    event_[prefix_ + std::string(key)] = std::string(value);
  }
  void Delete(std::string_view key) override { event_[prefix_ + std::string(key)] = std::nullopt; }
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    const std::string full = prefix_ + std::string(key);
    if (auto it = event_.find(full); it != event_.end()) return it->second;
    if (auto it = batch_.find(full); it != batch_.end()) return it->second;
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, full, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return internal::FromRocksDb(s, "read model get");
    return value;
  }

  void Accept() {
    for (auto& [key, value] : event_) batch_[key] = std::move(value);
    event_.clear();
  }
  void Discard() { event_.clear(); }
  void Fill(rocksdb::WriteBatch& batch) const {
    for (const auto& [key, value] : batch_) {
      if (value) {
        batch.Put(cf_, key, *value);
      } else {
        batch.Delete(cf_, key);
      }
    }
  }

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const std::string prefix_;
  std::map<std::string, std::optional<std::string>> batch_;
  std::map<std::string, std::optional<std::string>> event_;
};

}  // namespace

// One registered projection and its thread.
struct Projector {
  ProjectionSpec spec;
  EngineHandles engine;
  std::string model_prefix;  // of spec.version

  // Held while a batch (or a parked retry, skip or reset) changes the read
  // model, so those never interleave.
  Mutex apply_mu ABSL_ACQUIRED_BEFORE(mu);
  absl::flat_hash_set<std::string> parked_streams ABSL_GUARDED_BY(apply_mu);

  // Held by a query from choosing the served version until its read is
  // pinned (a Get done, an iterator created), and by the version switch
  // around its write: a query never reads a version being dropped.
  mutable Mutex serving_mu ABSL_ACQUIRED_BEFORE(mu);

  // Status, read by any thread.
  mutable Mutex mu;
  mutable std::condition_variable progress;
  uint64_t checkpoint ABSL_GUARDED_BY(mu) = 0;
  ProjectionState state ABSL_GUARDED_BY(mu) = ProjectionState::kCatchingUp;
  absl::Status error ABSL_GUARDED_BY(mu);
  uint64_t parked ABSL_GUARDED_BY(mu) = 0;
  uint32_t serving_version ABSL_GUARDED_BY(mu) = 0;

  std::atomic<bool> stop{false};
  std::unique_ptr<Subscription> subscription;  // set before the thread starts
  std::thread thread;
  // Inline mode: the hook inside the store's group commit (no thread).
  std::shared_ptr<internal::InlineHook> inline_hook;
};

namespace {

// An inline projection: applies each event as the writer stages it, into
// the group's own WriteBatch, and moves its checkpoint with the group.
class InlineProjector final : public internal::InlineHook {
 public:
  explicit InlineProjector(Projector& p) : p_(p) {}

  absl::Status Apply(const EventRecord& event, rocksdb::WriteBatch& batch) override {
    if (!p_.spec.filter.Matches(event)) return absl::OkStatus();
    Writer writer(*this, batch);
    absl::Status applied = p_.spec.apply(event, writer);
    if (applied.ok()) return applied;
    return absl::FailedPreconditionError(
        absl::StrCat("inline projection '", p_.spec.name, "' rejected ", event.stream, "@",
                     event.revision.value(), ": ", applied.ToString()));
  }
  void EndRequest(bool kept) override {
    if (kept) {
      for (auto& [key, value] : request_) group_[key] = std::move(value);
    }
    request_.clear();
  }
  void BeforeWrite(rocksdb::WriteBatch& batch, Position last) override {
    storage::v1::ProjectionCheckpoint stored;
    stored.set_position(last.value());
    stored.set_updated_at_us(absl::ToUnixMicros(absl::Now()));
    batch.Put(p_.engine.storage->cf(Cf::kProjections), CheckpointKey(p_.spec.name, p_.spec.version),
              stored.SerializeAsString());
    last_ = last.value();
  }
  void AfterWrite(bool committed) override {
    group_.clear();
    if (!committed || last_ == 0) return;
    MutexLock lock(&p_.mu);
    p_.checkpoint = last_;
    p_.progress.notify_all();
  }

 private:
  // Writes straight into the group's batch (rolled back with a failed
  // request); reads through this request's and this group's writes.
  class Writer final : public ReadModelWriter {
   public:
    Writer(InlineProjector& owner, rocksdb::WriteBatch& batch) : owner_(owner), batch_(batch) {}
    void Put(std::string_view key, std::string_view value) override {
      const std::string full = owner_.p_.model_prefix + std::string(key);
      batch_.Put(owner_.p_.engine.storage->cf(Cf::kReadModels), full, rocksdb::Slice(value.data(), value.size()));
      owner_.request_[full] = std::string(value);
    }
    void Delete(std::string_view key) override {
      const std::string full = owner_.p_.model_prefix + std::string(key);
      batch_.Delete(owner_.p_.engine.storage->cf(Cf::kReadModels), full);
      owner_.request_[full] = std::nullopt;
    }
    absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
      const std::string full = owner_.p_.model_prefix + std::string(key);
      if (auto it = owner_.request_.find(full); it != owner_.request_.end()) return it->second;
      if (auto it = owner_.group_.find(full); it != owner_.group_.end()) return it->second;
      std::string value;
      rocksdb::Status s = owner_.p_.engine.storage->db()->Get(
          rocksdb::ReadOptions(), owner_.p_.engine.storage->cf(Cf::kReadModels), full, &value);
      if (s.IsNotFound()) return std::nullopt;
      if (!s.ok()) return internal::FromRocksDb(s, "read model get");
      return value;
    }

   private:
    InlineProjector& owner_;
    rocksdb::WriteBatch& batch_;
  };

  Projector& p_;
  // Touched only under the store's writer lock (one group at a time).
  std::map<std::string, std::optional<std::string>> group_;
  std::map<std::string, std::optional<std::string>> request_;
  uint64_t last_ = 0;
};

}  // namespace

class ProjectionRunner::Impl {
 public:
  explicit Impl(EventStore& store) : store_(store) {}

  absl::Status Register(ProjectionSpec spec, bool inline_mode);
  void Stop();
  absl::StatusOr<Projector*> Find(std::string_view name) const;
  EventStore& store() const { return store_; }

  // Starts (or restarts) `p`'s thread from its stored checkpoint, or (inline)
  // catches it up and installs its hook.
  absl::Status Start(Projector& p);
  absl::Status StartInline(Projector& p);
  void Halt(Projector& p);

 private:
  void Run(Projector& p);
  // Applies the events after the stored checkpoint up to the head, in
  // committed batches (`locked`: the caller holds the writer's lock).
  absl::Status CatchUp(Projector& p, bool locked);
  absl::Status ApplyWithRetries(Projector& p, const EventRecord& event, StagedWriter& writer);
  void Park(Projector& p, const EventRecord& event, const std::string& why,
            rocksdb::WriteBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.apply_mu);
  absl::Status Commit(Projector& p, rocksdb::WriteBatch& batch, uint64_t checkpoint);
  void MaybeSwitchServing(Projector& p);
  void Fail(Projector& p, absl::Status error);

  EventStore& store_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Projector>> projectors_ ABSL_GUARDED_BY(mu_);
};

absl::Status ProjectionRunner::Impl::Register(ProjectionSpec spec, bool inline_mode) {
  if (!ValidName(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "projection name '", spec.name, "' must be 1-200 letters, digits, '-', '_' or '.'"));
  }
  if (!spec.apply) return absl::InvalidArgumentError("ProjectionSpec::apply is empty");
  if (spec.batch_size == 0) return absl::InvalidArgumentError("ProjectionSpec::batch_size must be > 0");
  if (spec.max_attempts < 1) return absl::InvalidArgumentError("ProjectionSpec::max_attempts must be >= 1");
  if (spec.version == 0) return absl::InvalidArgumentError("ProjectionSpec::version must be >= 1");
  absl::StatusOr<EngineHandles> engine = internal::EngineHandlesOf(store_);
  if (!engine.ok()) return engine.status();
  rocksdb::DB* db = engine->storage->db();

  auto p = std::make_unique<Projector>();
  p->engine = *engine;
  p->model_prefix = ModelPrefix(spec.name, spec.version);
  // The version queries read: the stored one, or this one for a new name.
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), engine->storage->cf(Cf::kProjections),
                              ServingKey(spec.name), &value);
  uint32_t serving = spec.version;
  if (s.ok()) {
    storage::v1::ServingVersion stored;
    if (!stored.ParseFromString(value)) return absl::DataLossError("serving version is malformed");
    serving = stored.version();
    if (serving > spec.version) {
      return absl::FailedPreconditionError(absl::StrCat(
          "projection '", spec.name, "' already serves version ", serving, "; register version ",
          serving, " or newer"));
    }
  } else if (s.IsNotFound()) {
    storage::v1::ServingVersion stored;
    stored.set_version(serving);
    rocksdb::WriteBatch batch;
    batch.Put(engine->storage->cf(Cf::kProjections), ServingKey(spec.name), stored.SerializeAsString());
    ANNALS_RETURN_IF_ERROR(engine->writer->WriteExclusive(batch, engine->sync));
  } else {
    return internal::FromRocksDb(s, "read serving version");
  }
  {
    MutexLock lock(&p->mu);
    p->serving_version = serving;
  }
  p->spec = std::move(spec);
  Projector* raw = p.get();
  {
    MutexLock lock(&mu_);
    if (!projectors_.emplace(raw->spec.name, std::move(p)).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("projection '", raw->spec.name, "' is already registered"));
    }
  }
  absl::Status started = inline_mode ? StartInline(*raw) : Start(*raw);
  if (!started.ok()) {
    MutexLock lock(&mu_);
    projectors_.erase(raw->spec.name);
  }
  return started;
}

absl::Status ProjectionRunner::Impl::CatchUp(Projector& p, bool locked) {
  rocksdb::DB* db = p.engine.storage->db();
  for (;;) {
    uint64_t checkpoint;
    {
      MutexLock lock(&p.mu);
      checkpoint = p.checkpoint;
    }
    if (checkpoint >= p.engine.writer->head().value()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<EventIterator>> it = store_.ReadAll(
        {.from = Position(checkpoint + 1), .max_count = p.spec.batch_size, .filter = p.spec.filter});
    if (!it.ok()) return it.status();
    StagedWriter writer(db, p.engine.storage->cf(Cf::kReadModels), p.model_prefix);
    for (; (*it)->Valid(); (*it)->Next()) {
      absl::Status applied = ApplyWithRetries(p, (*it)->record(), writer);
      if (!applied.ok()) return applied;
    }
    ANNALS_RETURN_IF_ERROR((*it)->status());
    rocksdb::WriteBatch batch;
    writer.Fill(batch);
    const uint64_t reached = std::max(checkpoint + 1, (*it)->reached().value());
    storage::v1::ProjectionCheckpoint stored;
    stored.set_position(reached);
    stored.set_updated_at_us(absl::ToUnixMicros(absl::Now()));
    batch.Put(p.engine.storage->cf(Cf::kProjections), CheckpointKey(p.spec.name, p.spec.version),
              stored.SerializeAsString());
    if (locked) {
      rocksdb::WriteOptions write_options;
      write_options.sync = p.engine.sync;
      ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(db->Write(write_options, &batch), "catch up"));
    } else {
      ANNALS_RETURN_IF_ERROR(p.engine.writer->WriteExclusive(batch, p.engine.sync));
    }
    MutexLock lock(&p.mu);
    p.checkpoint = reached;
    p.progress.notify_all();
  }
}

absl::Status ProjectionRunner::Impl::StartInline(Projector& p) {
  std::string value;
  rocksdb::Status s = p.engine.storage->db()->Get(rocksdb::ReadOptions(),
                                                  p.engine.storage->cf(Cf::kProjections),
                                                  CheckpointKey(p.spec.name, p.spec.version), &value);
  uint64_t checkpoint = 0;
  if (s.ok()) {
    storage::v1::ProjectionCheckpoint stored;
    if (!stored.ParseFromString(value)) return absl::DataLossError("projection checkpoint is malformed");
    checkpoint = stored.position();
  } else if (!s.IsNotFound()) {
    return internal::FromRocksDb(s, "read projection checkpoint");
  }
  {
    MutexLock lock(&p.mu);
    p.checkpoint = checkpoint;
    p.state = ProjectionState::kCatchingUp;
  }
  // Most of the history without blocking appends, the rest with no group
  // committing, then the hook: no event can fall between the two.
  ANNALS_RETURN_IF_ERROR(CatchUp(p, /*locked=*/false));
  p.inline_hook = std::make_shared<InlineProjector>(p);
  ANNALS_RETURN_IF_ERROR(
      p.engine.writer->AddInlineHook(p.inline_hook, [&] { return CatchUp(p, /*locked=*/true); }));
  {
    MutexLock lock(&p.mu);
    p.state = ProjectionState::kLive;
  }
  MaybeSwitchServing(p);
  return absl::OkStatus();
}

absl::Status ProjectionRunner::Impl::Start(Projector& p) {
  rocksdb::DB* db = p.engine.storage->db();
  rocksdb::ColumnFamilyHandle* meta = p.engine.storage->cf(Cf::kProjections);
  uint64_t checkpoint = 0;
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, CheckpointKey(p.spec.name, p.spec.version), &value);
  if (s.ok()) {
    storage::v1::ProjectionCheckpoint stored;
    if (!stored.ParseFromString(value)) return absl::DataLossError("projection checkpoint is malformed");
    checkpoint = stored.position();
  } else if (!s.IsNotFound()) {
    return internal::FromRocksDb(s, "read projection checkpoint");
  }
  // Parked streams, from the stored parked events.
  uint64_t parked = 0;
  {
    MutexLock lock(&p.apply_mu);
    p.parked_streams.clear();
    const std::string prefix = ParkedPrefix(p.spec.name, p.spec.version);
    const std::string end = PrefixEnd(prefix);
    rocksdb::Slice end_slice(end);
    rocksdb::ReadOptions read_options;
    read_options.iterate_upper_bound = &end_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, meta));
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      storage::v1::ParkedRecord record;
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("parked record is malformed");
      }
      p.parked_streams.insert(record.stream());
      ++parked;
    }
    ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "read parked events"));
  }
  SubscribeOptions options;
  options.filter = p.spec.filter;
  options.start = StartFrom::AfterPosition(Position(checkpoint));
  options.batch_size = p.spec.batch_size;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = store_.Subscribe(options);
  if (!subscription.ok()) return subscription.status();
  p.subscription = *std::move(subscription);
  {
    MutexLock lock(&p.mu);
    p.checkpoint = checkpoint;
    p.parked = parked;
    p.state = ProjectionState::kCatchingUp;
    p.error = absl::OkStatus();
  }
  p.stop = false;
  p.thread = std::thread([this, &p] { Run(p); });
  return absl::OkStatus();
}

void ProjectionRunner::Impl::Halt(Projector& p) {
  if (p.inline_hook) {
    p.engine.writer->RemoveInlineHook(p.inline_hook.get());
    MutexLock lock(&p.mu);
    p.state = ProjectionState::kStopped;
    p.progress.notify_all();
    return;
  }
  p.stop = true;
  if (p.subscription) p.subscription->Stop();
  if (p.thread.joinable()) p.thread.join();
  MutexLock lock(&p.mu);
  if (p.state != ProjectionState::kFailed) p.state = ProjectionState::kStopped;
  p.progress.notify_all();
}

void ProjectionRunner::Impl::Stop() {
  std::vector<Projector*> all;
  {
    MutexLock lock(&mu_);
    for (auto& [name, p] : projectors_) all.push_back(p.get());
  }
  for (Projector* p : all) Halt(*p);
}

absl::StatusOr<Projector*> ProjectionRunner::Impl::Find(std::string_view name) const {
  MutexLock lock(&mu_);
  auto it = projectors_.find(std::string(name));
  if (it == projectors_.end()) {
    return absl::NotFoundError(absl::StrCat("no projection '", std::string(name), "' is registered"));
  }
  return it->second.get();
}

absl::Status ProjectionRunner::Impl::ApplyWithRetries(Projector& p, const EventRecord& event,
                                                      StagedWriter& writer) {
  absl::Duration backoff = p.spec.retry_backoff;
  absl::Status status;
  for (int attempt = 1; attempt <= p.spec.max_attempts; ++attempt) {
    status = p.spec.apply(event, writer);
    if (status.ok()) {
      writer.Accept();
      return status;
    }
    writer.Discard();
    if (attempt < p.spec.max_attempts && !p.stop) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
  }
  return status;
}

void ProjectionRunner::Impl::Park(Projector& p, const EventRecord& event, const std::string& why,
                                  rocksdb::WriteBatch& batch) {
  storage::v1::ParkedRecord record;
  record.set_stream(event.stream);
  record.set_error(why);
  record.set_parked_at_us(absl::ToUnixMicros(absl::Now()));
  batch.Put(p.engine.storage->cf(Cf::kProjections),
            ParkedKey(p.spec.name, p.spec.version, event.position), record.SerializeAsString());
  p.parked_streams.insert(event.stream);
  MutexLock lock(&p.mu);
  ++p.parked;
}

absl::Status ProjectionRunner::Impl::Commit(Projector& p, rocksdb::WriteBatch& batch,
                                            uint64_t checkpoint) {
  storage::v1::ProjectionCheckpoint stored;
  stored.set_position(checkpoint);
  stored.set_updated_at_us(absl::ToUnixMicros(absl::Now()));
  batch.Put(p.engine.storage->cf(Cf::kProjections), CheckpointKey(p.spec.name, p.spec.version),
            stored.SerializeAsString());
  // The read-model writes and the checkpoint: one write, all or nothing.
  ANNALS_RETURN_IF_ERROR(p.engine.writer->WriteExclusive(batch, p.engine.sync));
  const bool live = checkpoint >= p.engine.writer->head().value();
  MutexLock lock(&p.mu);
  p.checkpoint = checkpoint;
  if (live) p.state = ProjectionState::kLive;
  p.progress.notify_all();
  return absl::OkStatus();
}

void ProjectionRunner::Impl::MaybeSwitchServing(Projector& p) {
  uint32_t serving;
  {
    MutexLock lock(&p.mu);
    if (p.state != ProjectionState::kLive || p.serving_version == p.spec.version) return;
    serving = p.serving_version;
  }
  // Rebuilt and caught up: queries move to the new version in one write,
  // and the old version's data goes with it.
  rocksdb::ColumnFamilyHandle* meta = p.engine.storage->cf(Cf::kProjections);
  rocksdb::WriteBatch batch;
  storage::v1::ServingVersion stored;
  stored.set_version(p.spec.version);
  batch.Put(meta, ServingKey(p.spec.name), stored.SerializeAsString());
  const std::string old_model = ModelPrefix(p.spec.name, serving);
  batch.DeleteRange(p.engine.storage->cf(Cf::kReadModels), old_model, PrefixEnd(old_model));
  batch.Delete(meta, CheckpointKey(p.spec.name, serving));
  const std::string old_parked = ParkedPrefix(p.spec.name, serving);
  batch.DeleteRange(meta, old_parked, PrefixEnd(old_parked));
  MutexLock serving_lock(&p.serving_mu);
  if (absl::Status s = p.engine.writer->WriteExclusive(batch, p.engine.sync); !s.ok()) {
    Fail(p, s);
    return;
  }
  MutexLock lock(&p.mu);
  p.serving_version = p.spec.version;
}

void ProjectionRunner::Impl::Fail(Projector& p, absl::Status error) {
  MutexLock lock(&p.mu);
  p.state = ProjectionState::kFailed;
  p.error = std::move(error);
  p.progress.notify_all();
}

void ProjectionRunner::Impl::Run(Projector& p) {
  Subscription& subscription = *p.subscription;
  rocksdb::DB* db = p.engine.storage->db();
  rocksdb::ColumnFamilyHandle* models = p.engine.storage->cf(Cf::kReadModels);
  uint64_t committed;
  {
    MutexLock lock(&p.mu);
    committed = p.checkpoint;
  }
  while (!p.stop) {
    absl::StatusOr<EventRecord> first = subscription.Next(absl::Milliseconds(100));
    if (absl::IsDeadlineExceeded(first.status())) {
      // Nothing selected lately: still record how far the filter looked, so
      // waiting for a position that holds no selected event ends.
      const uint64_t reached = subscription.reached().value();
      if (reached > committed || committed >= p.engine.writer->head().value()) {
        rocksdb::WriteBatch batch;
        if (reached > committed) {
          if (absl::Status s = Commit(p, batch, reached); !s.ok()) return Fail(p, s);
          committed = reached;
        } else {
          MutexLock lock(&p.mu);
          p.state = ProjectionState::kLive;
        }
      }
      MaybeSwitchServing(p);
      continue;
    }
    if (absl::IsCancelled(first.status())) {
      // Stopped, or the store closed: waiters learn it at once.
      MutexLock lock(&p.mu);
      if (p.state != ProjectionState::kFailed) p.state = ProjectionState::kStopped;
      p.progress.notify_all();
      return;
    }
    if (!first.ok()) return Fail(p, first.status());
    std::vector<EventRecord> events;
    events.push_back(*std::move(first));
    while (events.size() < p.spec.batch_size) {
      absl::StatusOr<EventRecord> more = subscription.Next(absl::ZeroDuration());
      if (!more.ok()) break;  // none ready now (or stopping): commit what we have
      events.push_back(*std::move(more));
    }
    MutexLock apply(&p.apply_mu);
    StagedWriter writer(db, models, p.model_prefix);
    rocksdb::WriteBatch batch;
    uint64_t checkpoint = subscription.reached().value();
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
      // Stop: commit everything before this event, which stays unapplied.
      checkpoint = event.position.value() - 1;
      failure = absl::Status(applied.code(),
                             absl::StrCat("projection '", p.spec.name, "' failed on ", event.stream,
                                          "@", event.revision.value(), " (position ",
                                          event.position.value(), "): ", applied.message()));
      break;
    }
    writer.Fill(batch);
    if (absl::Status s = Commit(p, batch, checkpoint); !s.ok()) return Fail(p, s);
    committed = checkpoint;
    if (!failure.ok()) return Fail(p, failure);
  }
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
  const uint64_t head = (*p)->engine.writer->head().value();
  status.lag = head > status.checkpoint.value() ? head - status.checkpoint.value() : 0;
  if (status.lag > 0) {
    // How old the first event it has not applied is.
    auto it = impl_->store().ReadAll({.from = status.checkpoint.Next(), .max_count = 1});
    if (it.ok() && (*it)->Valid()) {
      status.time_behind = std::max(absl::ZeroDuration(), absl::Now() - (*it)->record().recorded_at);
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
  const bool done = p.mu.AwaitOnWithTimeout(
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
  if (p.state == ProjectionState::kStopped) {
    return absl::FailedPreconditionError("projection is stopped");
  }
  (void)done;
  return absl::DeadlineExceededError(absl::StrCat("projection '", std::string(name),
                                                  "' is at position ", p.checkpoint, ", not ",
                                                  position.value()));
}

namespace {

absl::StatusOr<std::string> ServingPrefix(const Projector& p) {
  MutexLock lock(&p.mu);
  return ModelPrefix(p.spec.name, p.serving_version);
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ProjectionRunner::Get(std::string_view name,
                                                                 std::string_view key) const {
  absl::StatusOr<Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  MutexLock serving_lock(&(*p)->serving_mu);
  absl::StatusOr<std::string> prefix = ServingPrefix(**p);
  if (!prefix.ok()) return prefix.status();
  std::string value;
  rocksdb::Status s = (*p)->engine.storage->db()->Get(
      rocksdb::ReadOptions(), (*p)->engine.storage->cf(Cf::kReadModels), *prefix + std::string(key),
      &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return internal::FromRocksDb(s, "read model get");
  return value;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ProjectionRunner::Scan(
    std::string_view name, std::string_view from, std::string_view to, size_t limit) const {
  absl::StatusOr<Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  std::string lower, upper;
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions read_options;  // the iterator reads one consistent snapshot
  std::unique_ptr<rocksdb::Iterator> it;
  absl::StatusOr<std::string> prefix;
  {
    MutexLock serving_lock(&(*p)->serving_mu);
    prefix = ServingPrefix(**p);
    if (!prefix.ok()) return prefix.status();
    lower = *prefix + std::string(from);
    upper = to.empty() ? PrefixEnd(*prefix) : *prefix + std::string(to);
    upper_slice = rocksdb::Slice(upper);
    read_options.iterate_upper_bound = &upper_slice;
    it.reset((*p)->engine.storage->db()->NewIterator(read_options,
                                                     (*p)->engine.storage->cf(Cf::kReadModels)));
  }
  std::vector<std::pair<std::string, std::string>> rows;
  for (it->Seek(lower); it->Valid() && rows.size() < limit; it->Next()) {
    rows.emplace_back(it->key().ToString().substr(prefix->size()), it->value().ToString());
  }
  ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "read model scan"));
  return rows;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ProjectionRunner::ScanPrefix(
    std::string_view name, std::string_view prefix, size_t limit) const {
  const std::string end = PrefixEnd(std::string(prefix));
  if (prefix.empty()) return Scan(name, "", "", limit);
  return Scan(name, prefix, end, limit);
}

namespace {

// The parked events of one version of a projection, in position order.
absl::StatusOr<std::vector<ParkedEvent>> ReadParked(EventStore& store, const EngineHandles& engine,
                                                    std::string_view name, uint32_t version) {
  const std::string prefix = ParkedPrefix(name, version);
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice end_slice(end);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &end_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      engine.storage->db()->NewIterator(read_options, engine.storage->cf(Cf::kProjections)));
  std::vector<ParkedEvent> parked;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    storage::v1::ParkedRecord record;
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("parked record is malformed");
    }
    const Position position(internal::ReadBigEndian64(it->key().ToStringView().substr(prefix.size())));
    auto event = store.ReadAll({.from = position, .max_count = 1});
    if (!event.ok()) return event.status();
    if (!(*event)->Valid() || (*event)->record().position != position) continue;  // scavenged
    parked.push_back({(*event)->record(), record.error()});
  }
  ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "read parked events"));
  return parked;
}

// The serving version of every projection the store knows, by name.
absl::StatusOr<std::vector<std::pair<std::string, uint32_t>>> StoredServingVersions(
    const EngineHandles& engine) {
  const std::string prefix = MetaKey('s', "");
  std::unique_ptr<rocksdb::Iterator> it(
      engine.storage->db()->NewIterator(rocksdb::ReadOptions(), engine.storage->cf(Cf::kProjections)));
  std::vector<std::pair<std::string, uint32_t>> names;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    storage::v1::ServingVersion stored;
    if (!stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("serving version is malformed");
    }
    names.emplace_back(it->key().ToString().substr(prefix.size()), stored.version());
  }
  ANNALS_RETURN_IF_ERROR(internal::FromRocksDb(it->status(), "list projections"));
  return names;
}

}  // namespace

absl::StatusOr<std::vector<ParkedEvent>> ProjectionRunner::Parked(std::string_view name) const {
  absl::StatusOr<Projector*> found = impl_->Find(name);
  if (!found.ok()) return found.status();
  Projector& p = **found;
  return ReadParked(impl_->store(), p.engine, p.spec.name, p.spec.version);
}

absl::StatusOr<std::vector<ProjectionStatus>> ProjectionRunner::ListStored(EventStore& store) {
  ANNALS_ASSIGN_OR_RETURN(EngineHandles engine, internal::EngineHandlesOf(store));
  ANNALS_ASSIGN_OR_RETURN(auto names, StoredServingVersions(engine));
  const uint64_t head = store.head().value();
  std::vector<ProjectionStatus> statuses;
  for (const auto& [name, version] : names) {
    ProjectionStatus status;
    status.name = name;
    status.version = version;
    status.serving_version = version;
    status.state = ProjectionState::kStopped;
    std::string value;
    rocksdb::Status s = engine.storage->db()->Get(
        rocksdb::ReadOptions(), engine.storage->cf(Cf::kProjections), CheckpointKey(name, version), &value);
    if (s.ok()) {
      storage::v1::ProjectionCheckpoint stored;
      if (!stored.ParseFromString(value)) return absl::DataLossError("projection checkpoint is malformed");
      status.checkpoint = Position(stored.position());
      if (stored.updated_at_us() != 0 && head > stored.position()) {
        // How far behind: the time of the first event not yet projected.
        auto next = store.ReadAll({.from = Position(stored.position() + 1), .max_count = 1});
        if (next.ok() && (*next)->Valid()) status.time_behind = absl::Now() - (*next)->record().recorded_at;
      }
    } else if (!s.IsNotFound()) {
      return internal::FromRocksDb(s, "read projection checkpoint");
    }
    status.lag = head > status.checkpoint.value() ? head - status.checkpoint.value() : 0;
    ANNALS_ASSIGN_OR_RETURN(auto parked, ReadParked(store, engine, name, version));
    status.parked = parked.size();
    statuses.push_back(std::move(status));
  }
  return statuses;
}

absl::StatusOr<std::vector<ParkedEvent>> ProjectionRunner::StoredParked(EventStore& store,
                                                                        std::string_view name) {
  ANNALS_ASSIGN_OR_RETURN(EngineHandles engine, internal::EngineHandlesOf(store));
  ANNALS_ASSIGN_OR_RETURN(auto names, StoredServingVersions(engine));
  for (const auto& [stored_name, version] : names) {
    if (stored_name == name) return ReadParked(store, engine, stored_name, version);
  }
  return absl::NotFoundError(absl::StrCat("no projection '", std::string(name), "' in this store"));
}

absl::Status ProjectionRunner::RetryParked(std::string_view name, std::string_view stream) {
  absl::StatusOr<Projector*> found = impl_->Find(name);
  if (!found.ok()) return found.status();
  Projector& p = **found;
  // Listed under the lock: the projection cannot park more meanwhile.
  MutexLock apply(&p.apply_mu);
  absl::StatusOr<std::vector<ParkedEvent>> parked = Parked(name);
  if (!parked.ok()) return parked.status();
  StagedWriter writer(p.engine.storage->db(), p.engine.storage->cf(Cf::kReadModels), p.model_prefix);
  rocksdb::WriteBatch batch;
  bool all_applied = true;
  uint64_t released = 0;
  absl::Status first_error;
  for (const ParkedEvent& entry : *parked) {
    if (entry.event.stream != stream) continue;
    absl::Status applied = p.spec.apply(entry.event, writer);
    if (!applied.ok()) {
      // Order is kept: this one and every later one of the stream stay.
      writer.Discard();
      all_applied = false;
      first_error = applied;
      break;
    }
    writer.Accept();
    batch.Delete(p.engine.storage->cf(Cf::kProjections),
                 ParkedKey(p.spec.name, p.spec.version, entry.event.position));
    ++released;
  }
  writer.Fill(batch);
  ANNALS_RETURN_IF_ERROR(p.engine.writer->WriteExclusive(batch, p.engine.sync));
  if (all_applied) p.parked_streams.erase(std::string(stream));
  {
    MutexLock lock(&p.mu);
    p.parked -= released;
  }
  return first_error;
}

absl::Status ProjectionRunner::SkipParked(std::string_view name, std::string_view stream) {
  absl::StatusOr<Projector*> found = impl_->Find(name);
  if (!found.ok()) return found.status();
  Projector& p = **found;
  // Listed under the lock: the projection cannot park more meanwhile.
  MutexLock apply(&p.apply_mu);
  absl::StatusOr<std::vector<ParkedEvent>> parked = Parked(name);
  if (!parked.ok()) return parked.status();
  rocksdb::WriteBatch batch;
  uint64_t dropped = 0;
  for (const ParkedEvent& entry : *parked) {
    if (entry.event.stream != stream) continue;
    batch.Delete(p.engine.storage->cf(Cf::kProjections),
                 ParkedKey(p.spec.name, p.spec.version, entry.event.position));
    ++dropped;
  }
  ANNALS_RETURN_IF_ERROR(p.engine.writer->WriteExclusive(batch, p.engine.sync));
  p.parked_streams.erase(std::string(stream));
  MutexLock lock(&p.mu);
  p.parked -= dropped;
  return absl::OkStatus();
}

absl::Status ProjectionRunner::Reset(std::string_view name) {
  absl::StatusOr<Projector*> found = impl_->Find(name);
  if (!found.ok()) return found.status();
  Projector& p = **found;
  impl_->Halt(p);
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta = p.engine.storage->cf(Cf::kProjections);
  batch.DeleteRange(p.engine.storage->cf(Cf::kReadModels), p.model_prefix, PrefixEnd(p.model_prefix));
  batch.Delete(meta, CheckpointKey(p.spec.name, p.spec.version));
  const std::string parked = ParkedPrefix(p.spec.name, p.spec.version);
  batch.DeleteRange(meta, parked, PrefixEnd(parked));
  ANNALS_RETURN_IF_ERROR(p.engine.writer->WriteExclusive(batch, p.engine.sync));
  if (p.inline_hook) {
    p.inline_hook.reset();
    return impl_->StartInline(p);
  }
  return impl_->Start(p);
}

}  // namespace annals
