// The write side on the example orders domain: loading a 1,000-event
// aggregate with and without a snapshot (p50/p99 µs over 2,000 loads), and
// command handling throughput (commands/s), one thread and eight on
// distinct aggregates, durable and fast, with the share of time spent in
// load / decide / append.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "annals/snapshot.h"
#include "benchmark/benchmark.h"
#include "orders/orders.h"
#include "workload.h"

namespace annals::bench {
namespace {

namespace orders = ::annals::examples::orders;

void Load1000(benchmark::State& state, bool with_snapshot) {
  constexpr int kLoads = 2000;
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
  if (!store) return;
  orders::OrderEvents codec;
  orders::OrderPlaced placed;
  placed.set_customer("c");
  std::vector<EventData> events{*codec.Encode(placed)};
  for (int i = 1; i < 1000; ++i) {
    orders::ItemAdded added;
    added.mutable_item()->set_sku("SKU-" + std::to_string(i));
    added.mutable_item()->set_quantity(1 + i % 3);
    added.mutable_item()->set_price_cents(100 + i);
    events.push_back(*codec.Encode(added));
  }
  if (!store->Append({"order-1", ExpectedRevision::NoStream(), std::move(events)}).ok()) {
    state.SkipWithError("append failed");
    return;
  }
  Aggregates<orders::OrderDecider, orders::OrderEvents, orders::OrderSnapshots> aggregates(
      *store, orders::OrderDecider{}, codec, orders::OrderSnapshots{1});
  if (with_snapshot) {
    auto loaded = aggregates.Load("order-1");
    Snapshot snapshot{.stream = "order-1",
                      .revision = *loaded->revision,
                      .schema_version = 1,
                      .state = loaded->state.SerializeAsString(),
                      .position = loaded->position};
    if (!WriteSnapshot(*store, snapshot).ok()) {
      state.SkipWithError("snapshot failed");
      return;
    }
  }
  std::vector<double> micros;
  micros.reserve(kLoads);
  for (auto _ : state) {
    for (int i = 0; i < kLoads; ++i) {
      const int64_t start = absl::GetCurrentTimeNanos();
      auto loaded = aggregates.Load("order-1");
      micros.push_back((absl::GetCurrentTimeNanos() - start) / 1000.0);
      if (!loaded.ok() || loaded->revision != Revision(999) ||
          (with_snapshot != loaded->snapshot_revision.has_value())) {
        state.SkipWithError("unexpected load");
        return;
      }
    }
  }
  ReportLatencies(state, micros);
  state.SetItemsProcessed(kLoads);
}

// `threads` threads, each handling orders of its own: PlaceOrder then 9
// AddItem per order.
void Commands(benchmark::State& state, int threads, bool sync) {
  const int commands_per_thread = sync ? 400 : 4000;
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(sync));
  if (!store) return;
  orders::OrderHandler handler(*store, orders::OrderDecider{}, orders::OrderEvents{},
                               orders::OrderSnapshots{1}, {.snapshots = {.every_events = 100}});
  orders::AddOrderValidators(handler);
  std::atomic<int64_t> load_ns{0}, decide_ns{0}, append_ns{0};
  std::atomic<bool> failed{false};
  for (auto _ : state) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        int64_t load = 0, decide = 0, append = 0;
        for (int k = 0; k < commands_per_thread; ++k) {
          const std::string stream = absl::StrCat("order-", t, "-", k / 10);
          absl::StatusOr<orders::OrderHandler::Result> result;
          if (k % 10 == 0) {
            orders::PlaceOrder place;
            place.set_customer("c");
            result = handler.Handle(stream, place);
          } else {
            orders::AddItem add;
            add.mutable_item()->set_sku("SKU");
            add.mutable_item()->set_quantity(1);
            add.mutable_item()->set_price_cents(100);
            result = handler.Handle(stream, add);
          }
          if (!result.ok()) {
            failed = true;
            return;
          }
          load += absl::ToInt64Nanoseconds(result->timings.load);
          decide += absl::ToInt64Nanoseconds(result->timings.decide);
          append += absl::ToInt64Nanoseconds(result->timings.append);
        }
        load_ns += load;
        decide_ns += decide;
        append_ns += append;
      });
    }
    for (auto& w : workers) w.join();
  }
  if (failed) {
    state.SkipWithError("a command failed");
    return;
  }
  const double total = static_cast<double>(load_ns + decide_ns + append_ns);
  state.counters["load_pct"] = 100.0 * load_ns / total;
  state.counters["decide_pct"] = 100.0 * decide_ns / total;
  state.counters["append_pct"] = 100.0 * append_ns / total;
  state.SetItemsProcessed(static_cast<int64_t>(threads) * commands_per_thread);
}

const bool command_registered = [] {
  RegisterOnce("LOAD-1000/annals", [](benchmark::State& s) { Load1000(s, false); });
  RegisterOnce("LOAD-1000-snapshot/annals", [](benchmark::State& s) { Load1000(s, true); });
  RegisterOnce("CMD-1-fast/annals", [](benchmark::State& s) { Commands(s, 1, false); });
  RegisterOnce("CMD-8-fast/annals", [](benchmark::State& s) { Commands(s, 8, false); });
  RegisterOnce("CMD-1-durable/annals", [](benchmark::State& s) { Commands(s, 1, true); });
  RegisterOnce("CMD-8-durable/annals", [](benchmark::State& s) { Commands(s, 8, true); });
  return true;
}();

}  // namespace
}  // namespace annals::bench
