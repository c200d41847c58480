// The command layer: the decider concept, protobuf codecs, CommandHandler
// (validation, rejections, retries on conflict, command idempotency,
// context on events, fetch for writing), snapshots, time travel and traces,
// and the given/when/then fixture. Uses the example orders domain.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "annals/aggregate.h"
#include "annals/command_handler.h"
#include "annals/errors.h"
#include "annals/proto_codec.h"
#include "annals/snapshot.h"
#include "annals/testing/decider_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "orders/orders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

using ::annals::examples::orders::AddItem;
using ::annals::examples::orders::AddOrderValidators;
using ::annals::examples::orders::CancelOrder;
using ::annals::examples::orders::ItemAdded;
using ::annals::examples::orders::OrderDecider;
using ::annals::examples::orders::OrderEvents;
using ::annals::examples::orders::OrderHandler;
using ::annals::examples::orders::OrderPlaced;
using ::annals::examples::orders::OrderShipped;
using ::annals::examples::orders::OrderSnapshots;
using ::annals::examples::orders::OrderState;
using ::annals::examples::orders::PlaceOrder;
using ::annals::examples::orders::ShipOrder;
using ::annals::testing::DeciderSpec;
using ::annals::testing::Drain;
using ::annals::testing::Event;
using ::annals::testing::IsOk;
using ::annals::testing::StatusIs;
using ::annals::testing::TempStore;

PlaceOrder Place(std::string customer) {
  PlaceOrder c;
  c.set_customer(std::move(customer));
  return c;
}
AddItem Add(std::string sku, int quantity, int64_t price) {
  AddItem c;
  c.mutable_item()->set_sku(std::move(sku));
  c.mutable_item()->set_quantity(quantity);
  c.mutable_item()->set_price_cents(price);
  return c;
}
ShipOrder Ship(std::string carrier = "DHL") {
  ShipOrder c;
  c.set_carrier(std::move(carrier));
  return c;
}

// --- compile-time checks ------------------------------------------------------

struct NotADecider {
  using State = int;
};
static_assert(Decider<OrderDecider>);
static_assert(!Decider<NotADecider>);
static_assert(EventCodecFor<OrderEvents, OrderDecider::Event>);
static_assert(StateCodecFor<OrderSnapshots, OrderState>);
static_assert(!StateCodecFor<NoSnapshots, OrderState>);

// A plain-struct decider with a hand-written codec: deciders need no protobuf.
struct Counter {
  struct State {
    int64_t value = 0;
  };
  struct Event {
    int64_t delta = 0;
  };
  struct Command {
    int64_t add = 0;
  };
  State initial_state() const { return {}; }
  State evolve(const State& s, const Event& e) const { return {s.value + e.delta}; }
  absl::StatusOr<std::vector<Event>> decide(const Command& c, const State& s) const {
    if (s.value + c.add < 0) return absl::FailedPreconditionError("would go negative");
    return std::vector<Event>{{c.add}};
  }
};
struct CounterCodec {
  absl::StatusOr<EventData> Encode(const Counter::Event& e) const {
    return EventData{.type = "Added", .data = std::to_string(e.delta), .content_type = "text/plain"};
  }
  absl::StatusOr<Counter::Event> Decode(const EventRecord& r) const {
    if (r.type != "Added") return absl::InvalidArgumentError("unknown type " + r.type);
    return Counter::Event{std::stoll(r.data)};
  }
};
static_assert(Decider<Counter>);

TEST(CommandHandlerTest, PlainStructDecidersWork) {
  TempStore store;
  CommandHandler<Counter, CounterCodec> handler(*store, Counter{}, CounterCodec{});
  ASSERT_OK(handler.Handle("counter-1", {5}).status());
  ASSERT_OK_AND_ASSIGN(auto result, handler.Handle("counter-1", {-3}));
  EXPECT_EQ(result.state.value, 2);
  EXPECT_EQ(result.revision, Revision(1));
  EXPECT_THAT(handler.Handle("counter-1", {-3}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// --- handling -------------------------------------------------------------------

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
  EXPECT_THAT(handler_.Handle("order-1", Add("", 1, 1)), StatusIs(absl::StatusCode::kInvalidArgument));
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
  EXPECT_THAT(handler_.Handle("order-2", CancelOrder()), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->head(), head);
}

TEST_F(OrdersTest, ContextIsCarriedOntoEveryEvent) {
  CommandContext context{.command_id = "cmd-1", .correlation_id = "checkout-9",
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
  ASSERT_OK_AND_ASSIGN(auto first, handler_.Handle("order-1", Add("a", 1, 100), {.command_id = "add-1"}));
  ASSERT_OK(handler_.Handle("order-1", Add("b", 1, 200)).status());
  const Position head = store_->head();
  ASSERT_OK_AND_ASSIGN(auto again, handler_.Handle("order-1", Add("a", 1, 100), {.command_id = "add-1"}));
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
  ASSERT_OK_AND_ASSIGN(auto shipped_again, handler_.Handle("order-1", Ship(), {.command_id = "ship-1"}));
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

// --- snapshots --------------------------------------------------------------------

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
    ASSERT_OK_AND_ASSIGN(auto at15, handler.aggregates().LoadAt("order-1", {.revision = Revision(15)}));
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

TEST(SnapshotTest, BadSnapshotWritesAreRejected) {
  TempStore store;
  Snapshot snapshot{.stream = "order-1", .revision = Revision(0), .schema_version = 1};
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("A")}}));
  snapshot.revision = Revision(5);
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kNotFound));
  snapshot.stream = "$bad";
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store->TombstoneStream("order-1"));
  snapshot.stream = "order-1";
  snapshot.revision = Revision(0);
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(auto none, ListSnapshots(*store, "order-1"));
  EXPECT_TRUE(none.empty());
}

// --- time travel -------------------------------------------------------------------

TEST(TimeTravelTest, StateAtARevisionAPositionOrATime) {
  auto now = std::make_shared<std::atomic<int64_t>>(1'000'000'000);
  StoreOptions options = ::annals::testing::TestOptions();
  options.clock = [now] { return absl::FromUnixMicros(now->load()); };
  TempStore store(options);
  OrderHandler handler(*store, OrderDecider{}, OrderEvents{}, OrderSnapshots{1},
                       {.snapshots = {.every_events = 2}});
  ASSERT_OK(handler.Handle("order-1", Place("c")).status());           // r0 @ t=1000 s
  now->fetch_add(10'000'000);
  ASSERT_OK(handler.Handle("order-1", Add("a", 1, 100)).status());     // r1 @ 1010 s
  ASSERT_OK(store->Append({"other-1", ExpectedRevision::Any(), {Event("X")}}));
  now->fetch_add(10'000'000);
  ASSERT_OK(handler.Handle("order-1", Add("b", 1, 200)).status());     // r2 @ 1020 s
  ASSERT_OK(handler.Handle("order-1", Ship()).status());               // r3
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
  ASSERT_OK_AND_ASSIGN(auto tail, handler.aggregates().Trace("order-1", {.from_revision = Revision(1)}));
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].state.total_cents(), 200);  // folded from the start, reported from r1
}

// --- codecs and the fixture -------------------------------------------------------

TEST(ProtoCodecTest, JsonAndBinaryRoundTrip) {
  OrderEvents binary;
  OrderEvents json(OrderEvents::Encoding::kJson);
  ItemAdded added;
  added.mutable_item()->set_sku("sku-1");
  added.mutable_item()->set_quantity(3);
  ASSERT_OK_AND_ASSIGN(EventData as_json, json.Encode(added));
  EXPECT_EQ(as_json.type, "ItemAdded");
  EXPECT_EQ(as_json.content_type, "application/json; messageType=annals.examples.orders.ItemAdded");
  EXPECT_THAT(as_json.data, ::testing::HasSubstr("\"sku\":\"sku-1\""));
  EventRecord record{.type = as_json.type, .data = as_json.data, .content_type = as_json.content_type};
  // Either codec reads either encoding.
  ASSERT_OK_AND_ASSIGN(auto decoded, binary.Decode(record));
  EXPECT_EQ(std::get<ItemAdded>(decoded).item().quantity(), 3);
  record.type = "Unknown";
  EXPECT_THAT(binary.Decode(record), StatusIs(absl::StatusCode::kInvalidArgument));
  record.type = "ItemAdded";
  record.content_type = "application/x-protobuf";
  record.data = "\xff\xff";
  EXPECT_THAT(binary.Decode(record), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(ProtoCodecTest, CheckRequiredFieldsNamesWhatIsMissing) {
  AddItem empty;
  EXPECT_THAT(CheckRequiredFields(empty, {"item"}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("item")));
  EXPECT_THAT(CheckRequiredFields(empty, {"nope"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(CheckRequiredFields(Add("a", 1, 1), {"item"}));
}

TEST(DeciderSpecTest, GivenWhenThen) {
  DeciderSpec<OrderDecider, OrderEvents> spec(OrderDecider{}, OrderEvents{});
  OrderPlaced placed;
  placed.set_customer("c");
  ItemAdded added;
  *added.mutable_item() = Add("a", 1, 5).item();
  OrderShipped shipped;
  shipped.set_carrier("DHL");
  EXPECT_OK(spec.Given({placed, added}).When(Ship("DHL")).ThenEvents({shipped}));
  EXPECT_OK(spec.Given({placed}).When(Ship()).ThenRejects(absl::StatusCode::kFailedPrecondition));
  EXPECT_OK(spec.Given({placed, added}).When(Ship()).ThenState(
      [](const OrderState& s) { return s.status() == OrderState::SHIPPED; }));
  // Mismatches are reported, not hidden.
  EXPECT_FALSE(spec.Given({placed}).When(Ship()).ThenEvents({shipped}).ok());
  EXPECT_FALSE(spec.Given({placed, added}).When(Ship("UPS")).ThenEvents({shipped}).ok());
  EXPECT_FALSE(spec.Given({placed, added}).When(Ship()).ThenRejects(absl::StatusCode::kInternal).ok());
}

}  // namespace
}  // namespace annals
