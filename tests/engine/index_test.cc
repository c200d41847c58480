// Secondary indexes and filtered reads: category, event type, correlation
// and causation reads, ReadAll with a filter and time bounds, reached(), the
// indexes written with their events, and the in-place upgrade of format 1.
#include <string>
#include <vector>

#include "annals/event_store.h"
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

EventData Correlated(std::string type, std::string correlation, std::string causation = "") {
  EventData event = Event(std::move(type));
  event.correlation_id = std::move(correlation);
  event.causation_id = std::move(causation);
  return event;
}

// A manual clock: each test moves time explicitly.
struct FakeClock {
  std::shared_ptr<std::atomic<int64_t>> us = std::make_shared<std::atomic<int64_t>>(1'000'000);
  std::function<absl::Time()> fn() const {
    auto p = us;
    return [p] { return absl::FromUnixMicros(p->load()); };
  }
};

class IndexTest : public ::testing::Test {
 protected:
  IndexTest() : store_(OptionsWithClock()) {}
  StoreOptions OptionsWithClock() {
    StoreOptions options = TestOptions();
    options.clock = clock_.fn();
    return options;
  }
  void SetUp() override {
    // Positions: 1 order-1 Placed c1 | 2 invoice-1 Issued c1/cause o1 |
    // 3 order-2 Placed c2 | 4 order-1 Shipped c1 | 5 user-7 Registered |
    // 6 order-2 Cancelled c2 ; recorded at t=1s,1s,2s,2s,3s,4s.
    Append("order-1", Correlated("Placed", "c1"));
    Append("invoice-1", Correlated("Issued", "c1", "o1"));
    clock_.us->store(2'000'000);
    Append("order-2", Correlated("Placed", "c2"));
    Append("order-1", Correlated("Shipped", "c1"));
    clock_.us->store(3'000'000);
    Append("user-7", Event("Registered"));
    clock_.us->store(4'000'000);
    Append("order-2", Correlated("Cancelled", "c2"));
  }
  void Append(const std::string& stream, EventData event) {
    ASSERT_OK(store_->Append({stream, ExpectedRevision::Any(), {std::move(event)}}));
  }
  std::vector<uint64_t> Read(absl::StatusOr<std::unique_ptr<EventIterator>> it) {
    EXPECT_OK(it.status());
    if (!it.ok()) return {};
    return Positions(Drain(**it));
  }

  FakeClock clock_;
  TempStore store_;
};

TEST_F(IndexTest, CategoryReadReturnsItsEventsInPositionOrder) {
  EXPECT_THAT(Read(store_->ReadCategory("order")), ElementsAre(1, 3, 4, 6));
  EXPECT_THAT(Read(store_->ReadCategory("invoice")), ElementsAre(2));
  EXPECT_THAT(Read(store_->ReadCategory("nothing")), IsEmpty());
}

TEST_F(IndexTest, TypeCorrelationAndCausationReads) {
  EXPECT_THAT(Read(store_->ReadEventType("Placed")), ElementsAre(1, 3));
  EXPECT_THAT(Read(store_->ReadCorrelation("c1")), ElementsAre(1, 2, 4));
  EXPECT_THAT(Read(store_->ReadCorrelation("c2")), ElementsAre(3, 6));
  EXPECT_THAT(Read(store_->ReadCausation("o1")), ElementsAre(2));
}

TEST_F(IndexTest, IndexReadsGoBackwardFromAndWithLimits) {
  ReadAllOptions backward{.direction = Direction::kBackward};
  EXPECT_THAT(Read(store_->ReadCategory("order", backward)), ElementsAre(6, 4, 3, 1));
  backward.from = Position(4);
  backward.max_count = 2;
  EXPECT_THAT(Read(store_->ReadCategory("order", backward)), ElementsAre(4, 3));
  ReadAllOptions forward{.from = Position(2), .max_count = 2};
  EXPECT_THAT(Read(store_->ReadCategory("order", forward)), ElementsAre(3, 4));
}

TEST_F(IndexTest, IndexReadReturnsWholeEvents) {
  auto it = store_->ReadCorrelation("c1", {.from = Position(2), .max_count = 1});
  ASSERT_OK(it.status());
  std::vector<EventRecord> records = Drain(**it);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].stream, "invoice-1");
  EXPECT_EQ(records[0].type, "Issued");
  EXPECT_EQ(records[0].causation_id, "o1");
  EXPECT_EQ(records[0].revision, Revision(0));
}

TEST_F(IndexTest, ReadAllWithFilters) {
  EXPECT_THAT(Read(store_->ReadAll({.filter = {.categories = {"order", "user"}}})),
              ElementsAre(1, 3, 4, 5, 6));
  // Duplicate names in a filter do not duplicate events.
  EXPECT_THAT(Read(store_->ReadAll({.filter = {.categories = {"order", "order"}}})),
              ElementsAre(1, 3, 4, 6));
  EXPECT_THAT(Read(store_->ReadAll({.filter = {.event_types = {"Placed", "Registered"}}})),
              ElementsAre(1, 3, 5));
  EXPECT_THAT(Read(store_->ReadAll({.filter = {.stream_prefixes = {"order-2", "inv"}}})),
              ElementsAre(2, 3, 6));
  // Lists combine: category AND type.
  EXPECT_THAT(
      Read(store_->ReadAll({.filter = {.categories = {"order"}, .event_types = {"Placed"}}})),
      ElementsAre(1, 3));
  EXPECT_THAT(Read(store_->ReadAll({.direction = Direction::kBackward,
                                    .max_count = 2,
                                    .filter = {.event_types = {"Placed", "Shipped"}}})),
              ElementsAre(4, 3));
}

TEST_F(IndexTest, FilteredReadsReportHowFarTheyLooked) {
  // A filter that matches nothing still reaches the head.
  auto none = store_->ReadAll({.filter = {.stream_prefixes = {"nobody"}}});
  ASSERT_OK(none.status());
  EXPECT_FALSE((*none)->Valid());
  EXPECT_EQ((*none)->reached(), Position(6));
  auto by_index = store_->ReadCategory("nothing");
  ASSERT_OK(by_index.status());
  EXPECT_EQ((*by_index)->reached(), Position(6));

  // With a limit: the last event returned; continuing from there is exact.
  auto first = store_->ReadAll({.max_count = 1, .filter = {.categories = {"order"}}});
  ASSERT_OK(first.status());
  ASSERT_TRUE((*first)->Valid());
  EXPECT_EQ((*first)->reached(), Position(1));
  (*first)->Next();
  EXPECT_FALSE((*first)->Valid());
  EXPECT_EQ((*first)->reached(), Position(1));
  EXPECT_THAT(Read(store_->ReadAll({.from = Position(2), .filter = {.categories = {"order"}}})),
              ElementsAre(3, 4, 6));
  // An exhausted read ends at its bound.
  auto all = store_->ReadAll({.filter = {.event_types = {"Placed"}}});
  ASSERT_OK(all.status());
  Drain(**all);
  EXPECT_EQ((*all)->reached(), Position(6));
}

TEST_F(IndexTest, TimeBoundsFindTheFirstEventAtOrAfter) {
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(0)), IsOkAndHolds(Position(1)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(2'000'000)), IsOkAndHolds(Position(3)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(2'500'000)), IsOkAndHolds(Position(5)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(9'000'000)), IsOkAndHolds(Position(7)));
  EXPECT_THAT(Read(store_->ReadAll({.since = absl::FromUnixMicros(2'000'000)})),
              ElementsAre(3, 4, 5, 6));
  EXPECT_THAT(Read(store_->ReadAll({.since = absl::FromUnixMicros(2'000'000),
                                    .until = absl::FromUnixMicros(4'000'000)})),
              ElementsAre(3, 4, 5));
  EXPECT_THAT(Read(store_->ReadAll(
                  {.direction = Direction::kBackward, .until = absl::FromUnixMicros(3'000'000)})),
              ElementsAre(4, 3, 2, 1));
  EXPECT_THAT(Read(store_->ReadCategory("order", {.since = absl::FromUnixMicros(1'500'000)})),
              ElementsAre(3, 4, 6));
}

TEST_F(IndexTest, TimesInsideOneIndexBucketAreExact) {
  // Three commits within one millisecond: the index holds the first, the
  // lookup scans the rest of the bucket.
  clock_.us->store(5'000'100);
  Append("order-3", Event("A"));  // 7
  clock_.us->store(5'000'400);
  Append("order-3", Event("B"));  // 8
  clock_.us->store(5'000'700);
  Append("order-3", Event("C"));  // 9
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(5'000'100)), IsOkAndHolds(Position(7)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(5'000'101)), IsOkAndHolds(Position(8)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(5'000'400)), IsOkAndHolds(Position(8)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(5'000'699)), IsOkAndHolds(Position(9)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(5'000'701)), IsOkAndHolds(Position(10)));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(4'999'999)), IsOkAndHolds(Position(7)));
}

TEST_F(IndexTest, AClockGoingBackDoesNotBreakTimeReads) {
  clock_.us->store(500'000);  // before everything: recorded_at is clamped
  Append("order-3", Event("Placed"));
  EXPECT_THAT(FindPosition(*store_, absl::FromUnixMicros(4'000'000)), IsOkAndHolds(Position(6)));
  EXPECT_THAT(Read(store_->ReadAll({.since = absl::FromUnixMicros(4'000'000)})), ElementsAre(6, 7));
}

TEST_F(IndexTest, BadIndexKeysAreInvalidArgument) {
  EXPECT_THAT(store_->ReadCategory(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->ReadEventType(std::string("a\0b", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->ReadCorrelation(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->ReadCausation(std::string(1, '\0')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(IndexTest, NulBytesInIndexedFieldsAreRejectedAndNothingIsWritten) {
  for (EventData bad : {Event(std::string("A\0B", 3)), Correlated("A", std::string("c\0", 2)),
                        Correlated("A", "c", std::string("\0", 1))}) {
    EXPECT_THAT(store_->Append({"order-9", ExpectedRevision::Any(), {bad}}),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(store_->head(), Position(6));
}

// Reads every entry of one index column family through the internal handle.
std::vector<std::string> IndexKeys(const std::string& path, internal::Cf cf) {
  bool created = false;
  auto storage_or = internal::Storage::Open(path, TestOptions(), &created);
  EXPECT_TRUE(storage_or.ok()) << storage_or.status();
  std::vector<std::string> keys;
  if (!storage_or.ok()) return keys;
  auto storage = *storage_or;
  std::unique_ptr<rocksdb::Iterator> it(
      storage->db()->NewIterator(rocksdb::ReadOptions(), storage->cf(cf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
  return keys;
}

TEST(IndexUpgradeTest, AFormat1StoreIsUpgradedInPlaceOnOpen) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  {
    auto store = EventStore::Open(path, TestOptions());
    ASSERT_OK(store.status());
    for (int i = 0; i < 30; ++i) {
      EventData event = Correlated(i % 2 ? "Odd" : "Even", "corr-" + std::to_string(i % 3));
      ASSERT_OK(
          (*store)->Append({"order-" + std::to_string(i % 4), ExpectedRevision::Any(), {event}}));
    }
  }
  {
    // Make it a format-1 store: no index entries, format record 1.
    bool created = false;
    auto storage = internal::Storage::Open(path, TestOptions(), &created);
    ASSERT_OK(storage.status());
    rocksdb::DB* db = (*storage)->db();
    for (internal::Cf cf :
         {internal::Cf::kByCategory, internal::Cf::kByType, internal::Cf::kByCorrelation,
          internal::Cf::kByCausation, internal::Cf::kByTime}) {
      ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), (*storage)->cf(cf), std::string(),
                                  std::string(64, '\xff'))
                      .ok());
    }
    std::string format;
    ASSERT_TRUE(
        db->Get(rocksdb::ReadOptions(), (*storage)->cf(internal::Cf::kMeta), "format", &format)
            .ok());
    format[1] = 1;  // FormatInfo.format_version (field 1, varint) = 1
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), (*storage)->cf(internal::Cf::kMeta), "format", format)
            .ok());
  }
  EXPECT_THAT(IndexKeys(path, internal::Cf::kByCategory), IsEmpty());
  auto store = EventStore::Open(path, TestOptions());
  ASSERT_OK(store.status());
  auto it = (*store)->ReadCategory("order");
  ASSERT_OK(it.status());
  EXPECT_EQ(Drain(**it).size(), 30u);
  auto odd = (*store)->ReadEventType("Odd");
  ASSERT_OK(odd.status());
  EXPECT_EQ(Drain(**odd).size(), 15u);
  auto corr = (*store)->ReadCorrelation("corr-0");
  ASSERT_OK(corr.status());
  EXPECT_EQ(Drain(**corr).size(), 10u);
  EXPECT_THAT(FindPosition(**store, absl::InfinitePast()), IsOkAndHolds(Position(1)));
  // New appends keep indexing after the upgrade.
  ASSERT_OK((*store)->Append({"order-9", ExpectedRevision::Any(), {Event("Odd")}}));
  auto odd2 = (*store)->ReadEventType("Odd");
  ASSERT_OK(odd2.status());
  EXPECT_EQ(Drain(**odd2).size(), 16u);
}

}  // namespace
}  // namespace annals::testing
