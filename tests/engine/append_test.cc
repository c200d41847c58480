// Append semantics: expected revisions (KurrentDB rules), atomicity, results,
// multi-stream appends and their typed conflict reports.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "annals/errors.h"
#include "annals/event_store.h"
#include "annals/stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

class AppendTest : public ::testing::Test {
 protected:
  absl::StatusOr<AppendResult> AppendN(const std::string& stream, ExpectedRevision expected,
                                       int count, const std::string& type = "Happened") {
    std::vector<EventData> events;
    for (int i = 0; i < count; ++i)
      events.push_back(Event(type, "{\"i\":" + std::to_string(i) + "}"));
    return store_->Append({stream, expected, std::move(events)});
  }

  // Asserts `status` is a wrong-expected-revision failure with exactly these conflicts.
  static void ExpectConflicts(const absl::Status& status, std::vector<StreamConflict> expected) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted));
    ASSERT_TRUE(IsWrongExpectedRevision(status)) << status;
    std::optional<WrongExpectedRevision> details = GetWrongExpectedRevision(status);
    ASSERT_TRUE(details.has_value());
    EXPECT_EQ(details->conflicts, expected);
  }

  TempStore store_;
};

TEST_F(AppendTest, FirstAppendStartsAtRevisionZeroAndPositionOne) {
  ASSERT_OK_AND_ASSIGN(AppendResult result, AppendN("order-1", ExpectedRevision::NoStream(), 3));
  EXPECT_EQ(result.first_revision, Revision(0));
  EXPECT_EQ(result.last_revision, Revision(2));
  EXPECT_EQ(result.first_position, Position(1));
  EXPECT_EQ(result.last_position, Position(3));
  EXPECT_EQ(store_->head(), Position(3));
}

TEST_F(AppendTest, ExactRevisionContinuesTheStream) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 2));
  ASSERT_OK(AppendN("order-2", ExpectedRevision::NoStream(), 1));
  ASSERT_OK_AND_ASSIGN(AppendResult result,
                       AppendN("order-1", ExpectedRevision::Exact(Revision(1)), 2));
  EXPECT_EQ(result.first_revision, Revision(2));
  EXPECT_EQ(result.last_revision, Revision(3));
  EXPECT_EQ(result.first_position, Position(4));
  EXPECT_EQ(result.last_position, Position(5));
}

TEST_F(AppendTest, StaleExactRevisionFailsAndWritesNothing) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 3));
  ExpectConflicts(AppendN("order-1", ExpectedRevision::Exact(Revision(1)), 1).status(),
                  {{"order-1", ExpectedRevision::Exact(Revision(1)), Revision(2)}});
  EXPECT_EQ(store_->head(), Position(3));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("order-1"));
  EXPECT_EQ(info.last_revision, Revision(2));
}

TEST_F(AppendTest, ExactRevisionAheadOfTheStreamFails) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 1));
  ExpectConflicts(AppendN("order-1", ExpectedRevision::Exact(Revision(5)), 1).status(),
                  {{"order-1", ExpectedRevision::Exact(Revision(5)), Revision(0)}});
  EXPECT_EQ(store_->head(), Position(1));
}

TEST_F(AppendTest, ExactRevisionOnMissingStreamFails) {
  ExpectConflicts(AppendN("order-1", ExpectedRevision::Exact(Revision(0)), 1).status(),
                  {{"order-1", ExpectedRevision::Exact(Revision(0)), std::nullopt}});
  EXPECT_EQ(store_->head(), Position(0));
}

TEST_F(AppendTest, NoStreamOnExistingStreamFails) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 1));
  ExpectConflicts(AppendN("order-1", ExpectedRevision::NoStream(), 1).status(),
                  {{"order-1", ExpectedRevision::NoStream(), Revision(0)}});
  EXPECT_EQ(store_->head(), Position(1));
}

TEST_F(AppendTest, StreamExistsRequiresAnEvent) {
  ExpectConflicts(AppendN("order-1", ExpectedRevision::StreamExists(), 1).status(),
                  {{"order-1", ExpectedRevision::StreamExists(), std::nullopt}});
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 1));
  ASSERT_OK_AND_ASSIGN(AppendResult result,
                       AppendN("order-1", ExpectedRevision::StreamExists(), 1));
  EXPECT_EQ(result.first_revision, Revision(1));
}

TEST_F(AppendTest, AnyAppendsWhateverTheState) {
  ASSERT_OK_AND_ASSIGN(AppendResult first, AppendN("order-1", ExpectedRevision::Any(), 1));
  EXPECT_EQ(first.first_revision, Revision(0));
  ASSERT_OK_AND_ASSIGN(AppendResult second, AppendN("order-1", ExpectedRevision::Any(), 2));
  EXPECT_EQ(second.first_revision, Revision(1));
  EXPECT_EQ(second.last_revision, Revision(2));
}

TEST_F(AppendTest, EventsAreStoredWithEveryField) {
  EventData event = Event("ItemAdded", "{\"sku\":\"A-1\"}");
  event.metadata = {{"user", "alice"}, {"tenant", "acme"}};
  event.correlation_id = "corr-1";
  event.causation_id = "cause-1";
  event.event_id = *EventId::Parse("0190f3c4-7b1e-7c3a-9d2f-0a1b2c3d4e5f");
  const absl::Time before = absl::Now();
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::NoStream(), {event}}));
  ASSERT_OK_AND_ASSIGN(auto it, store_->ReadStream("order-1"));
  std::vector<EventRecord> records = Drain(*it);
  ASSERT_THAT(records, SizeIs(1));
  const EventRecord& r = records[0];
  EXPECT_EQ(r.stream, "order-1");
  EXPECT_EQ(r.revision, Revision(0));
  EXPECT_EQ(r.position, Position(1));
  EXPECT_EQ(r.type, "ItemAdded");
  EXPECT_EQ(r.data, "{\"sku\":\"A-1\"}");
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.metadata, event.metadata);
  EXPECT_EQ(r.correlation_id, "corr-1");
  EXPECT_EQ(r.causation_id, "cause-1");
  EXPECT_EQ(r.event_id, event.event_id);
  EXPECT_GE(r.recorded_at, before - absl::Seconds(1));
  EXPECT_LE(r.recorded_at, absl::Now() + absl::Seconds(1));
}

TEST_F(AppendTest, MissingEventIdsAreGeneratedAndDistinct) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 3));
  ASSERT_OK_AND_ASSIGN(auto it, store_->ReadStream("order-1"));
  std::vector<EventRecord> records = Drain(*it);
  ASSERT_THAT(records, SizeIs(3));
  for (const EventRecord& r : records) EXPECT_FALSE(r.event_id.is_nil());
  EXPECT_NE(records[0].event_id, records[1].event_id);
  EXPECT_NE(records[1].event_id, records[2].event_id);
  // UUIDv7: version nibble 7, RFC variant.
  EXPECT_EQ(records[0].event_id.bytes()[6] >> 4, 7);
  EXPECT_EQ(records[0].event_id.bytes()[8] >> 6, 2);
}

TEST_F(AppendTest, RecordedAtNeverGoesBackwardsWhenTheClockDoes) {
  auto clock_value = std::make_shared<std::atomic<int64_t>>(1'000'000'000);
  StoreOptions options = testing::TestOptions();
  options.clock = [clock_value] { return absl::FromUnixSeconds(clock_value->load()); };
  TempStore store(options);
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("A")}}));
  clock_value->store(999'999'000);  // the clock jumps back
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("B")}}));
  clock_value->store(1'000'000'500);
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("C")}}));
  ASSERT_OK_AND_ASSIGN(auto it, store->ReadAll());
  std::vector<EventRecord> records = Drain(*it);
  ASSERT_THAT(records, SizeIs(3));
  EXPECT_EQ(records[0].recorded_at, absl::FromUnixSeconds(1'000'000'000));
  EXPECT_EQ(records[1].recorded_at, absl::FromUnixSeconds(1'000'000'000));
  EXPECT_EQ(records[2].recorded_at, absl::FromUnixSeconds(1'000'000'500));
}

TEST_F(AppendTest, MultiAppendWritesAllStreamsInRequestOrder) {
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::NoStream(), {Event("A"), Event("B")}});
  request.appends.push_back({"invoice-1", ExpectedRevision::NoStream(), {Event("C")}});
  ASSERT_OK_AND_ASSIGN(MultiAppendResult result, store_->AppendMulti(std::move(request)));
  ASSERT_THAT(result.results, SizeIs(2));
  EXPECT_EQ(result.results[0].first_position, Position(1));
  EXPECT_EQ(result.results[0].last_position, Position(2));
  EXPECT_EQ(result.results[1].first_position, Position(3));
  EXPECT_EQ(result.results[1].first_revision, Revision(0));
  ASSERT_OK_AND_ASSIGN(auto it, store_->ReadAll());
  std::vector<std::string> streams;
  for (const EventRecord& r : Drain(*it)) streams.push_back(r.stream);
  EXPECT_THAT(streams, ElementsAre("order-1", "order-1", "invoice-1"));
}

TEST_F(AppendTest, MultiAppendReportsEveryFailedCheckAndWritesNothing) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 2));
  ASSERT_OK(AppendN("stock-1", ExpectedRevision::NoStream(), 1));
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::Exact(Revision(0)), {Event("A")}});
  request.appends.push_back({"invoice-1", ExpectedRevision::NoStream(), {Event("B")}});
  request.appends.push_back({"payment-1", ExpectedRevision::StreamExists(), {Event("C")}});
  request.conditions.push_back({"stock-1", ExpectedRevision::Exact(Revision(7))});
  absl::StatusOr<MultiAppendResult> result = store_->AppendMulti(std::move(request));
  ExpectConflicts(result.status(), {{"stock-1", ExpectedRevision::Exact(Revision(7)), Revision(0)},
                                    {"order-1", ExpectedRevision::Exact(Revision(0)), Revision(1)},
                                    {"payment-1", ExpectedRevision::StreamExists(), std::nullopt}});
  EXPECT_EQ(store_->head(), Position(3));
  EXPECT_THAT(store_->GetStreamInfo("invoice-1"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AppendTest, MultiAppendConditionOnUnwrittenStreamGatesTheWrite) {
  ASSERT_OK(AppendN("stock-1", ExpectedRevision::NoStream(), 1));
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::NoStream(), {Event("A")}});
  request.conditions.push_back({"stock-1", ExpectedRevision::Exact(Revision(0))});
  request.conditions.push_back({"audit-1", ExpectedRevision::NoStream()});
  ASSERT_OK_AND_ASSIGN(MultiAppendResult result, store_->AppendMulti(request));
  EXPECT_EQ(result.results[0].first_position, Position(2));
  // The conditions were checked, not written.
  EXPECT_THAT(store_->GetStreamInfo("audit-1"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(StreamInfo stock, store_->GetStreamInfo("stock-1"));
  EXPECT_EQ(stock.last_revision, Revision(0));
}

TEST_F(AppendTest, FailedRequestInAGroupDoesNotFailTheOthers) {
  // Many concurrent appends land in the same groups; the bad ones fail alone.
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<absl::Status> good(kThreads), bad(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string stream = "order-" + std::to_string(t);
      good[t] = AppendN(stream, ExpectedRevision::NoStream(), 2).status();
      bad[t] = AppendN(stream, ExpectedRevision::NoStream(), 2).status();
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_OK(good[t]);
    EXPECT_TRUE(IsWrongExpectedRevision(bad[t])) << bad[t];
  }
  EXPECT_EQ(store_->head(), Position(2 * kThreads));
}

TEST_F(AppendTest, StateSurvivesReopen) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 3));
  ASSERT_OK(AppendN("order-2", ExpectedRevision::NoStream(), 1));
  store_.Reopen();
  EXPECT_EQ(store_->head(), Position(4));
  ASSERT_OK_AND_ASSIGN(AppendResult result,
                       AppendN("order-1", ExpectedRevision::Exact(Revision(2)), 1));
  EXPECT_EQ(result.first_revision, Revision(3));
  EXPECT_EQ(result.first_position, Position(5));
  ExpectConflicts(AppendN("order-2", ExpectedRevision::NoStream(), 1).status(),
                  {{"order-2", ExpectedRevision::NoStream(), Revision(0)}});
}

// AppendEach: independent appends in one group commit, each with its own
// outcome, as if each had been Appended by a thread of its own.
TEST_F(AppendTest, AppendEachCommitsIndependentAppendsInOneGroupEachWithItsOwnOutcome) {
  ASSERT_OK(AppendN("order-1", ExpectedRevision::NoStream(), 2));
  ASSERT_OK_AND_ASSIGN(StoreStats before, GetStoreStats(*store_));
  EventData with_id = Event("Placed");
  with_id.event_id = *EventId::Parse("0190f3c4-7b1e-7c3a-9d2f-0a1b2c3d4e51");
  std::vector<AppendRequest> requests;
  requests.push_back({"order-2", ExpectedRevision::NoStream(), {Event("Placed"), Event("Paid")}});
  requests.push_back({"order-1", ExpectedRevision::Exact(Revision(7)), {Event("Paid")}});  // stale
  requests.push_back({"", ExpectedRevision::Any(), {Event("Placed")}});  // malformed
  requests.push_back({"order-1", ExpectedRevision::Exact(Revision(1)), {Event("Shipped")}});
  requests.push_back({"order-2", ExpectedRevision::Exact(Revision(1)), {with_id}});  // after [0]
  std::vector<absl::StatusOr<AppendResult>> results = store_->AppendEach(std::move(requests));
  ASSERT_THAT(results, SizeIs(5));
  ASSERT_OK(results[0]);
  EXPECT_EQ(results[0]->first_revision, Revision(0));
  EXPECT_EQ(results[0]->first_position, Position(3));
  ExpectConflicts(results[1].status(),
                  {{"order-1", ExpectedRevision::Exact(Revision(7)), Revision(1)}});
  EXPECT_THAT(results[2].status(), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(results[3]);
  EXPECT_EQ(results[3]->first_revision, Revision(2));
  EXPECT_EQ(results[3]->first_position, Position(5));
  ASSERT_OK(results[4]);
  EXPECT_EQ(results[4]->first_revision, Revision(2));  // sees [0], committed in the same group
  EXPECT_EQ(store_->head(), Position(6));
  ASSERT_OK_AND_ASSIGN(StoreStats after, GetStoreStats(*store_));
  EXPECT_EQ(after.commit_groups, before.commit_groups + 1) << "one write for all of them";

  // A retry by id is recognised, as Append's is.
  std::vector<AppendRequest> retry;
  retry.push_back({"order-2", ExpectedRevision::Exact(Revision(1)), {with_id}});
  std::vector<absl::StatusOr<AppendResult>> again = store_->AppendEach(std::move(retry));
  ASSERT_OK(again[0]);
  EXPECT_EQ(again[0]->first_position, Position(6));
  EXPECT_EQ(store_->head(), Position(6));
  EXPECT_THAT(store_->AppendEach({}), SizeIs(0));

  ASSERT_OK(store_->Close());
  std::vector<AppendRequest> late;
  late.push_back({"order-3", ExpectedRevision::Any(), {Event("Placed")}});
  std::vector<absl::StatusOr<AppendResult>> closed = store_->AppendEach(std::move(late));
  EXPECT_THAT(closed[0].status(), StatusIs(absl::StatusCode::kUnavailable));
}

// AppendEach beside threads that Append: every append commits exactly once.
TEST_F(AppendTest, AppendEachAndConcurrentAppendsShareTheWriter) {
  constexpr int kThreads = 4, kRounds = 100, kBatch = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kRounds; ++i) {
        if (t % 2 == 0) {
          std::vector<AppendRequest> requests;
          for (int b = 0; b < kBatch; ++b) {
            requests.push_back(
                {"each-" + std::to_string(t) + "-" + std::to_string(b),
                 i == 0 ? ExpectedRevision::NoStream() : ExpectedRevision::Exact(Revision(i - 1)),
                 {Event("E")}});
          }
          for (auto& result : store_->AppendEach(std::move(requests))) ASSERT_OK(result);
        } else {
          ASSERT_OK(
              store_->Append({"one-" + std::to_string(t), ExpectedRevision::Any(), {Event("E")}}));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(store_->head().value(), static_cast<uint64_t>(kThreads / 2 * kRounds * (kBatch + 1)));
}

}  // namespace
}  // namespace annals::testing
