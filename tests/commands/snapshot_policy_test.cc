// The handler's snapshots: written every N events (and when a predicate asks)
// off the caller's path, used by loads at and below their revision, ignored
// for another schema version, unusable after a soft delete, skipped under
// retention.
#include <cstdint>
#include <optional>
#include <vector>

#include "annals/aggregate.h"
#include "annals/command_handler.h"
#include "annals/snapshot.h"
#include "gmock/gmock.h"
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

TEST(SnapshotTest, WrittenEveryNEventsAndUsedByLoads) {
  TempStore store;
  {
    OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1},
                         {.snapshots = {.every_events = 10}});
    ASSERT_OK(handler.Handle("order-1", Place("c")).status());
    for (int i = 0; i < 34; ++i) ASSERT_OK(handler.Handle("order-1", Add("s", 1, 10)).status());
    handler.FlushSnapshots();
    ASSERT_OK_AND_ASSIGN(auto snapshots, ListSnapshots(*store, "order-1"));
    std::vector<uint64_t> revisions;
    for (const Snapshot& s : snapshots) revisions.push_back(s.revision.value());
    EXPECT_THAT(revisions, ::testing::ElementsAre(9, 19, 29));
    EXPECT_EQ(snapshots[0].schema_version, 1u);

    ASSERT_OK_AND_ASSIGN(auto loaded, handler.aggregates().Load("order-1"));
    EXPECT_EQ(loaded.snapshot_revision, Revision(29));
    EXPECT_EQ(loaded.events_folded, 5u);
    EXPECT_EQ(loaded.revision, Revision(34));
    EXPECT_EQ(loaded.state.total_cents(), 340);
    // At an earlier revision: the newest snapshot at or below it.
    ASSERT_OK_AND_ASSIGN(auto at15,
                         handler.aggregates().LoadAt("order-1", {.revision = Revision(15)}));
    EXPECT_EQ(at15.snapshot_revision, Revision(9));
    EXPECT_EQ(at15.state.items_size(), 15);
  }
  // Another schema version ignores them and folds every event.
  Aggregates<OrderDecider, OrderEvents, OrderSnapshots> v2(*store, OrderDecider{}, OrderEvents{},
                                                           OrderSnapshots{2});
  ASSERT_OK_AND_ASSIGN(auto loaded, v2.Load("order-1"));
  EXPECT_EQ(loaded.snapshot_revision, std::nullopt);
  EXPECT_EQ(loaded.events_folded, 35u);
  EXPECT_EQ(loaded.state.total_cents(), 340);
  ASSERT_OK(DeleteSnapshots(*store, "order-1"));
  ASSERT_OK_AND_ASSIGN(auto none, ListSnapshots(*store, "order-1"));
  EXPECT_TRUE(none.empty());
}

TEST(SnapshotTest, ASoftDeleteMakesOldSnapshotsUnusable) {
  TempStore store;
  OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1},
                       {.snapshots = {.every_events = 2}});
  ASSERT_OK(handler.Handle("order-1", Place("old")).status());
  for (int i = 0; i < 3; ++i) ASSERT_OK(handler.Handle("order-1", Add("s", 1, 10)).status());
  handler.FlushSnapshots();
  ASSERT_OK(store->DeleteStream("order-1"));
  // Recreated: the state folds only what a reader sees.
  ASSERT_OK_AND_ASSIGN(auto loaded, handler.aggregates().Load("order-1"));
  EXPECT_EQ(loaded.revision, std::nullopt);
  EXPECT_EQ(loaded.snapshot_revision, std::nullopt);  // r1 and r3 folded deleted events
  ASSERT_OK(handler.Handle("order-1", Place("new")).status());
  handler.FlushSnapshots();
  // The recreated stream's own snapshot (folded from the truncation point).
  ASSERT_OK_AND_ASSIGN(loaded, handler.aggregates().Load("order-1"));
  EXPECT_EQ(loaded.snapshot_revision, Revision(4));
  EXPECT_EQ(loaded.state.customer(), "new");
  EXPECT_EQ(loaded.state.items_size(), 0);
  EXPECT_EQ(loaded.revision, Revision(4));
}

TEST(SnapshotTest, APredicateCanAskForASnapshot) {
  TempStore store;
  OrderHandler::Options options;
  options.snapshot_when = [](const OrderState& s) { return s.status() == OrderState::SHIPPED; };
  OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1}, options);
  ASSERT_OK(handler.Handle("order-1", Place("c")).status());
  ASSERT_OK(handler.Handle("order-1", Add("a", 1, 1)).status());
  ASSERT_OK(handler.Handle("order-1", Ship()).status());
  handler.FlushSnapshots();
  ASSERT_OK_AND_ASSIGN(auto snapshots, ListSnapshots(*store, "order-1"));
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(snapshots[0].revision, Revision(2));
}

TEST(SnapshotTest, RetentionFoldsOnlyVisibleEventsAndSkipsSnapshots) {
  TempStore store;
  OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1},
                       {.snapshots = {.every_events = 2}});
  ASSERT_OK(handler.Handle("order-1", Place("c")).status());
  for (int i = 0; i < 5; ++i) ASSERT_OK(handler.Handle("order-1", Add("s", 1, 10)).status());
  handler.FlushSnapshots();
  ASSERT_OK(store->SetStreamMetadata("order-1", {.max_count = 3}));
  ASSERT_OK_AND_ASSIGN(auto loaded, handler.aggregates().Load("order-1"));
  EXPECT_EQ(loaded.snapshot_revision, std::nullopt);
  EXPECT_EQ(loaded.events_folded, 3u);  // revisions 3..5: what a reader sees
  EXPECT_EQ(loaded.state.items_size(), 3);
  EXPECT_EQ(loaded.revision, Revision(5));
}

}  // namespace
}  // namespace annals::testing
