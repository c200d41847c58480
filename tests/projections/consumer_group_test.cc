// Consumer groups (annals/consumer_group.h): competing consumers sharing a
// stream or $all, acknowledgements, retries, parking and replay, the
// strategies, and what survives a reopen.
#include "annals/consumer_group.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ConsumerGroupTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenGroups(); }

  void OpenGroups() {
    groups_.reset();
    ASSERT_OK_AND_ASSIGN(groups_, ConsumerGroups::Open(*store_));
  }

  void AppendTo(const std::string& stream, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_OK(store_->Append({stream, ExpectedRevision::Any(), {Event(absl::StrCat("E", i))}}));
    }
  }

  // The next delivery, which must come within 5 s.
  static Delivery Take(Consumer& consumer) {
    absl::StatusOr<Delivery> d = consumer.Next(absl::Seconds(5));
    EXPECT_OK(d.status());
    return d.ok() ? *d : Delivery{};
  }

  static uint64_t Rev(const Delivery& d) { return d.event.revision.value(); }

  TempStore store_;
  std::unique_ptr<ConsumerGroups> groups_;
};

TEST_F(ConsumerGroupTest, FourPinnedConsumersShareTwentyThousandEventsAndOneKilledLosesNothing) {
  constexpr int kStreams = 40, kEvents = 20000, kConsumers = 4;
  ASSERT_OK(
      groups_->Create("billing", {.strategy = ConsumerStrategy::kPinned, .checkpoint_after = 50}));
  // Half the events are there before the consumers join, half come live.
  auto append = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_OK(store_->Append(
          {absl::StrCat("order-", i % kStreams), ExpectedRevision::Any(), {Event("Placed")}}));
    }
  };
  append(0, kEvents / 2);

  std::mutex mu;
  std::map<uint64_t, int> acks;                        // position -> times acknowledged
  std::map<std::string, std::vector<uint64_t>> order;  // stream -> revisions, in ack order
  std::atomic<int> done{0};
  std::atomic<bool> killed{false};
  // All join first: which stream is whose is settled before any delivery.
  std::vector<std::unique_ptr<Consumer>> members;
  for (int i = 0; i < kConsumers; ++i) {
    ASSERT_OK_AND_ASSIGN(
        auto member, groups_->Join("billing", {.buffer_size = 8, .name = absl::StrCat("c", i)}));
    members.push_back(std::move(member));
  }
  auto consume = [&](int index) {
    std::unique_ptr<Consumer>* consumer = &members[index];
    int handled = 0;
    while (done.load() < kEvents) {
      absl::StatusOr<Delivery> d = (*consumer)->Next(absl::Milliseconds(200));
      if (absl::IsDeadlineExceeded(d.status())) continue;
      ASSERT_OK(d.status());
      // Consumer 0 dies after 1,000 events, holding a few unacknowledged.
      if (index == 0 && handled >= 1000) {
        for (int i = 0; i < 4; ++i) ASSERT_OK((*consumer)->Next(absl::Seconds(1)).status());
        killed = true;
        consumer->reset();  // gone without a word: its events go to the others
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        acks[d->event.position.value()]++;
        order[d->event.stream].push_back(d->event.revision.value());
      }
      ASSERT_OK((*consumer)->Ack(d->event.position));
      ++handled;
      ++done;
    }
  };
  std::vector<std::thread> consumers;
  for (int i = 0; i < kConsumers; ++i) consumers.emplace_back(consume, i);
  append(kEvents / 2, kEvents);
  for (auto& t : consumers) t.join();

  EXPECT_TRUE(killed);
  ASSERT_EQ(acks.size(), static_cast<size_t>(kEvents));
  for (const auto& [position, times] : acks) EXPECT_EQ(times, 1) << "position " << position;
  // Pinned: each stream's events were acknowledged in revision order, also
  // across the move of the killed consumer's streams.
  for (const auto& [stream, revisions] : order) {
    ASSERT_EQ(revisions.size(), static_cast<size_t>(kEvents / kStreams)) << stream;
    for (size_t i = 0; i < revisions.size(); ++i) ASSERT_EQ(revisions[i], i) << stream;
  }
  members.clear();  // the others leave too
  ASSERT_OK_AND_ASSIGN(ConsumerGroupInfo info, groups_->Get("billing"));
  EXPECT_EQ(info.checkpoint, store_->head().value());
  EXPECT_EQ(info.parked, 0u);
  EXPECT_EQ(info.in_flight, 0u);
  EXPECT_EQ(info.consumers.size(), 0u);
}

TEST_F(ConsumerGroupTest, RoundRobinSpreadsTheWorkAndEachEventIsHeldByOneConsumer) {
  AppendTo("order-1", 6);
  ASSERT_OK(groups_->Create("g", {.stream = "order-1"}));
  ASSERT_OK_AND_ASSIGN(auto a, groups_->Join("g", {.buffer_size = 2}));
  ASSERT_OK_AND_ASSIGN(auto b, groups_->Join("g", {.buffer_size = 2}));
  // a's buffer fills at two; b gets the next two.
  const Delivery a0 = Take(*a), a1 = Take(*a);
  EXPECT_THAT(a->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  const Delivery b0 = Take(*b), b1 = Take(*b);
  EXPECT_EQ(Rev(a0), 0u);
  EXPECT_EQ(Rev(a1), 1u);
  EXPECT_EQ(Rev(b0), 2u);
  EXPECT_EQ(Rev(b1), 3u);
  // Only the holder acknowledges.
  EXPECT_THAT(b->Ack(a0.event.position), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(a->Ack(a0.event.position));
  EXPECT_THAT(a->Ack(a0.event.position), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Rev(Take(*a)), 4u);
}

TEST_F(ConsumerGroupTest, ANackedEventIsRetriedThenParkedAfterMaxRetries) {
  AppendTo("order-1", 3);
  ASSERT_OK(groups_->Create("g", {.stream = "order-1", .max_retries = 2}));
  ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("g", {.buffer_size = 1}));
  for (int attempt = 0; attempt <= 2; ++attempt) {
    const Delivery d = Take(*c);
    ASSERT_EQ(Rev(d), 0u);
    EXPECT_EQ(d.retry_count, attempt);
    ASSERT_OK(c->Nack(d.event.position, NackAction::kRetry, "the tax service is down"));
  }
  // Retried twice: parked, and the group goes on.
  const Delivery next = Take(*c);
  EXPECT_EQ(Rev(next), 1u);
  EXPECT_EQ(next.retry_count, 0);
  ASSERT_OK_AND_ASSIGN(std::vector<GroupParkedEvent> parked, groups_->ReadParked("g"));
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].event.revision, Revision(0));
  EXPECT_EQ(parked[0].deliveries, 3);
  EXPECT_THAT(parked[0].reason, HasSubstr("the tax service is down"));
  EXPECT_FALSE(parked[0].replaying);
}

TEST_F(ConsumerGroupTest, ADeliveryNotAcknowledgedInTimeGoesBackToTheGroup) {
  AppendTo("order-1", 2);
  ASSERT_OK(groups_->Create("g", {.stream = "order-1", .message_timeout = absl::Milliseconds(50)}));
  ASSERT_OK_AND_ASSIGN(auto slow, groups_->Join("g", {.buffer_size = 1}));
  const Delivery first = Take(*slow);
  ASSERT_EQ(Rev(first), 0u);
  ASSERT_OK_AND_ASSIGN(auto other, groups_->Join("g", {.buffer_size = 1}));
  // `other` gets revision 1 at once, then revision 0 once slow's time is up.
  EXPECT_EQ(Rev(Take(*other)), 1u);
  ASSERT_OK_AND_ASSIGN(auto third, groups_->Join("g", {.buffer_size = 1}));
  const Delivery again = Take(*third);
  EXPECT_EQ(Rev(again), 0u);
  EXPECT_EQ(again.retry_count, 1);
  // The late ack of the first holder is refused; the new holder's lands.
  EXPECT_THAT(slow->Ack(first.event.position), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(third->Ack(again.event.position));
}

TEST_F(ConsumerGroupTest, ParkedEventsAreReadAndReplayedBeforeNewOnes) {
  AppendTo("order-1", 5);
  ASSERT_OK(groups_->Create("g", {.stream = "order-1"}));
  ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("g", {.buffer_size = 1}));
  Delivery d = Take(*c);
  ASSERT_OK(c->Nack(d.event.position, NackAction::kPark, "bad address"));
  d = Take(*c);
  ASSERT_OK(c->Nack(d.event.position, NackAction::kSkip, "not ours"));
  d = Take(*c);
  ASSERT_EQ(Rev(d), 2u);
  ASSERT_OK(c->Ack(d.event.position));
  ASSERT_OK_AND_ASSIGN(std::vector<GroupParkedEvent> parked, groups_->ReadParked("g"));
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].event.revision, Revision(0));
  EXPECT_EQ(parked[0].reason, "bad address");
  EXPECT_EQ(parked[0].deliveries, 1);

  EXPECT_THAT(groups_->ReplayParked("g"), IsOkAndHolds(1u));
  EXPECT_THAT(groups_->ReplayParked("g"), IsOkAndHolds(0u));  // already replaying
  ASSERT_OK_AND_ASSIGN(parked, groups_->ReadParked("g"));
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_TRUE(parked[0].replaying);
  d = Take(*c);
  EXPECT_EQ(Rev(d), 0u);
  EXPECT_EQ(d.retry_count, 0);
  ASSERT_OK(c->Ack(d.event.position));
  EXPECT_THAT(groups_->ReadParked("g"), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_EQ(Rev(Take(*c)), 3u);
}

TEST_F(ConsumerGroupTest, TheCheckpointAndReplayingParkedEventsSurviveAReopen) {
  AppendTo("order-1", 10);
  ASSERT_OK(groups_->Create("g", {.stream = "order-1", .checkpoint_after = 1}));
  {
    ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("g", {.buffer_size = 1}));
    for (int i = 0; i < 5; ++i) {
      const Delivery d = Take(*c);
      if (i == 1) {
        ASSERT_OK(c->Nack(d.event.position, NackAction::kPark, "later"));
      } else {
        ASSERT_OK(c->Ack(d.event.position));
      }
    }
    ASSERT_OK_AND_ASSIGN(size_t replayed, groups_->ReplayParked("g"));
    EXPECT_EQ(replayed, 1u);
  }
  ASSERT_OK_AND_ASSIGN(ConsumerGroupInfo info, groups_->Get("g"));
  EXPECT_EQ(info.checkpoint, 4u);
  groups_.reset();
  store_.Reopen();
  OpenGroups();
  ASSERT_OK_AND_ASSIGN(info, groups_->Get("g"));
  EXPECT_EQ(info.checkpoint, 4u);
  EXPECT_EQ(info.parked, 1u);
  ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("g", {.buffer_size = 1}));
  // The parked event being replayed first, then after the checkpoint.
  Delivery d = Take(*c);
  EXPECT_EQ(Rev(d), 1u);
  ASSERT_OK(c->Ack(d.event.position));
  EXPECT_EQ(Rev(Take(*c)), 5u);
}

TEST_F(ConsumerGroupTest, DispatchToSingleFeedsTheFirstConsumerWhileItHasRoom) {
  AppendTo("order-1", 4);
  ASSERT_OK(
      groups_->Create("g", {.stream = "order-1", .strategy = ConsumerStrategy::kDispatchToSingle}));
  ASSERT_OK_AND_ASSIGN(auto first, groups_->Join("g", {.buffer_size = 2}));
  ASSERT_OK_AND_ASSIGN(auto second, groups_->Join("g", {.buffer_size = 2}));
  EXPECT_THAT(second->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  const Delivery d0 = Take(*first);
  Take(*first);
  // The first is full: the second takes over.
  EXPECT_EQ(Rev(Take(*second)), 2u);
  ASSERT_OK(first->Ack(d0.event.position));
  EXPECT_EQ(Rev(Take(*first)), 3u);
}

TEST_F(ConsumerGroupTest, AFilteredAllGroupStartingAtTheEndSeesOnlyNewMatchingEvents) {
  AppendTo("order-1", 3);
  ASSERT_OK(
      groups_->Create("orders", {.filter = {.categories = {"order"}}, .start = StartFrom::End()}));
  AppendTo("stock-1", 2);
  AppendTo("order-2", 2);
  ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("orders"));
  ASSERT_OK_AND_ASSIGN(ConsumerGroupInfo info, groups_->Get("orders"));
  EXPECT_EQ(info.settings.start.kind(), StartFrom::Kind::kEnd);
  EXPECT_EQ(info.checkpoint, 3u);  // the end, when it was created
  const Delivery a = Take(*c), b = Take(*c);
  EXPECT_EQ(a.event.stream, "order-2");
  EXPECT_EQ(b.event.stream, "order-2");
  EXPECT_THAT(c->Next(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(ConsumerGroupTest, UpdateListAndDeleteAGroup) {
  AppendTo("order-1", 3);
  ASSERT_OK(groups_->Create("b", {.stream = "order-1"}));
  ASSERT_OK(groups_->Create("a", {}));
  ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("b", {.buffer_size = 1, .name = "worker"}));
  const Delivery d = Take(*c);
  ASSERT_OK(groups_->Update("b", {.stream = "order-1", .max_retries = 1, .max_consumers = 1}));
  EXPECT_THAT(groups_->Join("b"), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK_AND_ASSIGN(std::vector<ConsumerGroupInfo> all, groups_->List());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[1].name, "b");
  EXPECT_EQ(all[1].settings.max_retries, 1);
  EXPECT_EQ(all[1].in_flight, 1u);
  ASSERT_EQ(all[1].consumers.size(), 1u);
  EXPECT_EQ(all[1].consumers[0].name, "worker");
  ASSERT_OK(c->Nack(d.event.position, NackAction::kPark, "x"));

  ASSERT_OK(groups_->Delete("b"));
  EXPECT_THAT(c->Next(absl::Seconds(1)), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(groups_->Get("b"), StatusIs(absl::StatusCode::kNotFound));
  // A new group of that name starts afresh: nothing parked, from the start.
  ASSERT_OK(groups_->Create("b", {.stream = "order-1"}));
  EXPECT_THAT(groups_->ReadParked("b"), IsOkAndHolds(::testing::IsEmpty()));
  ASSERT_OK_AND_ASSIGN(auto fresh, groups_->Join("b"));
  EXPECT_EQ(Rev(Take(*fresh)), 0u);
}

TEST_F(ConsumerGroupTest, BadInputIsAClearErrorAndWritesNothing) {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(groups_->Create("", {}), StatusIs(invalid, HasSubstr("name")));
  EXPECT_THAT(groups_->Create(std::string("a\0b", 3), {}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create(std::string(201, 'g'), {}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create("\xff", {}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create("g", {.stream = "order-1", .filter = {.categories = {"order"}}}),
              StatusIs(invalid, HasSubstr("filter")));
  EXPECT_THAT(groups_->Create("g", {.max_retries = -1}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create("g", {.message_timeout = absl::ZeroDuration()}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create("g", {.max_consumers = -1}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create("g", {.checkpoint_after = 0}), StatusIs(invalid));
  EXPECT_THAT(groups_->Create("g", {.strategy = static_cast<ConsumerStrategy>(7)}),
              StatusIs(invalid));
  EXPECT_THAT(groups_->Create("g", {.stream = std::string("a\0b", 3)}), StatusIs(invalid));
  EXPECT_THAT(groups_->List(), IsOkAndHolds(::testing::IsEmpty()));

  ASSERT_OK(groups_->Create("g", {.stream = "order-1"}));
  EXPECT_THAT(groups_->Create("g", {}), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(groups_->Update("g", {.stream = "order-2"}), StatusIs(invalid, HasSubstr("stream")));
  EXPECT_THAT(groups_->Update("g", {.stream = "order-1", .max_retries = -1}), StatusIs(invalid));
  const auto not_found = absl::StatusCode::kNotFound;
  EXPECT_THAT(groups_->Update("nope", {}), StatusIs(not_found));
  EXPECT_THAT(groups_->Delete("nope"), StatusIs(not_found));
  EXPECT_THAT(groups_->Get("nope"), StatusIs(not_found));
  EXPECT_THAT(groups_->Join("nope"), StatusIs(not_found));
  EXPECT_THAT(groups_->ReadParked("nope"), StatusIs(not_found));
  EXPECT_THAT(groups_->ReplayParked("nope"), StatusIs(not_found));
  EXPECT_THAT(groups_->Join("g", {.buffer_size = 0}), StatusIs(invalid));
  ASSERT_OK_AND_ASSIGN(auto c, groups_->Join("g"));
  EXPECT_THAT(c->Ack(Position(42)), StatusIs(not_found));
  EXPECT_THAT(c->Nack(Position(42), NackAction::kPark, ""), StatusIs(not_found));
  c->Leave();
  EXPECT_THAT(c->Next(absl::Milliseconds(1)), StatusIs(absl::StatusCode::kCancelled));
  ASSERT_OK_AND_ASSIGN(ConsumerGroupInfo info, groups_->Get("g"));
  EXPECT_EQ(info.settings.max_retries, 10);
  EXPECT_EQ(info.checkpoint, std::nullopt);

  // One ConsumerGroups per store; none on a read-only store.
  EXPECT_THAT(ConsumerGroups::Open(*store_), StatusIs(absl::StatusCode::kFailedPrecondition));
  StoreOptions read_only = TestOptions();
  read_only.read_only = true;
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(store_.path() + "/store", read_only));
  EXPECT_THAT(ConsumerGroups::Open(*reader), StatusIs(absl::StatusCode::kFailedPrecondition));
  // Closing ends consumers.
  ASSERT_OK_AND_ASSIGN(auto open, groups_->Join("g"));
  groups_->Close();
  EXPECT_THAT(open->Next(absl::Seconds(1)), StatusIs(absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace annals::testing
