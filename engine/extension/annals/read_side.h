// annals/read_side.h (engine extension, not installed): the one interface
// the engine gives the read side (projections/) beyond its public API. The
// read side keeps its rows in two column families of the store,
// `read_models` and `projections` (their keys: annals/read_side_keys.h).
// Through a ReadSide it reads them, commits puts and deletes to them in one
// atomic write ordered with the log's append groups, and installs an
// InlineHook that runs inside group commit. annals_projections (and the
// tests) link this interface's target, annals_engine_read_side; it exposes
// neither RocksDB nor the engine's internals. Implemented in engine/read_side.cc;
// docs/ARCHITECTURE.md ("Read side: projections") tells the design.
#ifndef ANNALS_EXTENSION_READ_SIDE_H_
#define ANNALS_EXTENSION_READ_SIDE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "annals/export.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/read_side_keys.h"
#include "annals/types.h"

namespace annals::extension {

// The column families of the read side (docs/FORMAT.md).
enum class ReadSideFamily {
  kReadModels,   // `read_models`: the projections' rows
  kProjections,  // `projections`: checkpoints, parked events, serving versions
};

// Writes to the read-side families, applied in the order made and all or
// none: by ReadSide::Commit, or with an append group (InlineHook).
// Thread-compatible value type.
class ANNALS_EXPORT ReadSideBatch {
 public:
  enum class Op { kPut, kDelete, kDeleteRange };
  struct Write {
    Op op;
    ReadSideFamily family;
    std::string key;    // kDeleteRange: the first key deleted
    std::string value;  // kPut: the value; kDeleteRange: the first key kept
  };

  void Put(ReadSideFamily family, std::string_view key, std::string_view value);
  void Delete(ReadSideFamily family, std::string_view key);
  // Deletes every key in [begin, end). REQUIRES: begin <= end.
  void DeleteRange(ReadSideFamily family, std::string_view begin, std::string_view end);
  void Clear() { writes_.clear(); }

  bool empty() const { return writes_.empty(); }
  const std::vector<Write>& writes() const { return writes_; }

 private:
  std::vector<Write> writes_;
};

// Read-side code inside group commit: the one call the write path makes into
// the read side (docs/ARCHITECTURE.md, deviations). The writer calls it on
// the committing thread, for every event of every group, one group at a
// time and under the writer's lock: it must be quick, and must not append or
// call ReadSide::Commit (either would wait for that lock forever).
// ReadSide::Get is fine. The hook keeps what it would write and hands it over
// in BeforeWrite; EndRequest tells it which requests that covers.
class ANNALS_EXPORT InlineHook {
 public:
  virtual ~InlineHook() = default;
  // Sees `event` as it is staged, its position assigned. A non-OK status
  // rejects the event's request (none of it is written) and is what its
  // caller gets back.
  virtual absl::Status Apply(const EventRecord& event) = 0;
  // The request whose events Apply saw since the last call was kept (its
  // effects belong in this group's write), or rolled back (forget them).
  virtual void EndRequest(bool kept) = 0;
  // Before the group's one write, whose last position is `last`: `writes`
  // (empty when called) go into that write, after the group's events.
  virtual void BeforeWrite(Position last, ReadSideBatch& writes) = 0;
  // After that write, or when the group had nothing to write (then without
  // BeforeWrite): whether it committed.
  virtual void AfterWrite(bool committed) = 0;
};

// The read side's access to one open store. Thread-safe. Holds the store's
// files open while it lives, so a commit after EventStore::Close (a
// projection's last batch) still lands.
class ANNALS_EXPORT ReadSide {
 public:
  // Commits a batch while the caller holds the writer's lock (catch_up of
  // AddInlineHook).
  using CommitFn = std::function<absl::Status(const ReadSideBatch&)>;

  // The read side of `store`. Unavailable if the store is closed;
  // InvalidArgument for a store that is not annals' own (a test double).
  static absl::StatusOr<std::unique_ptr<ReadSide>> Of(EventStore& store);
  virtual ~ReadSide() = default;

  // The published head: every position up to it is committed and readable
  // (as EventStore::head()).
  virtual Position head() const = 0;
  // A read-only handle (StoreOptions::read_only): Commit fails.
  virtual bool read_only() const = 0;

  // The committed value of `key` in `family`; nullopt if absent. DataLoss
  // (or another code naming RocksDB's error) if the read fails.
  virtual absl::StatusOr<std::optional<std::string>> Get(ReadSideFamily family,
                                                         std::string_view key) const = 0;

  // The entries of `family` with keys in [begin, end) (empty `end`: no upper
  // bound), in key order, at most `limit`. All are read at one consistent
  // view: a commit is in it whole or not at all. Errors as Get.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      ReadSideFamily family, std::string_view begin, std::string_view end, size_t limit) const = 0;

  // Writes `batch` in one atomic write while no append group commits (under
  // the writer's lock), so it lands between two groups, never inside one.
  // Durable when it returns if the store syncs (StoreOptions::sync); on an
  // error nothing was written. REQUIRES: not called from an InlineHook or
  // from AddInlineHook's catch_up (they hold the writer's lock).
  virtual absl::Status Commit(const ReadSideBatch& batch) = 0;

  // Runs `catch_up` while no group commits, then, if it returned OK,
  // installs `hook` for every later group: no event commits between the two.
  // `catch_up` commits through the `commit` it is passed (Commit would wait
  // for the lock it runs under). Returns catch_up's error, and then `hook` is
  // not installed. `catch_up` runs on the calling thread.
  virtual absl::Status AddInlineHook(
      std::shared_ptr<InlineHook> hook,
      const std::function<absl::Status(const CommitFn& commit)>& catch_up) = 0;
  // Uninstalls `hook` (added through this ReadSide; no-op otherwise). When it
  // returns, no group runs `hook` any more.
  virtual void RemoveInlineHook(const InlineHook* hook) = 0;
};

}  // namespace annals::extension

#endif  // ANNALS_EXTENSION_READ_SIDE_H_
