// The annals demo: an order's life as events, with optimistic concurrency.
// Opens (creates) a store in the directory given as argv[1], appends order
// events with expected revisions, shows a rejected append, and reads the
// stream and the global log back. Uses only the public API.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "annals/errors.h"
#include "annals/event_store.h"

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
  auto placed = store->Append({"order-42", annals::ExpectedRevision::NoStream(),
                               {OrderEvent("OrderPlaced", R"({"customer":"c-17"})"),
                                OrderEvent("ItemAdded", R"({"sku":"BOOK-1","qty":2,"price":1250})")}});
  if (!placed.ok()) return Fail(placed.status());
  std::cout << "Placed order-42: revisions " << placed->first_revision << ".."
            << placed->last_revision << " at positions " << placed->first_position << ".."
            << placed->last_position << "\n";

  // 2. Another order, interleaved in the global log.
  auto other = store->Append({"order-43", annals::ExpectedRevision::NoStream(),
                              {OrderEvent("OrderPlaced", R"({"customer":"c-99"})")}});
  if (!other.ok()) return Fail(other.status());

  // 3. Continue order-42 from the revision we last saw.
  auto paid = store->Append({"order-42", annals::ExpectedRevision::Exact(placed->last_revision),
                             {OrderEvent("OrderPaid", R"({"amount":2500})")}});
  if (!paid.ok()) return Fail(paid.status());
  std::cout << "Paid order-42 with expected revision " << placed->last_revision
            << ": now at revision " << paid->last_revision << "\n\n";

  // 4. A stale writer still believes order-42 is at revision 1: rejected.
  auto stale = store->Append({"order-42", annals::ExpectedRevision::Exact(placed->last_revision),
                              {OrderEvent("ItemRemoved", R"({"sku":"BOOK-1"})")}});
  if (stale.ok()) return Fail(absl::InternalError("the stale append was accepted"));
  std::cout << "Stale append REJECTED (" << absl::StatusCodeToString(stale.status().code())
            << "), nothing written:\n";
  if (auto conflict = annals::GetWrongExpectedRevision(stale.status())) {
    for (const annals::StreamConflict& c : conflict->conflicts) {
      std::cout << "  stream " << c.stream << ": expected revision " << c.expected
                << ", actual " << (c.actual ? absl::StrCat(c.actual->value()) : "no stream")
                << "\n";
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
  auto subscription = store->Subscribe({.filter = {.categories = {"order"}},
                                        .durable_name = "demo-mailer"});
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
  return store->Close().ok() ? 0 : 1;
}
