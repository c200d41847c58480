// CommandHandler: commands become events and state, validation before the
// store is touched, business rejections writing nothing, context on events,
// command idempotency (also under concurrent duplicates), conflicts retried
// then reported, and fetch for writing. Uses the example orders domain.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "annals/command_handler.h"
#include "annals/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "orders/orders.h"
#include "tests/commands/order_commands.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::annals::examples::orders::AddOrderValidators;
using ::annals::examples::orders::CancelOrder;
using ::annals::examples::orders::ItemAdded;
using ::annals::examples::orders::OrderDecider;
using ::annals::examples::orders::OrderEvents;
using ::annals::examples::orders::OrderHandler;
using ::annals::examples::orders::OrderSnapshots;
using ::annals::examples::orders::OrderState;

class OrdersTest : public ::testing::Test {
 protected:
  OrdersTest() : handler_(*store_, OrderDecider{}, OrderEvents{}, OrderSnapshots{1}, Options()) {
    AddOrderValidators(handler_);
  }
  static OrderHandler::Options Options() {
    OrderHandler::Options options;
    options.retry.initial_backoff = absl::Milliseconds(1);
    return options;
  }
  TempStore store_;
  OrderHandler handler_;
};

TEST_F(OrdersTest, CommandsBecomeEventsAndState) {
  ASSERT_OK(handler_.Handle("order-1", Place("c-17")).status());
  ASSERT_OK(handler_.Handle("order-1", Add("sku-1", 2, 250)).status());
  ASSERT_OK_AND_ASSIGN(auto result, handler_.Handle("order-1", Ship("UPS")));
  EXPECT_EQ(result.revision, Revision(2));
  EXPECT_EQ(result.state.status(), OrderState::SHIPPED);
  EXPECT_EQ(result.state.total_cents(), 500);
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(result.events[0].type, "OrderShipped");
  EXPECT_EQ(result.events[0].content_type,
            "application/x-protobuf; messageType=annals.examples.orders.OrderShipped");
  ASSERT_OK_AND_ASSIGN(auto loaded, handler_.aggregates().Load("order-1"));
  EXPECT_EQ(loaded.revision, Revision(2));
  EXPECT_EQ(loaded.state.SerializeAsString(), result.state.SerializeAsString());
}

TEST_F(OrdersTest, InvalidCommandsAreRejectedBeforeTheStoreIsTouched) {
  const Position head = store_->head();
  EXPECT_THAT(handler_.Handle("order-1", Place("")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(handler_.Handle("order-1", Add("sku", 0, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(handler_.Handle("order-1", Add("", 1, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(handler_.Handle("order-1", Ship("")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store_->head(), head);
  // Even a closed store answers with the validation error: it was not reached.
  ASSERT_OK(store_->Close());
  EXPECT_THAT(handler_.Handle("order-1", Place("")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(handler_.Handle("order-1", Place("ok")), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(OrdersTest, BusinessRejectionsWriteNothing) {
  ASSERT_OK(handler_.Handle("order-1", Place("c")).status());
  const Position head = store_->head();
  EXPECT_THAT(handler_.Handle("order-1", Ship()), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(handler_.Handle("order-1", Place("again")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(handler_.Handle("order-2", CancelOrder()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->head(), head);
}

TEST_F(OrdersTest, ContextIsCarriedOntoEveryEvent) {
  CommandContext context{.command_id = "cmd-1",
                         .correlation_id = "checkout-9",
                         .metadata = {{"user", "alice"}, {"tenant", "acme"}}};
  ASSERT_OK(handler_.Handle("order-1", Place("c"), context).status());
  auto it = store_->ReadStream("order-1");
  ASSERT_OK(it.status());
  std::vector<EventRecord> events = Drain(**it);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].correlation_id, "checkout-9");
  EXPECT_EQ(events[0].causation_id, "cmd-1");  // defaults to the command id
  EXPECT_EQ(events[0].metadata.at("user"), "alice");
  EXPECT_EQ(events[0].metadata.at("tenant"), "acme");
  EXPECT_EQ(events[0].metadata.at(std::string(kCommandIdMetadataKey)), "cmd-1");
  EXPECT_EQ(events[0].event_id, CommandEventId("cmd-1", "order-1", 0));
}

TEST_F(OrdersTest, ARepeatedCommandIdReturnsTheOriginalOutcomeAndAppendsNothing) {
  ASSERT_OK(handler_.Handle("order-1", Place("c"), {.command_id = "place-1"}).status());
  ASSERT_OK_AND_ASSIGN(auto first,
                       handler_.Handle("order-1", Add("a", 1, 100), {.command_id = "add-1"}));
  ASSERT_OK(handler_.Handle("order-1", Add("b", 1, 200)).status());
  const Position head = store_->head();
  ASSERT_OK_AND_ASSIGN(auto again,
                       handler_.Handle("order-1", Add("a", 1, 100), {.command_id = "add-1"}));
  EXPECT_TRUE(again.repeated);
  EXPECT_FALSE(first.repeated);
  EXPECT_EQ(store_->head(), head);
  ASSERT_EQ(again.events.size(), 1u);
  EXPECT_EQ(again.events[0].revision, first.events[0].revision);
  EXPECT_EQ(again.events[0].position, first.events[0].position);
  EXPECT_EQ(again.revision, Revision(1));
  EXPECT_EQ(again.state.total_cents(), 100);  // the state the command left
  // A command that would now be rejected is still answered as before.
  ASSERT_OK(handler_.Handle("order-1", Ship(), {.command_id = "ship-1"}).status());
  ASSERT_OK_AND_ASSIGN(auto shipped_again,
                       handler_.Handle("order-1", Ship(), {.command_id = "ship-1"}));
  EXPECT_TRUE(shipped_again.repeated);
}

TEST_F(OrdersTest, ConcurrentDuplicatesOfOneCommandAppendOnce) {
  ASSERT_OK(handler_.Handle("order-1", Place("c")).status());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (handler_.Handle("order-1", Add("x", 1, 1), {.command_id = "dup"}).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  ASSERT_OK_AND_ASSIGN(auto loaded, handler_.aggregates().Load("order-1"));
  EXPECT_EQ(loaded.state.items_size(), 1);
  EXPECT_EQ(loaded.revision, Revision(1));
}

// Appends a foreign event to the stream before deciding, `conflicts` times.
struct ConflictingDecider : OrderDecider {
  EventStore* store = nullptr;
  std::shared_ptr<std::atomic<int>> conflicts;
  absl::StatusOr<std::vector<Event>> decide(const Command& command, const State& state) const {
    if (conflicts->fetch_sub(1) > 0) {
      EventData foreign{.type = "ItemAdded", .data = ItemAdded().SerializeAsString()};
      EXPECT_TRUE(store->Append({"order-1", ExpectedRevision::Any(), {foreign}}).ok());
    }
    return OrderDecider::decide(command, state);
  }
};

TEST(CommandRetryTest, AConflictIsReloadedAndRetriedThenReported) {
  TempStore store;
  auto conflicts = std::make_shared<std::atomic<int>>(0);
  CommandHandler<ConflictingDecider, OrderEvents>::Options options;
  options.retry.initial_backoff = absl::Milliseconds(1);
  CommandHandler<ConflictingDecider, OrderEvents> handler(
      *store, ConflictingDecider{{}, store.get(), conflicts}, OrderEvents{}, {}, options);
  ASSERT_OK(handler.Handle("order-1", Place("c")).status());
  // Two conflicts: the third attempt commits.
  conflicts->store(2);
  ASSERT_OK_AND_ASSIGN(auto result, handler.Handle("order-1", Add("a", 1, 1)));
  EXPECT_EQ(result.retries, 2);
  EXPECT_EQ(result.revision, Revision(3));
  // More conflicts than retries: the last conflict is returned, typed.
  conflicts->store(10);
  auto failed = handler.Handle("order-1", Add("b", 1, 1));
  ASSERT_TRUE(IsWrongExpectedRevision(failed.status())) << failed.status();
  auto details = GetWrongExpectedRevision(failed.status());
  ASSERT_EQ(details->conflicts.size(), 1u);
  EXPECT_EQ(details->conflicts[0].expected, ExpectedRevision::Exact(Revision(6)));
  EXPECT_EQ(details->conflicts[0].actual, Revision(7));
}

TEST_F(OrdersTest, FetchForWritingChecksTheRevision) {
  ASSERT_OK(handler_.Handle("order-1", Place("c")).status());
  ASSERT_OK_AND_ASSIGN(auto handle, handler_.FetchForWriting("order-1"));
  EXPECT_EQ(handle.revision(), Revision(0));
  EXPECT_EQ(handle.state().status(), OrderState::OPEN);
  ASSERT_OK_AND_ASSIGN(auto stale, handler_.FetchForWriting("order-1"));
  ItemAdded added;
  added.mutable_item()->set_sku("a");
  ASSERT_OK(handle.Append({added}).status());
  EXPECT_TRUE(IsWrongExpectedRevision(stale.Append({added}).status()));
}

}  // namespace
}  // namespace annals::testing
