// Aggregates: time travel (the state at a revision, a position or a time,
// from a seed state) and traces (every step with the state after it).
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "annals/aggregate.h"
#include "annals/command_handler.h"
#include "gtest/gtest.h"
#include "orders/orders.h"
#include "tests/commands/order_commands.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::annals::examples::orders::OrderDecider;
using ::annals::examples::orders::OrderEvents;
using ::annals::examples::orders::OrderHandler;
using ::annals::examples::orders::OrderSnapshots;
using ::annals::examples::orders::OrderState;

TEST(TimeTravelTest, StateAtARevisionAPositionOrATime) {
  auto now = std::make_shared<std::atomic<int64_t>>(1'000'000'000);
  StoreOptions options = ::annals::testing::TestOptions();
  options.clock = [now] { return absl::FromUnixMicros(now->load()); };
  TempStore store(options);
  OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1},
                       {.snapshots = {.every_events = 2}});
  ASSERT_OK(handler.Handle("order-1", Place("c")).status());  // r0 @ t=1000 s
  now->fetch_add(10'000'000);
  ASSERT_OK(handler.Handle("order-1", Add("a", 1, 100)).status());  // r1 @ 1010 s
  ASSERT_OK(store->Append({"other-1", ExpectedRevision::Any(), {Event("X")}}));
  now->fetch_add(10'000'000);
  ASSERT_OK(handler.Handle("order-1", Add("b", 1, 200)).status());  // r2 @ 1020 s
  ASSERT_OK(handler.Handle("order-1", Ship()).status());            // r3
  handler.FlushSnapshots();
  const auto& orders = handler.aggregates();

  ASSERT_OK_AND_ASSIGN(auto r1, orders.LoadAt("order-1", {.revision = Revision(1)}));
  EXPECT_EQ(r1.state.total_cents(), 100);
  EXPECT_EQ(r1.state.status(), OrderState::OPEN);
  ASSERT_OK_AND_ASSIGN(auto p3, orders.LoadAt("order-1", {.position = Position(3)}));
  EXPECT_EQ(p3.revision, Revision(1));  // position 3 is other-1's event
  ASSERT_OK_AND_ASSIGN(auto t, orders.LoadAt("order-1", {.time = absl::FromUnixSeconds(1015)}));
  EXPECT_EQ(t.revision, Revision(1));
  ASSERT_OK_AND_ASSIGN(auto before, orders.LoadAt("order-1", {.time = absl::FromUnixSeconds(999)}));
  EXPECT_EQ(before.revision, std::nullopt);
  EXPECT_EQ(before.state.status(), OrderState::NONE);
  EXPECT_THAT(orders.LoadAt("order-1", {.revision = Revision(9)}),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(orders.LoadAt("order-1", {.revision = Revision(1), .position = Position(2)}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A seed state and a from-revision: fold only the tail onto it.
  OrderState seed;
  seed.set_total_cents(1000);
  seed.set_status(OrderState::OPEN);
  ASSERT_OK_AND_ASSIGN(auto seeded, orders.LoadAt("order-1", {.from_revision = Revision(2)}, seed));
  EXPECT_EQ(seeded.state.total_cents(), 1200);
  EXPECT_EQ(seeded.state.status(), OrderState::SHIPPED);
  EXPECT_EQ(seeded.events_folded, 2u);
}

TEST(TimeTravelTest, TraceYieldsEveryStepWithTheStateAfterIt) {
  TempStore store;
  OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1},
                       {.snapshots = {.every_events = 1}});
  ASSERT_OK(handler.Handle("order-1", Place("c")).status());
  ASSERT_OK(handler.Handle("order-1", Add("a", 2, 100)).status());
  ASSERT_OK(handler.Handle("order-1", Ship()).status());
  handler.FlushSnapshots();
  ASSERT_OK_AND_ASSIGN(auto steps, handler.aggregates().Trace("order-1"));
  ASSERT_EQ(steps.size(), 3u);  // snapshots never shorten a trace
  EXPECT_EQ(steps[0].event.type, "OrderPlaced");
  EXPECT_EQ(steps[0].state.status(), OrderState::OPEN);
  EXPECT_EQ(steps[1].state.total_cents(), 200);
  EXPECT_EQ(steps[2].state.status(), OrderState::SHIPPED);
  ASSERT_OK_AND_ASSIGN(auto tail,
                       handler.aggregates().Trace("order-1", {.from_revision = Revision(1)}));
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].state.total_cents(), 200);  // folded from the start, reported from r1
}

}  // namespace
}  // namespace annals::testing
