// README.md "A first program": open a store, append with an expected
// revision, read the stream back. Built and run by ctest (readme_*), and
// compared with README's block by tests/docs/readme_snippets_test.sh.
#include <iostream>

#include "annals/errors.h"
#include "annals/event_store.h"

int Fail(const absl::Status& status) {  // a real program would handle it
  std::cerr << status << "\n";
  return 1;
}

int main() {
  auto store = annals::EventStore::Open("./orders", {.create_if_missing = true});
  if (!store.ok()) return Fail(store.status());

  annals::EventData placed{
      .type = "OrderPlaced", .data = R"({"customer":"c-17"})", .content_type = "application/json"};
  auto appended = (*store)->Append({"order-42", annals::ExpectedRevision::NoStream(), {placed}});
  if (annals::IsWrongExpectedRevision(appended.status())) {
    std::cout << "order-42 exists already: reload, decide again, retry\n";
  } else if (!appended.ok()) {
    return Fail(appended.status());
  }

  auto events = (*store)->ReadStream("order-42");
  if (!events.ok()) return Fail(events.status());
  for (auto& it = *events; it->Valid(); it->Next()) {
    const annals::EventRecord& e = it->record();  // stream, revision, position, type, data...
    std::cout << e.stream << "@" << e.revision << " (position " << e.position << "): " << e.type
              << " " << e.data << "\n";
  }
  if (!(*events)->status().ok()) return Fail((*events)->status());
  return 0;
}
