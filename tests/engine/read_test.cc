// Reads: one stream and the global log, both directions, from a revision or
// position, bounded counts; snapshots; iterators outliving Close().
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class ReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // order-1 gets revisions 0..4 at positions 1,3,5,7,9; order-2 the evens.
    for (int i = 0; i < 5; ++i) {
      for (const char* stream : {"order-1", "order-2"}) {
        ASSERT_OK(
            store_->Append({stream, ExpectedRevision::Any(), {Event("E" + std::to_string(i))}}));
      }
    }
  }

  std::vector<EventRecord> ReadStream(const std::string& stream, ReadStreamOptions options = {}) {
    auto it = store_->ReadStream(stream, options);
    EXPECT_OK(it);
    return it.ok() ? Drain(**it) : std::vector<EventRecord>{};
  }
  std::vector<EventRecord> ReadAll(ReadAllOptions options = {}) {
    auto it = store_->ReadAll(options);
    EXPECT_OK(it);
    return it.ok() ? Drain(**it) : std::vector<EventRecord>{};
  }

  TempStore store_;
};

TEST_F(ReadTest, StreamForwardReturnsItsEventsInRevisionOrder) {
  std::vector<EventRecord> records = ReadStream("order-1");
  EXPECT_THAT(Revisions(records), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Positions(records), ElementsAre(1, 3, 5, 7, 9));
  for (const EventRecord& r : records) EXPECT_EQ(r.stream, "order-1");
}

TEST_F(ReadTest, StreamForwardFromRevisionWithLimit) {
  EXPECT_THAT(Revisions(ReadStream("order-1", {.from = Revision(2), .max_count = 2})),
              ElementsAre(2, 3));
  EXPECT_THAT(ReadStream("order-1", {.from = Revision(9)}), IsEmpty());
}

TEST_F(ReadTest, StreamBackwardFromEndAndFromRevision) {
  EXPECT_THAT(Revisions(ReadStream("order-2", {.direction = Direction::kBackward})),
              ElementsAre(4, 3, 2, 1, 0));
  EXPECT_THAT(
      Revisions(ReadStream(
          "order-2", {.direction = Direction::kBackward, .from = Revision(2), .max_count = 2})),
      ElementsAre(2, 1));
  // From beyond the end starts at the last event.
  EXPECT_THAT(
      Revisions(ReadStream(
          "order-2", {.direction = Direction::kBackward, .from = Revision(99), .max_count = 1})),
      ElementsAre(4));
}

TEST_F(ReadTest, MaxCountZeroReturnsNothing) {
  EXPECT_THAT(ReadStream("order-1", {.max_count = 0}), IsEmpty());
  EXPECT_THAT(ReadAll({.max_count = 0}), IsEmpty());
}

TEST_F(ReadTest, UnknownStreamIsNotFound) {
  EXPECT_THAT(store_->ReadStream("order-404"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetStreamInfo("order-404"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ReadTest, AllForwardIsDenseFromPositionOne) {
  std::vector<EventRecord> records = ReadAll();
  EXPECT_THAT(Positions(records), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  EXPECT_EQ(records[0].stream, "order-1");
  EXPECT_EQ(records[1].stream, "order-2");
}

TEST_F(ReadTest, AllFromPositionBothDirections) {
  EXPECT_THAT(Positions(ReadAll({.from = Position(8)})), ElementsAre(8, 9, 10));
  EXPECT_THAT(Positions(ReadAll({.direction = Direction::kBackward, .max_count = 3})),
              ElementsAre(10, 9, 8));
  EXPECT_THAT(Positions(ReadAll({.direction = Direction::kBackward, .from = Position(3)})),
              ElementsAre(3, 2, 1));
  EXPECT_THAT(ReadAll({.from = Position(11)}), IsEmpty());
  EXPECT_THAT(ReadAll({.direction = Direction::kBackward, .from = Position(0)}), IsEmpty());
}

TEST_F(ReadTest, StreamInfoNamesTheHead) {
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("order-2"));
  EXPECT_EQ(info.stream, "order-2");
  EXPECT_EQ(info.last_revision, Revision(4));
  EXPECT_EQ(info.last_position, Position(10));
  EXPECT_LE(info.created_at, info.updated_at);
}

TEST_F(ReadTest, AnIteratorSeesTheStoreAsOfItsStart) {
  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAll());
  ASSERT_OK_AND_ASSIGN(auto stream, store_->ReadStream("order-1"));
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {Event("Late")}}));
  EXPECT_EQ(Drain(*all).size(), 10u);
  EXPECT_EQ(Drain(*stream).size(), 5u);
}

TEST_F(ReadTest, IteratorOutlivesClose) {
  ASSERT_OK_AND_ASSIGN(auto it, store_->ReadAll());
  ASSERT_OK(store_->Close());
  EXPECT_EQ(Drain(*it).size(), 10u);
}

TEST_F(ReadTest, LargeStreamReadsInBothDirections) {
  std::vector<EventData> events;
  for (int i = 0; i < 1000; ++i) events.push_back(Event("Bulk", std::string(100, 'x')));
  ASSERT_OK(store_->Append({"bulk-1", ExpectedRevision::NoStream(), std::move(events)}));
  ASSERT_OK_AND_ASSIGN(auto it, store_->ReadStream("bulk-1"));
  uint64_t expected = 0;
  for (; it->Valid(); it->Next()) EXPECT_EQ(it->record().revision.value(), expected++);
  EXPECT_OK(it->status());
  EXPECT_EQ(expected, 1000u);
  ASSERT_OK_AND_ASSIGN(auto back,
                       store_->ReadStream("bulk-1", {.direction = Direction::kBackward}));
  EXPECT_EQ(back->record().revision, Revision(999));
}

}  // namespace
}  // namespace annals::testing
