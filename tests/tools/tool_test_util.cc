#include "tests/tools/tool_test_util.h"

#include <string>

#include "annals/projection.h"
#include "annals/proto_codec.h"
#include "orders/orders.h"
#include "orders/projections.h"

namespace annals::testing {

namespace orders = examples::orders;

TempDir* ToolTest::dir_ = nullptr;
EventStore* ToolTest::store_ = nullptr;

void ToolTest::SetUpTestSuite() {
  dir_ = new TempDir();
  auto store = EventStore::Open(dir_->Sub("store"), TestOptions());
  ASSERT_OK(store.status());
  store_ = store->release();
  EventStore& s = *store_;
  ASSERT_OK((RegisterProtoSchemas<orders::OrderPlaced, orders::ItemAdded, orders::OrderShipped,
                                  orders::OrderCancelled>(s)));
  orders::OrderHandler handler(s, orders::OrderDecider{}, orders::OrderEvents{},
                               orders::OrderSnapshots{1}, {.snapshots = {.every_events = 3}});
  auto item = [](const std::string& sku, int quantity, int64_t price) {
    orders::AddItem add;
    add.mutable_item()->set_sku(sku);
    add.mutable_item()->set_quantity(quantity);
    add.mutable_item()->set_price_cents(price);
    return add;
  };
  orders::PlaceOrder place;
  place.set_customer("c-1");
  const CommandContext alice_places{
      .command_id = "cmd-1", .correlation_id = "checkout-1", .metadata = {{"user", "alice"}}};
  const CommandContext alice{.correlation_id = "checkout-1", .metadata = {{"user", "alice"}}};
  const CommandContext bob{.correlation_id = "checkout-1", .metadata = {{"user", "bob"}}};
  ASSERT_OK(handler.Handle("order-1", place, alice_places).status());
  ASSERT_OK(handler.Handle("order-1", item("BOOK-1", 2, 1250), alice).status());
  ASSERT_OK(handler.Handle("order-1", item("PEN-9", 5, 199), bob).status());
  orders::ShipOrder ship;
  ship.set_carrier("DHL");
  ASSERT_OK(handler.Handle("order-1", ship, alice).status());
  place.set_customer("c-2");
  const CommandContext carol{.correlation_id = "checkout-2", .metadata = {{"user", "carol"}}};
  ASSERT_OK(handler.Handle("order-2", place, carol).status());
  ASSERT_OK(handler.Handle("order-2", item("MUG-3", 1, 900), carol).status());
  orders::CancelOrder cancel;
  cancel.set_reason("changed mind");
  ASSERT_OK(handler.Handle("order-2", cancel, carol).status());
  handler.FlushSnapshots();

  for (const char* data : {R"({"owner":"ann","balance":0})", R"({"balance":100})",
                           R"({"balance":-20,"overdrawn":true})"}) {
    ASSERT_OK(
        s.Append({"account-7", ExpectedRevision::Any(), {Event("BalanceChanged", data)}}).status());
  }
  EventData blob = Event("Blob", std::string("\0\xff\x10", 3));
  blob.content_type = "application/octet-stream";
  ASSERT_OK(s.Append({"blob-1", ExpectedRevision::Any(), {blob}}).status());
  ASSERT_OK(s.Append({"temp-9", ExpectedRevision::Any(), {Event("Scratch")}}).status());
  ASSERT_OK(s.DeleteStream("temp-9", {.actor = "ops", .reason = "test data"}).status());

  ProjectionRunner runner(s);
  ASSERT_OK(runner.Register(orders::OrdersPerCustomer()));
  ASSERT_OK(runner.Register(orders::RevenuePerDay()));
  for (const char* name : {"orders-per-customer", "revenue-per-day"}) {
    ASSERT_OK(runner.WaitForPosition(name, s.head(), absl::Seconds(30)));
  }
  runner.Stop();
}

}  // namespace annals::testing
