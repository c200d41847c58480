// README.md "The write side": commands handled by a decider (the example
// domain's OrderDecider, examples/orders/), with snapshots, idempotent
// command ids and time travel. Built and run by ctest (readme_*), and
// compared with README's block by tests/docs/readme_snippets_test.sh.
#include <iostream>

#include "annals/command_handler.h"
#include "annals/event_store.h"
#include "orders/orders.h"  // OrderDecider, its codecs and OrderHandler

namespace orders = annals::examples::orders;

int Fail(const absl::Status& status) {  // a real program would handle it
  std::cerr << status << "\n";
  return 1;
}

int main() {
  auto store = annals::EventStore::Open("./orders", {.create_if_missing = true});
  if (!store.ok()) return Fail(store.status());

  orders::OrderHandler handler(**store, orders::OrderDecider{}, orders::OrderEvents{},
                               orders::OrderSnapshots{1}, {.snapshots = {.every_events = 100}});
  orders::PlaceOrder place;
  place.set_customer("c-17");
  // The command id makes a retry (or a second run) harmless: a repeated id
  // returns the first handling's events and appends nothing.
  auto placed =
      handler.Handle("order-43", place, {.command_id = "c-1", .metadata = {{"user", "alice"}}});
  if (!placed.ok()) return Fail(placed.status());

  orders::AddItem add;
  add.mutable_item()->set_sku("sku-9");
  add.mutable_item()->set_quantity(2);
  add.mutable_item()->set_price_cents(1250);
  auto added = handler.Handle("order-43", add, {.command_id = "c-2"});
  if (!added.ok()) return Fail(added.status());
  std::cout << "order-43 at revision " << *added->revision << ": "
            << added->state.ShortDebugString() << (added->repeated ? " (repeated)" : "") << "\n";

  // Time travel: the state after the order's first event.
  auto then = handler.aggregates().LoadAt("order-43", {.revision = annals::Revision(0)});
  if (!then.ok()) return Fail(then.status());
  std::cout << "at revision 0: " << then->state.ShortDebugString() << "\n";
  return 0;
}
