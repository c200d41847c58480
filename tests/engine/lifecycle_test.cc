// Stream lifecycle (KurrentDB semantics): soft delete, tombstone, retention
// metadata applied at read time, the `$$stream` audit trail, and Scavenge,
// which removes hidden events with all their index entries and gives the
// disk space back.
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "annals/errors.h"
#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<uint64_t> ReadRevisions(absl::StatusOr<std::unique_ptr<EventIterator>> it) {
  EXPECT_OK(it.status());
  std::vector<uint64_t> out;
  if (!it.ok()) return out;
  for (const EventRecord& r : Drain(**it)) out.push_back(r.revision.value());
  return out;
}

class LifecycleTest : public ::testing::Test {
 protected:
  LifecycleTest() : store_(Options()) {}
  StoreOptions Options() {
    StoreOptions options = TestOptions();
    auto now = now_us_;
    options.clock = [now] { return absl::FromUnixMicros(now->load()); };
    return options;
  }
  void AppendN(const std::string& stream, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_OK(
          store_->Append({stream, ExpectedRevision::Any(), {Event("E" + std::to_string(i))}}));
    }
  }

  std::shared_ptr<std::atomic<int64_t>> now_us_ =
      std::make_shared<std::atomic<int64_t>>(1'000'000'000);
  TempStore store_;
};

TEST_F(LifecycleTest, SoftDeleteHidesTheStreamAndAnAppendRecreatesIt) {
  AppendN("order-1", 3);
  ASSERT_OK(store_->DeleteStream("order-1", {.expected = ExpectedRevision::Exact(Revision(2))}));
  EXPECT_THAT(store_->ReadStream("order-1"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kDeleted);
  EXPECT_EQ(info.last_revision, Revision(2));
  // A deleted stream is "no stream" to expected-revision checks.
  auto exists = store_->Append({"order-1", ExpectedRevision::StreamExists(), {Event("X")}});
  ASSERT_TRUE(IsWrongExpectedRevision(exists.status()));
  EXPECT_EQ(GetWrongExpectedRevision(exists.status())->conflicts[0].actual, std::nullopt);
  // Recreated: numbering continues after the old last revision.
  ASSERT_OK_AND_ASSIGN(AppendResult result,
                       store_->Append({"order-1", ExpectedRevision::NoStream(), {Event("Again")}}));
  EXPECT_EQ(result.first_revision, Revision(3));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(3));
  store_.Reopen();
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(3));
  ASSERT_OK_AND_ASSIGN(info, store_->GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kActive);
}

TEST_F(LifecycleTest, ASoftDeletedStreamIsRecreatedByNamingItsLastRevision) {
  AppendN("order-1", 3);
  ASSERT_OK(store_->DeleteStream("order-1"));
  // Any other revision is still a conflict, reported as "no stream".
  auto stale = store_->Append({"order-1", ExpectedRevision::Exact(Revision(1)), {Event("X")}});
  ASSERT_TRUE(IsWrongExpectedRevision(stale.status()));
  EXPECT_EQ(GetWrongExpectedRevision(stale.status())->conflicts[0].actual, std::nullopt);
  ASSERT_OK_AND_ASSIGN(
      AppendResult result,
      store_->Append({"order-1", ExpectedRevision::Exact(Revision(2)), {Event("A")}}));
  EXPECT_EQ(result.first_revision, Revision(3));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(3));
}

TEST_F(LifecycleTest, DeletingAMissingOrDeletedStreamIsNotFound) {
  EXPECT_THAT(store_->DeleteStream("order-404"), StatusIs(absl::StatusCode::kNotFound));
  AppendN("order-1", 1);
  ASSERT_OK(store_->DeleteStream("order-1"));
  EXPECT_THAT(store_->DeleteStream("order-1"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LifecycleTest, TombstoneIsForever) {
  AppendN("order-1", 2);
  AppendN("order-2", 1);
  ASSERT_OK(store_->TombstoneStream("order-1", {.actor = "ops", .reason = "GDPR"}));
  const Position head = store_->head();
  auto deleted = absl::StatusCode::kFailedPrecondition;
  EXPECT_THAT(store_->ReadStream("order-1"), StatusIs(deleted));
  EXPECT_THAT(store_->Append({"order-1", ExpectedRevision::Any(), {Event("X")}}),
              StatusIs(deleted));
  EXPECT_THAT(store_->Append({"order-1", ExpectedRevision::NoStream(), {Event("X")}}),
              StatusIs(deleted));
  MultiAppendRequest multi;
  multi.appends.push_back({"order-2", ExpectedRevision::Any(), {Event("Y")}});
  multi.appends.push_back({"order-1", ExpectedRevision::Any(), {Event("X")}});
  EXPECT_THAT(store_->AppendMulti(multi), StatusIs(deleted));
  MultiAppendRequest checked;
  checked.appends.push_back({"order-2", ExpectedRevision::Any(), {Event("Y")}});
  checked.conditions.push_back({"order-1", ExpectedRevision::Any()});
  EXPECT_THAT(store_->AppendMulti(checked), StatusIs(deleted));
  EXPECT_THAT(store_->DeleteStream("order-1"), StatusIs(deleted));
  EXPECT_THAT(store_->TombstoneStream("order-1"), StatusIs(deleted));
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_count = 5}), StatusIs(deleted));
  EXPECT_EQ(store_->head(), head);  // nothing written
  store_.Reopen();
  EXPECT_THAT(store_->Append({"order-1", ExpectedRevision::Any(), {Event("X")}}),
              StatusIs(deleted));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kTombstoned);
  EXPECT_EQ(info.last_revision, Revision(1));
}

TEST_F(LifecycleTest, LifecycleChecksTheExpectedRevisionAndWritesNothingOnMismatch) {
  AppendN("order-1", 2);
  const Position head = store_->head();
  auto status = store_->DeleteStream("order-1", {.expected = ExpectedRevision::Exact(Revision(0))});
  ASSERT_TRUE(IsWrongExpectedRevision(status.status()));
  EXPECT_EQ(GetWrongExpectedRevision(status.status())->conflicts[0].actual, Revision(1));
  EXPECT_TRUE(IsWrongExpectedRevision(
      store_->TombstoneStream("order-1", {.expected = ExpectedRevision::NoStream()}).status()));
  EXPECT_TRUE(
      IsWrongExpectedRevision(store_
                                  ->SetStreamMetadata("order-1", {.max_count = 1},
                                                      {.expected = ExpectedRevision::NoStream()})
                                  .status()));
  EXPECT_EQ(store_->head(), head);
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(0, 1));
}

TEST_F(LifecycleTest, ExpectedAuditIsCheckedAgainstTheAuditStream) {
  AppendN("order-1", 3);
  // The audit stream has no event yet: NoStream passes, whatever the stream.
  const LifecycleOptions first{.expected_audit = ExpectedRevision::NoStream()};
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 5}, first));
  const Position head = store_->head();
  absl::StatusOr<Position> again = store_->SetStreamMetadata("order-1", {.max_count = 4}, first);
  ASSERT_TRUE(IsWrongExpectedRevision(again.status())) << again.status();
  EXPECT_THAT(GetWrongExpectedRevision(again.status())->conflicts,
              ElementsAre(StreamConflict{"$$order-1", ExpectedRevision::NoStream(), Revision(0)}));
  EXPECT_EQ(store_->head(), head);
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"), IsOkAndHolds(StreamMetadata{.max_count = 5}));

  // Exact(n) names the audit stream's revision, not the stream's (2).
  EXPECT_TRUE(IsWrongExpectedRevision(
      store_
          ->SetStreamMetadata("order-1", {.max_count = 4},
                              {.expected_audit = ExpectedRevision::Exact(Revision(2))})
          .status()));
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 4},
                                      {.expected_audit = ExpectedRevision::Exact(Revision(0))}));
  // Deletes append to the audit stream too, and check it the same way.
  EXPECT_TRUE(IsWrongExpectedRevision(
      store_->DeleteStream("order-1", {.expected_audit = ExpectedRevision::Exact(Revision(0))})
          .status()));
  ASSERT_OK(
      store_->DeleteStream("order-1", {.expected_audit = ExpectedRevision::Exact(Revision(1))}));

  // Both checks fail: both conflicts are reported, nothing is written.
  AppendN("order-2", 1);
  const Position before = store_->head();
  absl::StatusOr<Position> both =
      store_->SetStreamMetadata("order-2", {.max_count = 1},
                                {.expected = ExpectedRevision::NoStream(),
                                 .expected_audit = ExpectedRevision::StreamExists()});
  ASSERT_TRUE(IsWrongExpectedRevision(both.status()));
  EXPECT_THAT(
      GetWrongExpectedRevision(both.status())->conflicts,
      ElementsAre(StreamConflict{"order-2", ExpectedRevision::NoStream(), Revision(0)},
                  StreamConflict{"$$order-2", ExpectedRevision::StreamExists(), std::nullopt}));
  EXPECT_EQ(store_->head(), before);
}

TEST_F(LifecycleTest, AChangeRetriedWithItsEventIdWritesNothingAndAnswersAsTheFirst) {
  AppendN("order-1", 2);
  const EventId set_id = EventId::Generate();
  const LifecycleOptions set{.expected_audit = ExpectedRevision::NoStream(), .event_id = set_id};
  ASSERT_OK_AND_ASSIGN(const Position first,
                       store_->SetStreamMetadata("order-1", {.max_count = 5}, set));
  // A retry: the same position, nothing written, though NoStream fails now
  // and the settings differ (the id names the change).
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_count = 5}, set), IsOkAndHolds(first));
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_count = 9}, set), IsOkAndHolds(first));
  EXPECT_EQ(store_->head(), first);
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"), IsOkAndHolds(StreamMetadata{.max_count = 5}));

  // Another change, then the first retried again: still its own answer.
  ASSERT_OK_AND_ASSIGN(
      const Position second,
      store_->SetStreamMetadata("order-1", {.max_count = 3}, {.event_id = EventId::Generate()}));
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_count = 5}, set), IsOkAndHolds(first));
  EXPECT_EQ(store_->head(), second);
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"), IsOkAndHolds(StreamMetadata{.max_count = 3}));

  // The audit event carries the id; a delete is retried the same way.
  std::vector<EventRecord> changes;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventIterator> audit, store_->ReadStream("$$order-1"));
    changes = Drain(*audit);
  }
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].event_id, set_id);
  const LifecycleOptions remove{.event_id = EventId::Generate()};
  ASSERT_OK_AND_ASSIGN(const Position deleted, store_->DeleteStream("order-1", remove));
  EXPECT_THAT(store_->DeleteStream("order-1", remove), IsOkAndHolds(deleted));
  EXPECT_EQ(store_->head(), deleted);

  // Across a reopen, and in a store imported from this one.
  store_.Reopen();
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_count = 5}, set), IsOkAndHolds(first));
  std::vector<EventRecord> events;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventIterator> all, store_->ReadAll());
    events = Drain(*all);
  }
  TempStore imported;
  ASSERT_OK(Import(*imported, std::move(events)));
  EXPECT_THAT(imported->SetStreamMetadata("order-1", {.max_count = 5}, set), IsOkAndHolds(first));
  EXPECT_THAT(imported->DeleteStream("order-1", remove), IsOkAndHolds(deleted));
  EXPECT_EQ(imported->head(), deleted);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*imported));
  EXPECT_TRUE(report.ok()) << report.problem;
}

TEST_F(LifecycleTest, BadLifecycleInputIsInvalidArgumentAndWritesNothing) {
  AppendN("order-1", 1);
  const Position head = store_->head();
  auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_count = 0}), StatusIs(invalid));
  EXPECT_THAT(store_->SetStreamMetadata("order-1", {.max_age = absl::Milliseconds(500)}),
              StatusIs(invalid));
  EXPECT_THAT(store_->SetStreamMetadata("$$order-1", {.max_count = 1}), StatusIs(invalid));
  EXPECT_THAT(store_->DeleteStream(""), StatusIs(invalid));
  EXPECT_THAT(store_->TombstoneStream("$system"), StatusIs(invalid));
  EXPECT_THAT(store_->DeleteStream("order-1", {.actor = std::string("\xff", 1)}),
              StatusIs(invalid));
  EXPECT_EQ(store_->head(), head);
}

// KurrentDB metadata keys annals does not apply, in an unusual layout: kept
// byte for byte.
constexpr std::string_view kCustom =
    R"({ "$cacheControl": 60,
  "$acl" : {"$r": ["$all"], "$w": "ops"}, "owner": "al\u00efce" })";

TEST_F(LifecycleTest, CustomMetadataIsKeptVerbatimAcrossReopenAndBackup) {
  AppendN("order-1", 2);
  const StreamMetadata metadata{.max_count = 5, .custom_json = std::string(kCustom)};
  ASSERT_OK(store_->SetStreamMetadata("order-1", metadata));
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"), IsOkAndHolds(metadata));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("order-1"));
  EXPECT_EQ(info.metadata, metadata);
  // A stream without events keeps it too.
  ASSERT_OK(store_->SetStreamMetadata("order-2", {.custom_json = "{}"}));
  EXPECT_THAT(GetStreamMetadata(*store_, "order-2"),
              IsOkAndHolds(StreamMetadata{.custom_json = "{}"}));
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_TRUE(report.ok()) << report.problem;

  store_.Reopen();
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"), IsOkAndHolds(metadata));
  TempDir backups;
  ASSERT_OK(Backup(*store_, backups.Sub("copy")));
  ASSERT_OK_AND_ASSIGN(auto copy, EventStore::Open(backups.Sub("copy"), Options()));
  EXPECT_THAT(GetStreamMetadata(*copy, "order-1"), IsOkAndHolds(metadata));
}

TEST_F(LifecycleTest, CustomMetadataIsReplacedAndClearedLikeTheRetention) {
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 2, .custom_json = "{\"a\":1}"}));
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.custom_json = "{\"b\":2}"}));
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"),
              IsOkAndHolds(StreamMetadata{.custom_json = "{\"b\":2}"}));
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 3}));
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"), IsOkAndHolds(StreamMetadata{.max_count = 3}));
  // Deletes keep it, as they keep the retention.
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.custom_json = "{\"c\":3}"}));
  AppendN("order-1", 1);
  ASSERT_OK(store_->DeleteStream("order-1"));
  ASSERT_OK_AND_ASSIGN(StreamMetadata after_delete, GetStreamMetadata(*store_, "order-1"));
  EXPECT_EQ(after_delete.custom_json, "{\"c\":3}");
  // The audit event records it as a JSON string, so an import restores it
  // byte for byte.
  auto it = store_->ReadStream("$$order-1");
  ASSERT_OK(it.status());
  std::vector<EventRecord> audit = Drain(**it);
  ASSERT_EQ(audit.size(), 5u);
  EXPECT_EQ(audit[0].data,
            R"({"maxCount":2,"customJson":"{\"a\":1}","createdAtMicros":1000000000})");
  EXPECT_EQ(audit[2].data, R"({"maxCount":3,"createdAtMicros":1000000000})");
}

TEST_F(LifecycleTest, BadCustomMetadataIsInvalidArgumentAndWritesNothing) {
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.custom_json = "{\"kept\":true}"}));
  const Position head = store_->head();
  const std::string at_limit = "{\"a\":\"" + std::string(kMaxCustomMetadataBytes - 8, 'x') + "\"}";
  ASSERT_EQ(at_limit.size(), kMaxCustomMetadataBytes);
  for (const std::string& bad : {
           std::string("[1]"), std::string("\"text\""), std::string("  "), std::string("{\"a\":1"),
           std::string("{\"a\":1} {}"),
           std::string("{\"a\":\"\xff\"}"),  // not UTF-8
           std::string("{\"a\":1}\0", 8),    // a NUL byte
           std::string("{\"a\":\"\x01\"}"),  // a raw control character
           "{\"a\":\"" + std::string(kMaxCustomMetadataBytes - 7, 'x') + "\"}",  // one too many
       }) {
    SCOPED_TRACE(bad.substr(0, 20));
    EXPECT_THAT(store_->SetStreamMetadata("order-1", {.custom_json = bad}),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(store_->head(), head);
  }
  EXPECT_THAT(GetStreamMetadata(*store_, "order-1"),
              IsOkAndHolds(StreamMetadata{.custom_json = "{\"kept\":true}"}));
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.custom_json = at_limit}));
}

TEST_F(LifecycleTest, MaxCountKeepsTheNewestEvents) {
  AppendN("order-1", 10);
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 3}));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(7, 8, 9));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1", {.direction = Direction::kBackward})),
              ElementsAre(9, 8, 7));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1", {.from = Revision(2)})),
              ElementsAre(7, 8, 9));
  EXPECT_THAT(ReadRevisions(store_->ReadStream(
                  "order-1", {.direction = Direction::kBackward, .from = Revision(5)})),
              IsEmpty());
  ASSERT_OK_AND_ASSIGN(StreamMetadata metadata, GetStreamMetadata(*store_, "order-1"));
  EXPECT_EQ(metadata.max_count, 3u);
  AppendN("order-1", 1);
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(8, 9, 10));
}

TEST_F(LifecycleTest, TruncateBeforeAndMaxAge) {
  AppendN("order-1", 4);           // recorded at t0
  now_us_->fetch_add(60'000'000);  // +60 s
  AppendN("order-1", 2);           // revisions 4, 5
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.truncate_before = Revision(2)}));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(2, 3, 4, 5));
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_age = absl::Seconds(30)}));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(4, 5));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1", {.direction = Direction::kBackward})),
              ElementsAre(5, 4));
  now_us_->fetch_add(60'000'000);  // everything is old now: the stream reads empty
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), IsEmpty());
}

TEST_F(LifecycleTest, NewMetadataNeverUndeletes) {
  AppendN("order-1", 3);
  ASSERT_OK(store_->DeleteStream("order-1"));
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 10}));
  EXPECT_THAT(store_->ReadStream("order-1"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LifecycleTest, MetadataCanPrecedeTheStream) {
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 2}));
  EXPECT_THAT(store_->ReadStream("order-1"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store_->Append(
      {"order-1", ExpectedRevision::NoStream(), {Event("A"), Event("B"), Event("C")}}));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(1, 2));
}

TEST_F(LifecycleTest, EveryLifecycleOperationIsRecordedInTheAuditStream) {
  AppendN("order-1", 2);
  ASSERT_OK_AND_ASSIGN(Position p1,
                       store_->SetStreamMetadata("order-1", {.max_count = 5},
                                                 {.actor = "alice", .reason = "limit"}));
  ASSERT_OK(store_->DeleteStream("order-1", {.actor = "bob"}));
  ASSERT_OK(store_->TombstoneStream("order-1", {.actor = "carol", .reason = "GDPR request"}));
  auto it = store_->ReadStream("$$order-1");
  ASSERT_OK(it.status());
  std::vector<EventRecord> audit = Drain(**it);
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0].position, p1);
  EXPECT_EQ(audit[0].type, "$metadata");
  // The retention set, and the stream as it was (for an import to restore).
  EXPECT_EQ(audit[0].data,
            R"({"maxCount":5,"lastRevision":1,"lastPosition":2,"createdAtMicros":1000000000})");
  EXPECT_EQ(audit[0].metadata.at("actor"), "alice");
  EXPECT_EQ(audit[0].metadata.at("reason"), "limit");
  EXPECT_EQ(audit[1].type, "$streamDeleted");
  EXPECT_EQ(
      audit[1].data,
      R"({"truncateBefore":2,"lastRevision":1,"lastPosition":2,"createdAtMicros":1000000000})");
  EXPECT_EQ(audit[1].metadata.at("actor"), "bob");
  EXPECT_EQ(audit[2].type, "$streamTombstoned");
  EXPECT_EQ(audit[2].metadata.at("reason"), "GDPR request");
  // Audit events are part of $all; users cannot append to audit streams.
  auto system = store_->ReadAll({.filter = {.exclude_system_events = true}});
  ASSERT_OK(system.status());
  EXPECT_EQ(Drain(**system).size(), 2u);
  EXPECT_THAT(store_->Append({"$$order-1", ExpectedRevision::Any(), {Event("X")}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LifecycleTest, ListStreamsPagesInNameOrderWithStates) {
  AppendN("order-2", 2);
  AppendN("order-1", 1);
  AppendN("user-1", 1);
  ASSERT_OK(store_->DeleteStream("order-2"));
  ASSERT_OK(store_->SetStreamMetadata("order-9", {.max_count = 1}));  // no events: not listed
  ASSERT_OK_AND_ASSIGN(auto orders, store_->ListStreams({.prefix = "order-"}));
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_EQ(orders[0].stream, "order-1");
  EXPECT_EQ(orders[1].stream, "order-2");
  EXPECT_EQ(orders[1].state, StreamState::kDeleted);
  EXPECT_EQ(orders[1].last_revision, Revision(1));
  ASSERT_OK_AND_ASSIGN(auto page, store_->ListStreams({.after = "order-1", .limit = 2}));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].stream, "order-2");
  EXPECT_EQ(page[1].stream, "user-1");
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListStreams());
  EXPECT_EQ(all.size(), 5u);  // with the audit streams $$order-2 and $$order-9
  EXPECT_EQ(all[0].stream, "$$order-2");
}

// --- Scavenge ---------------------------------------------------------------

// Every index, event-id and stream entry must point to an event in the log.
void ExpectNoDanglingEntries(const std::string& path, uint64_t* log_events) {
  bool created = false;
  auto storage_or = internal::Storage::Open(path, TestOptions(), &created);
  ASSERT_OK(storage_or.status());
  auto storage = *storage_or;
  rocksdb::DB* db = storage->db();
  auto in_log = [&](uint64_t position) {
    std::string value;
    return db
        ->Get(rocksdb::ReadOptions(), storage->cf(internal::Cf::kLog),
              internal::LogKey(Position(position)), &value)
        .ok();
  };
  for (internal::Cf cf : {internal::Cf::kByCategory, internal::Cf::kByType,
                          internal::Cf::kByCorrelation, internal::Cf::kByCausation}) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), storage->cf(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto position = internal::ParseIndexKeyPosition(it->key().ToStringView());
      ASSERT_TRUE(position.has_value());
      EXPECT_TRUE(in_log(position->value()))
          << internal::CfName(cf) << " points to removed position " << position->value();
    }
  }
  std::unique_ptr<rocksdb::Iterator> ids(
      db->NewIterator(rocksdb::ReadOptions(), storage->cf(internal::Cf::kEventIds)));
  for (ids->SeekToFirst(); ids->Valid(); ids->Next()) {
    auto value = internal::DecodeEventIdValue(ids->value().ToStringView());
    ASSERT_TRUE(value.has_value());
    EXPECT_TRUE(in_log(value->position.value())) << "event id points to a removed event";
  }
  std::unique_ptr<rocksdb::Iterator> copies(
      db->NewIterator(rocksdb::ReadOptions(), storage->cf(internal::Cf::kStreamEvents)));
  EventRecord record;
  for (copies->SeekToFirst(); copies->Valid(); copies->Next()) {
    ASSERT_OK(internal::DecodeStoredEvent(copies->value().ToStringView(), &record));
    EXPECT_TRUE(in_log(record.position.value())) << "stream copy of a removed event";
  }
  *log_events = 0;
  std::unique_ptr<rocksdb::Iterator> log(
      db->NewIterator(rocksdb::ReadOptions(), storage->cf(internal::Cf::kLog)));
  for (log->SeekToFirst(); log->Valid(); log->Next()) ++*log_events;
}

std::string RandomPayload(std::mt19937_64& rng, size_t bytes) {
  std::string payload(bytes, '\0');
  for (char& c : payload) c = static_cast<char>('a' + rng() % 26);
  return payload;
}

TEST_F(LifecycleTest, ScavengeRemovesADeletedStreamWithItsIndexEntriesAndFreesSpace) {
  std::mt19937_64 rng(42);
  constexpr int kBig = 4000;
  for (int batch = 0; batch < kBig / 100; ++batch) {
    std::vector<EventData> events;
    for (int i = 0; i < 100; ++i) {
      EventData event = Event(i % 2 ? "Big" : "Bigger", RandomPayload(rng, 2000));
      event.correlation_id = "corr-" + std::to_string(i % 7);
      event.causation_id = "cause-" + std::to_string(i % 5);
      event.event_id = EventId::Generate();  // caller ids: event_ids entries too
      events.push_back(std::move(event));
    }
    ASSERT_OK(store_->Append({"big-1", ExpectedRevision::Any(), std::move(events)}));
    ASSERT_OK(store_->Append({"small-1", ExpectedRevision::Any(), {Event("Big")}}));
  }
  ASSERT_OK(store_->DeleteStream("big-1", {.actor = "test"}));
  ASSERT_OK_AND_ASSIGN(ScavengeResult result, Scavenge(*store_));
  EXPECT_EQ(result.events_removed, static_cast<uint64_t>(kBig));
  EXPECT_EQ(result.streams_scavenged, 1u);
  EXPECT_GE(result.index_entries_removed, 4u * kBig);
  // 4000 x 2 KB of incompressible-ish payload, stored twice: most of it goes.
  EXPECT_GT(result.bytes_before, 8'000'000u);
  EXPECT_LT(result.bytes_after, result.bytes_before / 4);

  // What stays is intact, and the deleted stream's numbering survives.
  {
    // (An open iterator keeps the files open: drop it before reopening.)
    auto small = store_->ReadStream("small-1");
    ASSERT_OK(small.status());
    EXPECT_EQ(Drain(**small).size(), static_cast<size_t>(kBig / 100));
  }
  EXPECT_THAT(ReadRevisions(store_->ReadCategory("big")), IsEmpty());
  store_.Reopen();
  ASSERT_OK_AND_ASSIGN(AppendResult again,
                       store_->Append({"big-1", ExpectedRevision::NoStream(), {Event("New")}}));
  EXPECT_EQ(again.first_revision, Revision(kBig));
  store_.Close();
  uint64_t log_events = 0;
  ExpectNoDanglingEntries(store_.path() + "/store", &log_events);
  // small-1's events, one audit event, the new big-1 event.
  EXPECT_EQ(log_events, static_cast<uint64_t>(kBig / 100 + 2));
}

TEST_F(LifecycleTest, ScavengeAppliesRetentionAndTombstones) {
  AppendN("order-1", 20);
  AppendN("order-2", 5);
  AppendN("order-3", 5);
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 4}));
  ASSERT_OK(store_->TombstoneStream("order-2"));
  ASSERT_OK_AND_ASSIGN(ScavengeResult result, Scavenge(*store_));
  EXPECT_EQ(result.events_removed, 16u + 5u);
  EXPECT_EQ(result.streams_scavenged, 2u);
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-1")), ElementsAre(16, 17, 18, 19));
  EXPECT_THAT(ReadRevisions(store_->ReadStream("order-3")), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(store_->ReadStream("order-2"), StatusIs(absl::StatusCode::kFailedPrecondition));
  // A second scavenge finds nothing more.
  ASSERT_OK_AND_ASSIGN(ScavengeResult again, Scavenge(*store_));
  EXPECT_EQ(again.events_removed, 0u);
  store_.Reopen();
  EXPECT_THAT(store_->Append({"order-2", ExpectedRevision::Any(), {Event("X")}}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("order-2"));
  EXPECT_EQ(info.last_revision, Revision(4));
  store_.Close();
  uint64_t log_events = 0;
  ExpectNoDanglingEntries(store_.path() + "/store", &log_events);
  EXPECT_EQ(log_events, 4u + 5u + 2u);  // order-1 kept, order-3, two audit events
}

TEST_F(LifecycleTest, ScavengeReportsStreamsThenCompactionAsItGoes) {
  AppendN("order-1", 20);
  AppendN("order-2", 5);
  AppendN("order-3", 5);
  ASSERT_OK(store_->SetStreamMetadata("order-1", {.max_count = 4}));
  ASSERT_OK(store_->TombstoneStream("order-2"));
  ASSERT_OK(store_->DeleteStream("order-3"));
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> calls;
  ASSERT_OK_AND_ASSIGN(
      ScavengeResult result,
      Scavenge(*store_, {.progress = [&](std::string_view step, uint64_t done, uint64_t total) {
        calls.emplace_back(std::string(step), done, total);
      }}));
  EXPECT_EQ(result.events_removed, 16u + 5u + 5u);  // the same as without progress
  EXPECT_EQ(result.streams_scavenged, 3u);
  // After each stream with a lifecycle setting, then after each column
  // family compacted: counting up to the total.
  ASSERT_GE(calls.size(), 3u + 1u);
  size_t i = 0;
  for (uint64_t n = 1; n <= 3; ++n, ++i) {
    EXPECT_EQ(calls[i], std::make_tuple(std::string("streams"), n, uint64_t{3}));
  }
  const uint64_t families = std::get<2>(calls[i]);
  EXPECT_GT(families, 1u);
  ASSERT_EQ(calls.size(), 3u + families);
  for (uint64_t n = 1; n <= families; ++n, ++i) {
    EXPECT_EQ(calls[i], std::make_tuple(std::string("compact"), n, families));
  }
  // Nothing to remove: the streams are examined, nothing is compacted.
  calls.clear();
  ASSERT_OK(
      Scavenge(*store_, {.progress = [&](std::string_view step, uint64_t done, uint64_t total) {
        calls.emplace_back(std::string(step), done, total);
      }}).status());
  ASSERT_FALSE(calls.empty());
  for (const auto& call : calls) EXPECT_EQ(std::get<0>(call), "streams");
  EXPECT_EQ(std::get<1>(calls.back()), std::get<2>(calls.back()));
}

TEST_F(LifecycleTest, ScavengingTheLastEventOfTheLogKeepsItsPositionAcrossReopen) {
  ASSERT_OK(store_->SetStreamMetadata("temp-1", {.max_age = absl::Seconds(1)})
                .status());  // $$temp-1 at 1
  ASSERT_OK_AND_ASSIGN(AppendResult last,
                       store_->Append({"temp-1", ExpectedRevision::Any(), {Event("E")}}));
  ASSERT_EQ(last.last_position, Position(2));
  now_us_->fetch_add(5'000'000);
  ASSERT_OK_AND_ASSIGN(ScavengeResult scavenged, Scavenge(*store_));
  ASSERT_EQ(scavenged.events_removed, 1u);  // position 2, the log's last event
  store_.Reopen();
  EXPECT_EQ(store_->head(), Position(2));
  ASSERT_OK_AND_ASSIGN(AppendResult next,
                       store_->Append({"other-1", ExpectedRevision::Any(), {Event("E")}}));
  EXPECT_EQ(next.first_position, Position(3));  // never position 2 again
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.gaps, 1u);
  EXPECT_EQ(report.unbridged_gaps, 0u);
}

TEST_F(LifecycleTest, AppendsGoOnDuringScavenge) {
  AppendN("order-1", 500);
  ASSERT_OK(store_->DeleteStream("order-1"));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    int i = 0;
    while (!done.load()) {
      ASSERT_OK(
          store_->Append({"live-1", ExpectedRevision::Any(), {Event("E" + std::to_string(i++))}}));
    }
  });
  ASSERT_OK_AND_ASSIGN(ScavengeResult result, Scavenge(*store_));
  done = true;
  writer.join();
  EXPECT_EQ(result.events_removed, 500u);
  auto live = store_->ReadStream("live-1");
  ASSERT_OK(live.status());
  std::vector<EventRecord> events = Drain(**live);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].revision, Revision(i));
}

}  // namespace
}  // namespace annals::testing
