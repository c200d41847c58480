// Subscriptions: catch-up then live with concurrent writers (order, no gap,
// no duplicate at the switch), filters, streams, slow consumers, Stop and
// Close waking a waiting Next, and durable checkpoints across reopen; the
// head waited for without a subscription (WaitForHead). The callback worker
// is tested in tests/projections/. Run under TSan in CI.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sync_point.h"
#include "tests/testing/counter.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/testing/writers.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Duration kLong = absl::Seconds(60);

// Counts the subscribers that reached the wait for a new head (under the
// lock a wake takes, so a Stop or Close after it cannot be missed).
class BlockedSubscribers {
 public:
  BlockedSubscribers() {
    internal::SyncPoints::Get().TEST_Set("Writer::AwaitHeadBeyond:Waiting",
                                         [this] { count_.Add(); });
  }
  ~BlockedSubscribers() { internal::SyncPoints::Get().TEST_ClearAll(); }
  bool WaitFor(int subscribers) { return count_.WaitFor(subscribers); }

 private:
  Counter count_;
};

std::vector<EventRecord> Take(Subscription& sub, size_t n) {
  std::vector<EventRecord> out;
  while (out.size() < n) {
    absl::StatusOr<EventRecord> event = sub.Next(kLong);
    EXPECT_OK(event.status());
    if (!event.ok()) break;
    out.push_back(*std::move(event));
  }
  return out;
}

void ExpectPositionsExactly(const std::vector<EventRecord>& events, uint64_t first) {
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].position.value(), first + i) << "gap or duplicate at index " << i;
  }
}

TEST(SubscriptionTest, AllFromStartCatchesUpThenGoesLiveWithoutGapOrDuplicate) {
  TempStore store;
  constexpr int kWriters = 4, kEach = 500;
  // Some history first, then subscribe while writers keep appending: the
  // subscription crosses from catch-up to live mid-stream.
  Writers history(store.get(), 2, 200);
  history.Join();
  Writers writers(store.get(), kWriters, kEach);
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({}));
  std::vector<EventRecord> events = Take(*sub, 400 + kWriters * kEach);
  ExpectPositionsExactly(events, 1);
  // Nothing more arrives.
  EXPECT_THAT(sub->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(sub->reached(), store->head());
}

TEST(SubscriptionTest, ManySubscribersSeeTheSameLog) {
  TempStore store;
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK_AND_ASSIGN(auto sub,
                         store->Subscribe({.batch_size = static_cast<size_t>(1 + i * 7)}));
    subs.push_back(std::move(sub));
  }
  std::vector<std::thread> readers;
  std::vector<std::vector<EventRecord>> seen(subs.size());
  for (size_t i = 0; i < subs.size(); ++i) {
    readers.emplace_back([&, i] { seen[i] = Take(*subs[i], 1200); });
  }
  { Writers writers(store.get(), 3, 400); }
  for (auto& t : readers) t.join();
  for (const auto& events : seen) ExpectPositionsExactly(events, 1);
}

TEST(SubscriptionTest, FilteredSubscriptionDeliversExactlyTheMatchingEventsInOrder) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.filter = {.categories = {"order"}}}));
  {
    Writers orders(store.get(), 2, 300, "order");
    Writers others(store.get(), 2, 300, "invoice");
  }
  std::vector<EventRecord> events = Take(*sub, 600);
  auto expected = store->ReadCategory("order");
  ASSERT_OK(expected.status());
  std::vector<EventRecord> want = Drain(**expected);
  ASSERT_EQ(events.size(), want.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].position, want[i].position);
  EXPECT_THAT(sub->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  // Past the last match, the filter still advanced over the others.
  EXPECT_EQ(sub->reached(), store->head());
}

TEST(SubscriptionTest, ARarelyMatchingFilterStillAdvancesItsCheckpoint) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(
      auto sub, store->Subscribe({.filter = {.event_types = {"Rare"}}, .durable_name = "rare"}));
  { Writers writers(store.get(), 2, 100); }
  EXPECT_THAT(sub->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(sub->reached(), Position(200));
  ASSERT_OK(sub->SaveCheckpoint());
  ASSERT_OK_AND_ASSIGN(auto subscribers, ListSubscribers(*store));
  ASSERT_EQ(subscribers.size(), 1u);
  EXPECT_EQ(subscribers[0].checkpoint, Position(200));
  EXPECT_EQ(subscribers[0].lag, 0u);
}

TEST(SubscriptionTest, StreamSubscriptionFollowsOneStream) {
  TempStore store;
  // Subscribed before the stream exists: waits for it.
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.stream = "order-0", .batch_size = 16}));
  {
    Writers writers(store.get(), 3, 300);  // order-0, order-1, order-2
  }
  std::vector<EventRecord> events = Take(*sub, 300);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].stream, "order-0");
    EXPECT_EQ(events[i].revision, Revision(i));
  }
  EXPECT_THAT(sub->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST(SubscriptionTest, StartFromEndAndAfter) {
  TempStore store;
  { Writers writers(store.get(), 1, 10); }  // order-0 revisions 0..9, positions 1..10
  ASSERT_OK_AND_ASSIGN(auto from_end, store->Subscribe({.start = StartFrom::End()}));
  ASSERT_OK_AND_ASSIGN(auto stream_end,
                       store->Subscribe({.stream = "order-0", .start = StartFrom::End()}));
  ASSERT_OK_AND_ASSIGN(auto after_pos,
                       store->Subscribe({.start = StartFrom::AfterPosition(Position(7))}));
  ASSERT_OK_AND_ASSIGN(
      auto after_rev,
      store->Subscribe({.stream = "order-0", .start = StartFrom::AfterRevision(Revision(8))}));
  EXPECT_THAT(from_end->Next(absl::Milliseconds(10)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_OK(store->Append({"order-0", ExpectedRevision::Any(), {Event("New")}}));
  EXPECT_EQ(Take(*from_end, 1)[0].position, Position(11));
  EXPECT_EQ(Take(*stream_end, 1)[0].revision, Revision(10));
  std::vector<EventRecord> after = Take(*after_pos, 4);
  ExpectPositionsExactly(after, 8);
  std::vector<EventRecord> revs = Take(*after_rev, 2);
  EXPECT_EQ(revs[0].revision, Revision(9));
  EXPECT_EQ(revs[1].revision, Revision(10));
}

TEST(SubscriptionTest, ASlowSubscriberNeitherBlocksAppendsNorLosesEvents) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto slow, store->Subscribe({.batch_size = 8}));
  EXPECT_THAT(slow->Next(absl::Milliseconds(1)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  // 20,000 events while the subscriber reads nothing: appends all complete.
  { Writers writers(store.get(), 4, 5000); }
  EXPECT_EQ(store->head(), Position(20000));
  std::vector<EventRecord> events = Take(*slow, 20000);
  ExpectPositionsExactly(events, 1);
}

TEST(SubscriptionTest, StopWakesAWaitingNextFromAnotherThread) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({}));
  absl::Status result;
  BlockedSubscribers blocked;
  std::thread consumer([&] { result = sub->Next(absl::Hours(1)).status(); });
  EXPECT_TRUE(blocked.WaitFor(1));
  sub->Stop();
  consumer.join();  // would hang for an hour if Stop did not wake it
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(sub->Next(kLong), StatusIs(absl::StatusCode::kCancelled));
}

TEST(SubscriptionTest, CloseStopsEverySubscription) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto a, store->Subscribe({}));
  ASSERT_OK_AND_ASSIGN(auto b, store->Subscribe({.stream = "order-1"}));
  absl::Status ra, rb;
  BlockedSubscribers blocked;
  std::thread ta([&] { ra = a->Next(absl::Hours(1)).status(); });
  std::thread tb([&] { rb = b->Next(absl::Hours(1)).status(); });
  EXPECT_TRUE(blocked.WaitFor(2));
  ASSERT_OK(store->Close());
  ta.join();
  tb.join();
  EXPECT_THAT(ra, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(rb, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(store->Subscribe({}), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(SubscriptionTest, DurableSubscriberResumesAfterItsCheckpoint) {
  TempStore store;
  { Writers writers(store.get(), 1, 30); }
  {
    ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.durable_name = "billing"}));
    // One open subscription per name.
    EXPECT_THAT(store->Subscribe({.durable_name = "billing"}),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(DeleteSubscriber(*store, "billing"),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    std::vector<EventRecord> first = Take(*sub, 10);
    ExpectPositionsExactly(first, 1);
    ASSERT_OK(sub->SaveCheckpoint());
    Take(*sub, 5);  // handled but not checkpointed: delivered again later
  }
  store.Reopen();
  ASSERT_OK_AND_ASSIGN(auto subscribers, ListSubscribers(*store));
  ASSERT_EQ(subscribers.size(), 1u);
  EXPECT_EQ(subscribers[0].name, "billing");
  EXPECT_EQ(subscribers[0].checkpoint, Position(10));
  EXPECT_EQ(subscribers[0].lag, 20u);
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.durable_name = "billing"}));
  std::vector<EventRecord> rest = Take(*sub, 20);
  ExpectPositionsExactly(rest, 11);
  // Another target under the same name is refused.
  sub.reset();
  EXPECT_THAT(store->Subscribe({.stream = "order-0", .durable_name = "billing"}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(DeleteSubscriber(*store, "billing"));
  EXPECT_THAT(DeleteSubscriber(*store, "billing"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(subscribers, ListSubscribers(*store));
  EXPECT_THAT(subscribers, IsEmpty());
}

TEST(SubscriptionTest, DurableStreamSubscriberResumesByRevision) {
  TempStore store;
  { Writers writers(store.get(), 2, 20); }
  {
    ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.stream = "order-1", .durable_name = "s"}));
    std::vector<EventRecord> first = Take(*sub, 5);
    EXPECT_EQ(first.back().revision, Revision(4));
    ASSERT_OK(sub->SaveCheckpoint());
  }
  store.Reopen();
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.stream = "order-1", .durable_name = "s"}));
  std::vector<EventRecord> rest = Take(*sub, 15);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].revision, Revision(5 + i));
}

TEST(SubscriptionTest, NonDurableSubscriptionHasNoCheckpoint) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({}));
  EXPECT_THAT(sub->SaveCheckpoint(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SubscriptionTest, BadOptionsAreInvalidArgument) {
  TempStore store;
  auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(store->Subscribe({.batch_size = 0}), StatusIs(invalid));
  EXPECT_THAT(store->Subscribe({.stream = "order-1", .filter = {.categories = {"order"}}}),
              StatusIs(invalid));
  EXPECT_THAT(store->Subscribe({.stream = std::string("a\0b", 3)}), StatusIs(invalid));
  EXPECT_THAT(store->Subscribe({.durable_name = std::string("\xff", 1)}), StatusIs(invalid));
  ASSERT_OK_AND_ASSIGN(auto subscribers, ListSubscribers(*store));
  EXPECT_THAT(subscribers, IsEmpty());
}

TEST(SubscriptionTest, AStreamSubscriptionEndsWhenTheStreamIsTombstoned) {
  TempStore store;
  { Writers writers(store.get(), 1, 3); }
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.stream = "order-0"}));
  Take(*sub, 3);
  ASSERT_OK(store->TombstoneStream("order-0"));
  EXPECT_THAT(sub->Next(kLong), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(WaitForHeadTest, ReturnsAtOnceWhenTheHeadIsPast) {
  TempStore store;
  { Writers writers(store.get(), 1, 3); }
  EXPECT_THAT(WaitForHead(*store, Position(0), absl::ZeroDuration()), IsOkAndHolds(Position(3)));
  EXPECT_THAT(WaitForHead(*store, Position(2), absl::ZeroDuration()), IsOkAndHolds(Position(3)));
}

TEST(WaitForHeadTest, WakesOnAnAppendFromAnotherThread) {
  TempStore store;
  { Writers writers(store.get(), 1, 2); }
  absl::StatusOr<Position> woke = absl::UnknownError("not run");
  BlockedSubscribers blocked;
  std::thread waiter([&] { woke = WaitForHead(*store, Position(2), kLong); });
  EXPECT_TRUE(blocked.WaitFor(1));
  ASSERT_OK(store->Append({"order-9", ExpectedRevision::Any(), {Event("E")}}));
  waiter.join();
  EXPECT_THAT(woke, IsOkAndHolds(Position(3)));
}

TEST(WaitForHeadTest, DeadlineExceededWhenNothingIsAppended) {
  TempStore store;
  { Writers writers(store.get(), 1, 1); }
  EXPECT_THAT(WaitForHead(*store, Position(1), absl::Milliseconds(20)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(WaitForHead(*store, Position(1), -absl::Seconds(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST(WaitForHeadTest, CloseWakesAWaiterWithCancelled) {
  TempStore store;
  absl::StatusOr<Position> woke = absl::UnknownError("not run");
  BlockedSubscribers blocked;
  std::thread waiter([&] { woke = WaitForHead(*store, Position(0), absl::Hours(1)); });
  EXPECT_TRUE(blocked.WaitFor(1));
  ASSERT_OK(store->Close());
  waiter.join();  // would wait an hour if Close did not wake it
  EXPECT_THAT(woke, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(WaitForHead(*store, Position(0), kLong), StatusIs(absl::StatusCode::kCancelled));
}

TEST(WaitForHeadTest, RefreshWakesAWaiterOnAReadOnlyStore) {
  TempStore writer;
  { Writers writers(writer.get(), 1, 2); }
  StoreOptions options = TestOptions();
  options.create_if_missing = false;
  options.read_only = true;
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(writer.path() + "/store", options));
  absl::StatusOr<Position> woke = absl::UnknownError("not run");
  BlockedSubscribers blocked;
  std::thread waiter([&] { woke = WaitForHead(*reader, Position(2), kLong); });
  EXPECT_TRUE(blocked.WaitFor(1));
  ASSERT_OK(writer->Append({"order-9", ExpectedRevision::Any(), {Event("E")}}));
  ASSERT_OK(Refresh(*reader));
  waiter.join();
  EXPECT_THAT(woke, IsOkAndHolds(Position(3)));
}

}  // namespace
}  // namespace annals::testing
