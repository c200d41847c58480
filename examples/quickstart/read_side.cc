// README.md "The read side": a projection folding events into a read model
// kept in the same store, exactly once, and read your own writes. Built and
// run by ctest (readme_*), and compared with README's block by
// tests/docs/readme_snippets_test.sh.
#include <iostream>

#include "annals/event_store.h"
#include "annals/projection.h"

int Fail(const absl::Status& status) {  // a real program would handle it
  std::cerr << status << "\n";
  return 1;
}

int main() {
  auto store = annals::EventStore::Open("./orders", {.create_if_missing = true});
  if (!store.ok()) return Fail(store.status());

  annals::ProjectionRunner runner(**store);
  absl::Status registered =
      runner.Register({.name = "orders-per-customer",
                       .filter = {.categories = {"order"}, .event_types = {"OrderPlaced"}},
                       .apply = [](const annals::EventRecord& e, annals::ReadModelWriter& rm) {
                         rm.Put(e.stream, e.data);  // committed with the checkpoint: exactly once
                         return absl::OkStatus();
                       }});
  if (!registered.ok()) return Fail(registered);

  annals::EventData placed{
      .type = "OrderPlaced", .data = R"({"customer":"c-18"})", .content_type = "application/json"};
  auto appended = (*store)->Append({"order-44", annals::ExpectedRevision::Any(), {placed}});
  if (!appended.ok()) return Fail(appended.status());
  // Read your own write: wait until the projection has applied it.
  absl::Status caught_up =
      runner.WaitForPosition("orders-per-customer", appended->last_position, absl::Seconds(5));
  if (!caught_up.ok()) return Fail(caught_up);
  auto row = runner.Get("orders-per-customer", "order-44");
  if (!row.ok()) return Fail(row.status());
  std::cout << "order-44: " << row->value_or("(none)") << "\n";
  return 0;
}
