// An application as a user of an installed annals writes it: it links the
// engine, the write side and the read side, and checks one round trip
// through each. consumer_test.sh builds it with add_subdirectory,
// find_package and pkg-config, against static and shared libraries.
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "annals/decider.h"
#include "annals/errors.h"
#include "annals/event_store.h"
#include "annals/projection.h"
#include "annals/version.h"

namespace {

int Fail(const char* step, const absl::Status& status) {
  std::fprintf(stderr, "consumer: %s: %s\n", step, status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer STORE_DIR\n");
    return 2;
  }
  auto store = annals::EventStore::Open(argv[1], {.create_if_missing = true});
  if (!store.ok()) return Fail("open", store.status());

  const annals::EventData placed{
      .type = "OrderPlaced", .data = R"({"customer":"c-17"})", .content_type = "application/json"};
  auto appended = (*store)->Append({"order-1", annals::ExpectedRevision::NoStream(), {placed}});
  if (!appended.ok()) return Fail("append", appended.status());
  auto stale = (*store)->Append({"order-1", annals::ExpectedRevision::NoStream(), {placed}});
  if (!annals::IsWrongExpectedRevision(stale.status())) return Fail("stale append", stale.status());

  // The write side's deterministic command event ids (annals::commands).
  if (annals::CommandEventId("c-1", "order-1", 0) != annals::CommandEventId("c-1", "order-1", 0)) {
    return Fail("command event id", absl::InternalError("not deterministic"));
  }

  annals::ProjectionRunner runner(**store);
  absl::Status registered =
      runner.Register({.name = "orders",
                       .filter = {.categories = {"order"}},
                       .apply = [](const annals::EventRecord& e, annals::ReadModelWriter& rm) {
                         rm.Put(e.stream, e.type);
                         return absl::OkStatus();
                       }});
  if (!registered.ok()) return Fail("register", registered);
  absl::Status caught_up =
      runner.WaitForPosition("orders", appended->last_position, absl::Seconds(30));
  if (!caught_up.ok()) return Fail("wait", caught_up);
  auto row = runner.Get("orders", "order-1");
  if (!row.ok()) return Fail("get", row.status());
  if (!row->has_value() || **row != "OrderPlaced") {
    return Fail("get", absl::InternalError("the read model does not hold order-1"));
  }
  std::printf("annals %s (headers %s): ok\n", std::string(annals::Version()).c_str(),
              ANNALS_VERSION_STRING);
  return 0;
}
