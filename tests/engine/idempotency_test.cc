// Idempotent appends by event id, KurrentDB's algorithm: a retry whose ids
// are stored at the revisions it would have taken returns the original
// result and writes nothing; a partial overlap is an error.
#include <array>
#include <string>
#include <thread>
#include <vector>

#include "annals/errors.h"
#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

EventData WithId(std::string type, int id) {
  EventData event = Event(std::move(type));
  std::array<uint8_t, 16> bytes{};
  bytes[15] = static_cast<uint8_t>(id);
  bytes[0] = 0x42;
  event.event_id = EventId(bytes);
  return event;
}

class IdempotencyTest : public ::testing::Test {
 protected:
  TempStore store_;
};

TEST_F(IdempotencyTest, RetryWithExactRevisionReturnsOriginalResultAndWritesNothing) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}}));
  AppendRequest request{
      "order-1", ExpectedRevision::Exact(Revision(0)), {WithId("B", 2), WithId("C", 3)}};
  ASSERT_OK_AND_ASSIGN(AppendResult original, store_->Append(request));
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {WithId("D", 4)}}));
  const Position head = store_->head();

  ASSERT_OK_AND_ASSIGN(AppendResult retried, store_->Append(request));
  EXPECT_EQ(retried, original);
  EXPECT_EQ(store_->head(), head);
}

TEST_F(IdempotencyTest, RetryWithNoStreamReturnsOriginalResult) {
  AppendRequest request{"order-1", ExpectedRevision::NoStream(), {WithId("A", 1), WithId("B", 2)}};
  ASSERT_OK_AND_ASSIGN(AppendResult original, store_->Append(request));
  ASSERT_OK_AND_ASSIGN(AppendResult retried, store_->Append(request));
  EXPECT_EQ(retried, original);
  EXPECT_EQ(store_->head(), Position(2));
}

TEST_F(IdempotencyTest, RetryAfterReopenStillReturnsOriginalResult) {
  AppendRequest request{"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}};
  ASSERT_OK_AND_ASSIGN(AppendResult original, store_->Append(request));
  store_.Reopen();
  ASSERT_OK_AND_ASSIGN(AppendResult retried, store_->Append(request));
  EXPECT_EQ(retried, original);
  EXPECT_EQ(store_->head(), Position(1));
}

TEST_F(IdempotencyTest, StaleRevisionWithNewIdsIsAConflict) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}}));
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Exact(Revision(0)), {WithId("B", 2)}}));
  absl::Status status =
      store_->Append({"order-1", ExpectedRevision::Exact(Revision(0)), {WithId("C", 9)}}).status();
  EXPECT_TRUE(IsWrongExpectedRevision(status)) << status;
  EXPECT_EQ(store_->head(), Position(2));
}

TEST_F(IdempotencyTest, PartialOverlapIsAnErrorAndWritesNothing) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}}));
  ASSERT_OK(store_->Append(
      {"order-1", ExpectedRevision::Exact(Revision(0)), {WithId("B", 2), WithId("C", 3)}}));
  // Same first id at revision 1, but a different second event.
  absl::Status status =
      store_
          ->Append(
              {"order-1", ExpectedRevision::Exact(Revision(0)), {WithId("B", 2), WithId("X", 7)}})
          .status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_FALSE(IsWrongExpectedRevision(status));
  EXPECT_EQ(store_->head(), Position(3));
}

TEST_F(IdempotencyTest, RetryLongerThanWhatWasStoredIsPartial) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}}));
  absl::Status status =
      store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1), WithId("B", 2)}})
          .status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(store_->head(), Position(1));
}

TEST_F(IdempotencyTest, AnyDeduplicatesByEventId) {
  AppendRequest request{"order-1", ExpectedRevision::Any(), {WithId("A", 1), WithId("B", 2)}};
  ASSERT_OK_AND_ASSIGN(AppendResult original, store_->Append(request));
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {WithId("C", 3)}}));
  ASSERT_OK_AND_ASSIGN(AppendResult retried, store_->Append(request));
  EXPECT_EQ(retried, original);
  EXPECT_EQ(store_->head(), Position(3));
}

TEST_F(IdempotencyTest, AnyWithSomeKnownIdsIsPartial) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {WithId("A", 1)}}));
  EXPECT_THAT(
      store_->Append({"order-1", ExpectedRevision::Any(), {WithId("A", 1), WithId("B", 2)}}),
      StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(store_->head(), Position(1));
}

TEST_F(IdempotencyTest, StreamExistsDeduplicatesByEventId) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}}));
  AppendRequest request{"order-1", ExpectedRevision::StreamExists(), {WithId("B", 2)}};
  ASSERT_OK_AND_ASSIGN(AppendResult original, store_->Append(request));
  ASSERT_OK_AND_ASSIGN(AppendResult retried, store_->Append(request));
  EXPECT_EQ(retried, original);
  EXPECT_EQ(store_->head(), Position(2));
}

TEST_F(IdempotencyTest, AppendsWithoutCallerIdsAreNeverDeduplicated) {
  // Ids the store generates cannot come back in a retry: each append is new.
  AppendRequest request{"order-1", ExpectedRevision::Any(), {Event("A"), Event("B")}};
  ASSERT_OK(store_->Append(request));
  ASSERT_OK_AND_ASSIGN(AppendResult second, store_->Append(request));
  EXPECT_EQ(second.first_revision, Revision(2));
  EXPECT_EQ(store_->head(), Position(4));
}

TEST_F(IdempotencyTest, SameEventIdMayBeUsedInAnotherStream) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {WithId("A", 1)}}));
  ASSERT_OK_AND_ASSIGN(AppendResult other,
                       store_->Append({"order-2", ExpectedRevision::Any(), {WithId("A", 1)}}));
  EXPECT_EQ(other.first_position, Position(2));
  EXPECT_EQ(store_->head(), Position(2));
}

TEST_F(IdempotencyTest, DuplicateRetriesInOneGroupAreDeduplicated) {
  // Two identical requests racing: exactly one writes, the other returns the
  // same result, even when both land in the same commit group.
  AppendRequest request{"order-1", ExpectedRevision::NoStream(), {WithId("A", 1), WithId("B", 2)}};
  absl::StatusOr<AppendResult> a, b;
  std::thread t1([&] { a = store_->Append(request); });
  std::thread t2([&] { b = store_->Append(request); });
  t1.join();
  t2.join();
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(store_->head(), Position(2));
}

TEST_F(IdempotencyTest, MultiAppendRetryReturnsOriginalResults) {
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}});
  request.appends.push_back({"invoice-1", ExpectedRevision::NoStream(), {WithId("B", 2)}});
  ASSERT_OK_AND_ASSIGN(MultiAppendResult original, store_->AppendMulti(request));
  ASSERT_OK_AND_ASSIGN(MultiAppendResult retried, store_->AppendMulti(request));
  EXPECT_EQ(retried.results, original.results);
  EXPECT_EQ(store_->head(), Position(2));
}

TEST_F(IdempotencyTest, MultiAppendHalfRepeatedIsAConflict) {
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}}));
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::NoStream(), {WithId("A", 1)}});
  request.appends.push_back({"invoice-1", ExpectedRevision::NoStream(), {WithId("B", 2)}});
  absl::Status status = store_->AppendMulti(request).status();
  EXPECT_TRUE(IsWrongExpectedRevision(status)) << status;
  EXPECT_EQ(store_->head(), Position(1));
}

}  // namespace
}  // namespace annals::testing
