// Opening and closing: locking against a second opener, the format version,
// option validation, and the closed state.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/stats.h"
#include "annals/storage/v1/meta.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

TEST(EventStoreTest, MissingStoreIsRefusedUnlessCreationIsAllowed) {
  TempDir dir;
  StoreOptions options = TestOptions();
  options.create_if_missing = false;
  EXPECT_THAT(EventStore::Open(dir.Sub("store"), options),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("create_if_missing")));
  options.create_if_missing = true;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), options));
  EXPECT_EQ(store->head(), Position(0));
}

TEST(EventStoreTest, SecondHandleInTheSameProcessIsRefused) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), TestOptions()));
  EXPECT_THAT(EventStore::Open(dir.Sub("store"), TestOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already open")));
  ASSERT_OK(store->Close());
  ASSERT_OK_AND_ASSIGN(auto again, EventStore::Open(dir.Sub("store"), TestOptions()));
}

TEST(EventStoreTest, SecondProcessIsRefused) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), TestOptions()));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child stops at the directory lock, before RocksDB does anything.
    auto second = EventStore::Open(dir.Sub("store"), TestOptions());
    _exit(second.status().code() == absl::StatusCode::kFailedPrecondition ? 0 : 1);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0) << "the second process was not refused";
}

TEST(EventStoreTest, NewerFormatIsRefused) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  { ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions())); }
  {
    bool created = false;
    ASSERT_OK_AND_ASSIGN(auto storage, internal::Storage::Open(path, TestOptions(), &created));
    storage::v1::FormatInfo format;
    format.set_format_version(kFormatVersion + 1);
    ASSERT_TRUE(storage->db()
                    ->Put(rocksdb::WriteOptions(), storage->cf(internal::Cf::kMeta),
                          std::string(internal::kMetaFormatKey), format.SerializeAsString())
                    .ok());
  }
  EXPECT_THAT(EventStore::Open(path, TestOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("newer")));
}

// Rewrites the store's format record as a store made before store ids
// has it (no id).
void ForgetStoreId(const std::string& path) {
  bool created = false;
  ASSERT_OK_AND_ASSIGN(auto storage, internal::Storage::Open(path, TestOptions(), &created));
  std::string value;
  ASSERT_TRUE(storage->db()
                  ->Get(rocksdb::ReadOptions(), storage->cf(internal::Cf::kMeta),
                        std::string(internal::kMetaFormatKey), &value)
                  .ok());
  storage::v1::FormatInfo format;
  ASSERT_TRUE(format.ParseFromString(value));
  format.clear_store_id();
  ASSERT_TRUE(storage->db()
                  ->Put(rocksdb::WriteOptions(), storage->cf(internal::Cf::kMeta),
                        std::string(internal::kMetaFormatKey), format.SerializeAsString())
                  .ok());
}

TEST(EventStoreTest, AStoreHasAnIdOfItsOwnKeptByReopenReadersAndBackups) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  std::string id;
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
    ASSERT_OK_AND_ASSIGN(id, GetStoreId(*store));
    ASSERT_TRUE(EventId::Parse(id).has_value()) << id;
    EXPECT_EQ(EventId::Parse(id)->ToString(), id);  // canonical form
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::NoStream(), {Event("A")}}));
    ASSERT_OK(Backup(*store, dir.Sub("backup")));
    // A store filled by import is another store: its own id.
    ASSERT_OK_AND_ASSIGN(auto imported, EventStore::Open(dir.Sub("imported"), TestOptions()));
    ASSERT_OK_AND_ASSIGN(auto it, store->ReadAll());
    std::vector<EventRecord> events;
    for (; it->Valid(); it->Next()) events.push_back(it->record());
    ASSERT_OK(Import(*imported, std::move(events)));
    EXPECT_THAT(GetStoreId(*imported), IsOkAndHolds(::testing::Ne(id)));
    // A reader beside the writer sees the writer's id.
    StoreOptions read_only = TestOptions();
    read_only.read_only = true;
    ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(path, read_only));
    EXPECT_THAT(GetStoreId(*reader), IsOkAndHolds(id));
    ASSERT_OK(store->Close());
    EXPECT_THAT(GetStoreId(*store), StatusIs(absl::StatusCode::kUnavailable));
  }
  ASSERT_OK_AND_ASSIGN(auto reopened, EventStore::Open(path, TestOptions()));
  EXPECT_THAT(GetStoreId(*reopened), IsOkAndHolds(id));
  ASSERT_OK_AND_ASSIGN(auto backup, EventStore::Open(dir.Sub("backup"), TestOptions()));
  EXPECT_THAT(GetStoreId(*backup), IsOkAndHolds(id));
  ASSERT_OK_AND_ASSIGN(auto other, EventStore::Open(dir.Sub("other"), TestOptions()));
  EXPECT_THAT(GetStoreId(*other), IsOkAndHolds(::testing::Ne(id)));
}

TEST(EventStoreTest, AStoreMadeBeforeIdsGetsOneAtItsFirstWritingOpen) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::NoStream(), {Event("A")}}));
  }
  ForgetStoreId(path);
  StoreOptions read_only = TestOptions();
  read_only.read_only = true;
  {
    // A reader cannot give it one: it says how the store gets one.
    ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(path, read_only));
    EXPECT_THAT(GetStoreId(*reader), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              HasSubstr("open it for writing once")));
    EXPECT_EQ(reader->head(), Position(1));
  }
  std::string id;
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
    ASSERT_OK_AND_ASSIGN(id, GetStoreId(*store));
    ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store));
    EXPECT_TRUE(report.ok());
    EXPECT_EQ(store->head(), Position(1));
  }
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(path, read_only));
  EXPECT_THAT(GetStoreId(*reader), IsOkAndHolds(id));
}

TEST(EventStoreTest, AStoreIdOfAnotherLengthIsDataLoss) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  { ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions())); }
  {
    bool created = false;
    ASSERT_OK_AND_ASSIGN(auto storage, internal::Storage::Open(path, TestOptions(), &created));
    std::string value;
    ASSERT_TRUE(storage->db()
                    ->Get(rocksdb::ReadOptions(), storage->cf(internal::Cf::kMeta),
                          std::string(internal::kMetaFormatKey), &value)
                    .ok());
    storage::v1::FormatInfo format;
    ASSERT_TRUE(format.ParseFromString(value));
    format.set_store_id("abc");
    ASSERT_TRUE(storage->db()
                    ->Put(rocksdb::WriteOptions(), storage->cf(internal::Cf::kMeta),
                          std::string(internal::kMetaFormatKey), format.SerializeAsString())
                    .ok());
  }
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
  EXPECT_THAT(GetStoreId(*store), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("16 bytes")));
}

TEST(EventStoreTest, MakeReplicaTakesAnEmptyStoreOnlyAndOnePrimaryOnly) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(const std::string own, GetStoreId(*store));
  EXPECT_THAT(MakeReplica(*store, "not-a-uuid"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeReplica(*store, "00000000-0000-0000-0000-000000000000"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeReplica(*store, own), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string primary = EventId::Generate().ToString();
  ASSERT_OK(MakeReplica(*store, primary));
  EXPECT_OK(MakeReplica(*store, primary));  // again: the same primary
  EXPECT_THAT(MakeReplica(*store, EventId::Generate().ToString()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(primary)));
  TempStore busy;
  ASSERT_OK(busy->Append({.stream = "s", .events = {Event("X")}}).status());
  EXPECT_THAT(MakeReplica(*busy, primary),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("events of its own")));
  EXPECT_THAT(GetReplicaOf(*busy), IsOkAndHolds(std::optional<std::string>()));
  ASSERT_OK(busy->Append({.stream = "s", .events = {Event("Y")}}).status());  // still writable
}

// A replica (annals follow's store) refuses every write of the log but
// Import, at every open; a read-only handle reports it too.
TEST(EventStoreTest, AReplicaRefusesAppendsAtEveryOpenAndImportAloneWritesIt) {
  TempStore primary;
  ASSERT_OK(primary->Append({.stream = "order-1", .events = {Event("A"), Event("B")}}).status());
  ASSERT_OK_AND_ASSIGN(const std::string primary_id, GetStoreId(*primary));
  TempStore replica;
  ASSERT_OK(MakeReplica(*replica, primary_id));
  ASSERT_OK_AND_ASSIGN(auto it, primary->ReadAll());
  ASSERT_OK(Import(*replica, Drain(*it)));
  for (int open = 0; open < 2; ++open) {
    SCOPED_TRACE(open == 0 ? "as made" : "after reopening");
    EXPECT_THAT(replica->Append({.stream = "order-1", .events = {Event("X")}}),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat("read replica of store ", primary_id))));
    MultiAppendRequest multi;
    multi.appends.push_back({.stream = "a", .events = {Event("X")}});
    EXPECT_THAT(replica->AppendMulti(std::move(multi)),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    std::vector<AppendRequest> each;
    each.push_back({.stream = "b", .events = {Event("X")}});
    for (const auto& result : replica->AppendEach(std::move(each))) {
      EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
    }
    EXPECT_THAT(replica->DeleteStream("order-1"), StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(replica->TombstoneStream("order-1"),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(replica->SetStreamMetadata("order-1", {.max_count = 3}),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_EQ(replica->head(), Position(2));
    replica.Reopen();
  }
  StoreOptions read_only = TestOptions();
  read_only.read_only = true;
  read_only.create_if_missing = false;
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(replica.path() + "/store", read_only));
  EXPECT_THAT(GetReplicaOf(*reader), IsOkAndHolds(std::optional<std::string>(primary_id)));
  ASSERT_OK(primary->Append({.stream = "order-1", .events = {Event("C")}}).status());
  ASSERT_OK_AND_ASSIGN(auto more, primary->ReadAll({.from = Position(3)}));
  ASSERT_OK(Import(*replica, Drain(*more)));  // Import still writes it
  EXPECT_EQ(replica->head(), Position(3));
}

TEST(EventStoreTest, BadOptionsAreRefusedByName) {
  TempDir dir;
  StoreOptions options = TestOptions();
  options.max_event_bytes = 0;
  EXPECT_THAT(EventStore::Open(dir.Sub("a"), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_event_bytes")));
  options = TestOptions();
  options.tuning.max_group_requests = 0;
  EXPECT_THAT(EventStore::Open(dir.Sub("a"), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_group_requests")));
  options = TestOptions();
  options.max_append_bytes = options.max_event_bytes - 1;
  EXPECT_THAT(EventStore::Open(dir.Sub("a"), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_append_bytes")));
  EXPECT_THAT(EventStore::Open("", TestOptions()), StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing was created by the refused opens.
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("a")));
}

TEST(EventStoreTest, ClosedStoreAnswersUnavailable) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), TestOptions()));
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::NoStream(), {Event("A")}}));
  ASSERT_OK(store->Close());
  ASSERT_OK(store->Close());  // idempotent
  EXPECT_THAT(store->Append({"order-1", ExpectedRevision::Any(), {Event("B")}}),
              StatusIs(absl::StatusCode::kUnavailable));
  MultiAppendRequest multi;
  multi.appends.push_back({"order-1", ExpectedRevision::Any(), {Event("B")}});
  EXPECT_THAT(store->AppendMulti(multi), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store->ReadStream("order-1"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store->ReadAll(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store->GetStreamInfo("order-1"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(store->head(), Position(1));
  // Nothing was written by the refused append.
  ASSERT_OK_AND_ASSIGN(auto reopened, EventStore::Open(dir.Sub("store"), TestOptions()));
  EXPECT_EQ(reopened->head(), Position(1));
}

TEST(EventStoreTest, DirectoryWithoutAStoreButWithOtherRocksDbIsRefused) {
  TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.Sub("plain"), &raw).ok());
  rocksdb::ColumnFamilyHandle* extra = nullptr;
  ASSERT_TRUE(raw->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "other", &extra).ok());
  ASSERT_TRUE(raw->DestroyColumnFamilyHandle(extra).ok());
  delete raw;
  EXPECT_THAT(EventStore::Open(dir.Sub("plain"), TestOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not an annals store")));
}

TEST(EventStoreTest, StoreStatsCountGroupsEventsAndBytesSinceOpen) {
  TempDir dir;
  StoreOptions options = TestOptions();
  options.sync = true;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), options));
  ASSERT_OK_AND_ASSIGN(StoreStats before, GetStoreStats(*store));
  EXPECT_EQ(before.head, Position(0));
  EXPECT_EQ(before.commit_groups, 0u);
  EXPECT_EQ(before.events_appended, 0u);
  ASSERT_EQ(before.column_families.size(), 14u);
  EXPECT_EQ(before.column_families[0].name, "log");

  ASSERT_OK(store->Append({.stream = "order-1", .events = {Event("Placed"), Event("Paid")}}));
  ASSERT_OK(store->Append({.stream = "order-2", .events = {Event("Placed")}}));
  ASSERT_OK_AND_ASSIGN(StoreStats after, GetStoreStats(*store));
  EXPECT_EQ(after.head, Position(3));
  EXPECT_EQ(after.commit_groups, 2u);
  EXPECT_EQ(after.events_appended, 3u);
  EXPECT_GT(after.bytes_appended, 0u);
  EXPECT_EQ(after.synced_groups, 2u);
  EXPECT_EQ(after.group_requests_sum, 2u);
  EXPECT_EQ(after.group_requests_max, 1u);
  for (uint64_t bucket : after.group_size_buckets) EXPECT_EQ(bucket, 2u);
  uint64_t keys = 0;
  for (const ColumnFamilyStats& family : after.column_families) keys += family.estimated_keys;
  EXPECT_GE(keys, 3u);  // the log's events at least, still in the memtable

  // A refused append counts nothing.
  EXPECT_FALSE(store
                   ->Append({.stream = "order-2",
                             .expected = ExpectedRevision::NoStream(),
                             .events = {Event("Placed")}})
                   .ok());
  ASSERT_OK_AND_ASSIGN(StoreStats refused, GetStoreStats(*store));
  EXPECT_EQ(refused.commit_groups, 2u);
  EXPECT_EQ(refused.events_appended, 3u);

  // Counters are per open; the head is the store's.
  ASSERT_OK(store->Close());
  EXPECT_FALSE(GetStoreStats(*store).ok());
  ASSERT_OK_AND_ASSIGN(auto reopened, EventStore::Open(dir.Sub("store"), options));
  ASSERT_OK_AND_ASSIGN(StoreStats fresh, GetStoreStats(*reopened));
  EXPECT_EQ(fresh.head, Position(3));
  EXPECT_EQ(fresh.commit_groups, 0u);
}

}  // namespace
}  // namespace annals::testing
