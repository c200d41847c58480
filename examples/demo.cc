// The annals demo: an order's life as events, with optimistic concurrency.
// Opens (creates) a store in the directory given as argv[1], appends order
// events with expected revisions, shows a rejected append, and reads the
// stream and the global log back. Uses only the public API.
#include <atomic>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "annals/command_handler.h"
#include "annals/errors.h"
#include "annals/event_store.h"
#include "annals/projection.h"
#include "annals/snapshot.h"
#include "orders/orders.h"
#include "orders/projections.h"

namespace {

annals::EventData OrderEvent(std::string type, std::string json) {
  annals::EventData event;
  event.type = std::move(type);
  event.data = std::move(json);
  event.content_type = "application/json";
  event.metadata = {{"user", "alice"}};
  event.correlation_id = "checkout-7f3a";
  return event;
}

void PrintRecord(const annals::EventRecord& r) {
  std::cout << "  #" << r.position << "  " << r.stream << "@" << r.revision << "  " << r.type
            << "  " << r.data << "  ("
            << absl::FormatTime("%H:%M:%E3S", r.recorded_at, absl::UTCTimeZone()) << " UTC)\n";
}

int Fail(const absl::Status& status) {
  std::cerr << "demo failed: " << status << "\n";
  return 1;
}

namespace orders = annals::examples::orders;

void PrintOrder(const char* label, const orders::OrderState& state,
                std::optional<annals::Revision> revision) {
  static const char* kStatus[] = {"none", "open", "shipped", "cancelled"};
  std::cout << "  " << label << ": " << kStatus[state.status()] << ", " << state.items_size()
            << " lines, total " << state.total_cents() << " cents (revision "
            << (revision ? absl::StrCat(revision->value()) : "none") << ")\n";
}

// The write side: commands through a CommandHandler over the example orders
// domain (examples/orders): validation, business rules, a conflict retried,
// an idempotent repeat, and time travel.
int RunCommands(annals::EventStore& store) {
  // The schema registry: tools (`annals read`, `replay`) print these
  // protobuf payloads as JSON without this binary.
  if (auto s = annals::RegisterProtoSchemas<orders::OrderPlaced, orders::ItemAdded,
                                            orders::OrderShipped, orders::OrderCancelled>(store);
      !s.ok()) {
    return Fail(s);
  }
  orders::OrderHandler handler(store, orders::OrderDecider{}, orders::OrderEvents{},
                               orders::OrderSnapshots{1}, {.snapshots = {.every_events = 3}});
  orders::AddOrderValidators(handler);
  const annals::CommandContext alice{.command_id = "cmd-place-77",
                                     .correlation_id = "checkout-77",
                                     .metadata = {{"user", "alice"}}};
  std::cout << "\nCommands on order-77 (CommandHandler, example orders domain):\n";
  orders::PlaceOrder place;
  place.set_customer("c-17");
  auto placed = handler.Handle("order-77", place, alice);
  if (!placed.ok()) return Fail(placed.status());
  PrintOrder("after PlaceOrder", placed->state, placed->revision);
  for (auto [sku, qty, price] : {std::tuple{"BOOK-1", 2, 1250}, std::tuple{"PEN-9", 5, 199}}) {
    orders::AddItem add;
    add.mutable_item()->set_sku(sku);
    add.mutable_item()->set_quantity(qty);
    add.mutable_item()->set_price_cents(price);
    auto added = handler.Handle("order-77", add);
    if (!added.ok()) return Fail(added.status());
    PrintOrder("after AddItem", added->state, added->revision);
  }

  // Rejections: a malformed command (validation) and a broken rule (decider).
  orders::AddItem bad;
  bad.mutable_item()->set_sku("BOOK-1");  // quantity 0
  std::cout << "  AddItem with quantity 0 REJECTED: " << handler.Handle("order-77", bad).status()
            << "\n";
  orders::CancelOrder cancel_missing;
  std::cout << "  CancelOrder on order-404 REJECTED: "
            << handler.Handle("order-404", cancel_missing).status() << "\n";

  // A conflict: a writer holding an older state is refused, and the handler
  // reloads and retries on its own.
  auto stale = handler.FetchForWriting("order-77");
  if (!stale.ok()) return Fail(stale.status());
  orders::ShipOrder ship;
  ship.set_carrier("DHL");
  auto shipped = handler.Handle("order-77", ship, {.command_id = "cmd-ship-77"});
  if (!shipped.ok()) return Fail(shipped.status());
  orders::OrderCancelled cancelled;
  auto refused = stale->Append({cancelled});
  std::cout << "  stale handle (revision " << stale->revision()->value()
            << ") appending OrderCancelled REJECTED: " << refused.status().code() << "\n";
  auto again = handler.Handle("order-77", ship, {.command_id = "cmd-ship-77"});
  if (!again.ok()) return Fail(again.status());
  std::cout << "  ShipOrder repeated with the same command id: "
            << (again->repeated ? "recognised, nothing appended" : "APPENDED AGAIN") << "\n";
  PrintOrder("now", shipped->state, shipped->revision);

  // Conflicts retried: eight clerks add to one basket at once; each command
  // that lost a race reloads the basket and decides again.
  orders::PlaceOrder basket;
  basket.set_customer("c-5");
  if (auto b = handler.Handle("order-78", basket); !b.ok()) return Fail(b.status());
  std::atomic<int> retries{0}, failures{0};
  std::vector<std::thread> clerks;
  for (int clerk = 0; clerk < 8; ++clerk) {
    clerks.emplace_back([&, clerk] {
      for (int i = 0; i < 5; ++i) {
        orders::AddItem add;
        add.mutable_item()->set_sku(absl::StrCat("SKU-", clerk, "-", i));
        add.mutable_item()->set_quantity(1);
        add.mutable_item()->set_price_cents(100);
        auto added = handler.Handle("order-78", add);
        if (added.ok())
          retries += added->retries;
        else
          ++failures;
      }
    });
  }
  for (auto& clerk : clerks) clerk.join();
  auto basket_now = handler.aggregates().Load("order-78");
  if (!basket_now.ok()) return Fail(basket_now.status());
  std::cout << "  8 clerks x 5 AddItem on order-78 at once: " << basket_now->state.items_size()
            << " lines, " << retries.load() << " conflicts reloaded and retried, "
            << failures.load() << " gave up\n";

  // Time travel: the state at an earlier revision, and each step.
  auto earlier = handler.aggregates().LoadAt("order-77", {.revision = annals::Revision(1)});
  if (!earlier.ok()) return Fail(earlier.status());
  PrintOrder("as of revision 1", earlier->state, earlier->revision);
  auto steps = handler.aggregates().Trace("order-77");
  if (!steps.ok()) return Fail(steps.status());
  std::cout << "  step by step:\n";
  for (const auto& step : *steps) {
    std::cout << "    r" << step.event.revision << " " << step.event.type << " -> total "
              << step.state.total_cents() << "\n";
  }
  handler.FlushSnapshots();
  auto snapshots = ListSnapshots(store, "order-77");
  if (!snapshots.ok()) return Fail(snapshots.status());
  std::cout << "  snapshots kept: " << snapshots->size() << " (every 3 events)\n";
  return 0;
}

// The read side: two projections fold the orders into read models; queries
// wait until they have caught up with the last append (read your own writes).
int RunProjections(annals::EventStore& store) {
  annals::ProjectionRunner runner(store);
  for (annals::ProjectionSpec spec : {orders::OrdersPerCustomer(), orders::RevenuePerDay()}) {
    if (auto s = runner.Register(std::move(spec)); !s.ok()) return Fail(s);
  }
  std::cout << "\nProjections (caught up to position " << store.head() << "):\n";
  for (const char* name : {"orders-per-customer", "revenue-per-day"}) {
    if (auto s = runner.WaitForPosition(name, store.head(), absl::Seconds(10)); !s.ok())
      return Fail(s);
  }
  auto customers = runner.Scan("orders-per-customer", "");
  if (!customers.ok()) return Fail(customers.status());
  for (const auto& [customer, count] : *customers) {
    std::cout << "  orders-per-customer  " << customer << " = " << count << "\n";
  }
  auto days = runner.ScanPrefix("revenue-per-day", "day/");
  if (!days.ok()) return Fail(days.status());
  for (const auto& [day, cents] : *days)
    std::cout << "  revenue-per-day      " << day << " = " << cents << " cents\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "./demo-store";
  // The demo starts from an empty store each run, so its output is stable.
  std::error_code ec;
  std::filesystem::remove_all(path, ec);

  annals::StoreOptions options;
  options.create_if_missing = true;
  auto opened = annals::EventStore::Open(path, options);
  if (!opened.ok()) return Fail(opened.status());
  std::unique_ptr<annals::EventStore> store = std::move(opened).value();
  std::cout << "Opened store at " << path << " (format v" << annals::kFormatVersion << ")\n\n";

  // 1. A new order: expected = no stream, so two racing creators cannot both win.
  auto placed =
      store->Append({"order-42",
                     annals::ExpectedRevision::NoStream(),
                     {OrderEvent("OrderPlaced", R"({"customer":"c-17"})"),
                      OrderEvent("ItemAdded", R"({"sku":"BOOK-1","qty":2,"price":1250})")}});
  if (!placed.ok()) return Fail(placed.status());
  std::cout << "Placed order-42: revisions " << placed->first_revision << ".."
            << placed->last_revision << " at positions " << placed->first_position << ".."
            << placed->last_position << "\n";

  // 2. Another order, interleaved in the global log.
  auto other = store->Append({"order-43",
                              annals::ExpectedRevision::NoStream(),
                              {OrderEvent("OrderPlaced", R"({"customer":"c-99"})")}});
  if (!other.ok()) return Fail(other.status());

  // 3. Continue order-42 from the revision we last saw.
  auto paid = store->Append({"order-42",
                             annals::ExpectedRevision::Exact(placed->last_revision),
                             {OrderEvent("OrderPaid", R"({"amount":2500})")}});
  if (!paid.ok()) return Fail(paid.status());
  std::cout << "Paid order-42 with expected revision " << placed->last_revision
            << ": now at revision " << paid->last_revision << "\n\n";

  // 4. A stale writer still believes order-42 is at revision 1: rejected.
  auto stale = store->Append({"order-42",
                              annals::ExpectedRevision::Exact(placed->last_revision),
                              {OrderEvent("ItemRemoved", R"({"sku":"BOOK-1"})")}});
  if (stale.ok()) return Fail(absl::InternalError("the stale append was accepted"));
  std::cout << "Stale append REJECTED (" << absl::StatusCodeToString(stale.status().code())
            << "), nothing written:\n";
  if (auto conflict = annals::GetWrongExpectedRevision(stale.status())) {
    for (const annals::StreamConflict& c : conflict->conflicts) {
      std::cout << "  stream " << c.stream << ": expected revision " << c.expected << ", actual "
                << (c.actual ? absl::StrCat(c.actual->value()) : "no stream") << "\n";
    }
  }
  std::cout << "\n";

  // 5. Read the stream back, then the global log ($all).
  auto stream = store->ReadStream("order-42");
  if (!stream.ok()) return Fail(stream.status());
  std::cout << "Stream order-42:\n";
  for (auto& it = *stream; it->Valid(); it->Next()) PrintRecord(it->record());
  if (!(*stream)->status().ok()) return Fail((*stream)->status());

  auto all = store->ReadAll();
  if (!all.ok()) return Fail(all.status());
  std::cout << "\n$all (head = " << store->head() << "):\n";
  for (auto& it = *all; it->Valid(); it->Next()) PrintRecord(it->record());
  if (!(*all)->status().ok()) return Fail((*all)->status());

  auto info = store->GetStreamInfo("order-42");
  if (!info.ok()) return Fail(info.status());
  std::cout << "\norder-42: last revision " << info->last_revision << ", last position "
            << info->last_position << "\n";

  // The category index: every `order-*` stream's events, in log order.
  auto orders = store->ReadCategory("order");
  if (!orders.ok()) return Fail(orders.status());
  int order_events = 0;
  for (auto& it = *orders; it->Valid(); it->Next()) ++order_events;
  std::cout << "\ncategory 'order': " << order_events << " events\n";

  // A durable subscriber catches up from its checkpoint (the start, on the
  // first run), then would follow live appends; here it stops when idle.
  auto subscription =
      store->Subscribe({.filter = {.categories = {"order"}}, .durable_name = "demo-mailer"});
  if (!subscription.ok()) return Fail(subscription.status());
  int delivered = 0;
  for (;;) {
    auto event = (*subscription)->Next(absl::Milliseconds(50));
    if (absl::IsDeadlineExceeded(event.status())) break;
    if (!event.ok()) return Fail(event.status());
    ++delivered;
  }
  if (auto saved = (*subscription)->SaveCheckpoint(); !saved.ok()) return Fail(saved);
  std::cout << "subscriber 'demo-mailer' handled " << delivered << " new events, checkpoint at "
            << (*subscription)->reached() << "\n";
  subscription->reset();

  if (int failed = RunCommands(*store); failed != 0) return failed;
  if (int failed = RunProjections(*store); failed != 0) return failed;
  return store->Close().ok() ? 0 : 1;
}
