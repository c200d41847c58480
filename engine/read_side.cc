// The engine's side of the read-side extension (annals/read_side.h): reads
// and commits on `read_models` and `projections` through the store's
// storage and writer, and the adapter that runs an extension InlineHook as
// one of the writer's inline hooks.
#include "annals/read_side.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "annals/base/mutex.h"
#include "internal_access.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "status_util.h"
#include "storage.h"
#include "writer.h"

namespace annals::extension {
namespace {

using internal::Cf;
using internal::FromRocksDb;
using internal::Mutex;
using internal::MutexLock;
using internal::Storage;

Cf CfOf(ReadSideFamily family) {
  return family == ReadSideFamily::kReadModels ? Cf::kReadModels : Cf::kProjections;
}

rocksdb::Slice SliceOf(std::string_view bytes) {
  return rocksdb::Slice(bytes.data(), bytes.size());
}

// Adds `writes` to `batch`, in order.
void AddTo(const ReadSideBatch& writes, const Storage& storage, rocksdb::WriteBatch& batch) {
  for (const ReadSideBatch::Write& write : writes.writes()) {
    rocksdb::ColumnFamilyHandle* cf = storage.cf(CfOf(write.family));
    rocksdb::Status s;
    switch (write.op) {
      case ReadSideBatch::Op::kPut:
        s = batch.Put(cf, SliceOf(write.key), SliceOf(write.value));
        break;
      case ReadSideBatch::Op::kDelete:
        s = batch.Delete(cf, SliceOf(write.key));
        break;
      case ReadSideBatch::Op::kDeleteRange:
        s = batch.DeleteRange(cf, SliceOf(write.key), SliceOf(write.value));
        break;
    }
    // Adding to an in-memory batch fails only beyond its size limit, which
    // these batches do not set.
    s.PermitUncheckedError();
  }
}

// Runs an extension hook as one of the writer's inline hooks: its
// ReadSideBatch at BeforeWrite becomes writes of the group's batch.
class HookAdapter final : public internal::InlineHook {
 public:
  HookAdapter(std::shared_ptr<extension::InlineHook> hook, std::shared_ptr<Storage> storage)
      : hook_(std::move(hook)), storage_(std::move(storage)) {}

  const extension::InlineHook* target() const { return hook_.get(); }

  absl::Status Apply(const EventRecord& event) override { return hook_->Apply(event); }
  void EndRequest(bool kept) override { hook_->EndRequest(kept); }
  void BeforeWrite(rocksdb::WriteBatch& batch, Position last) override {
    writes_.Clear();
    hook_->BeforeWrite(last, writes_);
    AddTo(writes_, *storage_, batch);
    writes_.Clear();
  }
  void AfterWrite(bool committed) override { hook_->AfterWrite(committed); }

 private:
  const std::shared_ptr<extension::InlineHook> hook_;
  const std::shared_ptr<Storage> storage_;
  // Reused for each group; touched only under the writer's lock.
  ReadSideBatch writes_;
};

class ReadSideImpl final : public ReadSide {
 public:
  explicit ReadSideImpl(internal::EngineHandles engine) : engine_(std::move(engine)) {}

  Position head() const override { return engine_.writer->head(); }
  bool read_only() const override { return engine_.storage->read_only(); }

  absl::StatusOr<std::optional<std::string>> Get(ReadSideFamily family,
                                                 std::string_view key) const override {
    std::string value;
    rocksdb::Status s = engine_.storage->db()->Get(
        rocksdb::ReadOptions(), engine_.storage->cf(CfOf(family)), SliceOf(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocksDb(s, "read side get");
    return value;
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      ReadSideFamily family, std::string_view begin, std::string_view end,
      size_t limit) const override {
    rocksdb::Slice end_slice = SliceOf(end);
    rocksdb::ReadOptions read_options;  // the iterator reads one consistent view
    if (!end.empty()) read_options.iterate_upper_bound = &end_slice;
    std::unique_ptr<rocksdb::Iterator> it(
        engine_.storage->db()->NewIterator(read_options, engine_.storage->cf(CfOf(family))));
    std::vector<std::pair<std::string, std::string>> rows;
    for (it->Seek(SliceOf(begin)); it->Valid() && rows.size() < limit; it->Next()) {
      rows.emplace_back(it->key().ToString(), it->value().ToString());
    }
    if (absl::Status s = FromRocksDb(it->status(), "read side scan"); !s.ok()) return s;
    return rows;
  }

  absl::Status Commit(const ReadSideBatch& batch) override {
    rocksdb::WriteBatch write_batch;
    AddTo(batch, *engine_.storage, write_batch);
    return engine_.writer->WriteExclusive(write_batch, engine_.sync);
  }

  absl::Status AddInlineHook(
      std::shared_ptr<InlineHook> hook,
      const std::function<absl::Status(const CommitFn& commit)>& catch_up) override {
    auto adapter = std::make_shared<HookAdapter>(std::move(hook), engine_.storage);
    // Under the writer's lock: writes go straight to RocksDB.
    const CommitFn commit_locked = [this](const ReadSideBatch& batch) {
      rocksdb::WriteBatch write_batch;
      AddTo(batch, *engine_.storage, write_batch);
      rocksdb::WriteOptions write_options;
      write_options.sync = engine_.sync;
      return FromRocksDb(engine_.storage->db()->Write(write_options, &write_batch), "catch up");
    };
    absl::Status added =
        engine_.writer->AddInlineHook(adapter, [&] { return catch_up(commit_locked); });
    if (!added.ok()) return added;
    MutexLock lock(&hooks_mu_);
    hooks_.push_back(std::move(adapter));
    return absl::OkStatus();
  }

  void RemoveInlineHook(const InlineHook* hook) override {
    std::shared_ptr<HookAdapter> adapter;
    {
      MutexLock lock(&hooks_mu_);
      auto it = std::find_if(hooks_.begin(), hooks_.end(),
                             [&](const auto& a) { return a->target() == hook; });
      if (it == hooks_.end()) return;
      adapter = *it;
      hooks_.erase(it);
    }
    engine_.writer->RemoveInlineHook(adapter.get());
  }

 private:
  // Constant after construction.
  const internal::EngineHandles engine_;

  // The hooks installed through this ReadSide, by adapter.
  Mutex hooks_mu_;
  std::vector<std::shared_ptr<HookAdapter>> hooks_ ABSL_GUARDED_BY(hooks_mu_);
};

}  // namespace

void ReadSideBatch::Put(ReadSideFamily family, std::string_view key, std::string_view value) {
  writes_.push_back({Op::kPut, family, std::string(key), std::string(value)});
}

void ReadSideBatch::Delete(ReadSideFamily family, std::string_view key) {
  writes_.push_back({Op::kDelete, family, std::string(key), {}});
}

void ReadSideBatch::DeleteRange(ReadSideFamily family, std::string_view begin,
                                std::string_view end) {
  writes_.push_back({Op::kDeleteRange, family, std::string(begin), std::string(end)});
}

absl::StatusOr<std::unique_ptr<ReadSide>> ReadSide::Of(EventStore& store) {
  absl::StatusOr<internal::EngineHandles> engine = internal::EngineHandlesOf(store);
  if (!engine.ok()) return engine.status();
  return std::make_unique<ReadSideImpl>(*std::move(engine));
}

}  // namespace annals::extension
