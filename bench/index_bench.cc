// Index reads on the loaded PERF workload store: the category read (every
// event is in category `order`, so it reads the whole log through the
// index) and the event-type read (`ItemAdded`, a quarter of the log),
// against ReadAll of the same store in the same run. events/s, decoding
// every event (stream, revision, type, payload), as W4.
#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

using ReadFn = std::function<absl::StatusOr<std::unique_ptr<EventIterator>>(EventStore&)>;

void ReadWhole(benchmark::State& state, const ReadFn& read) {
  auto store = OpenOrSkip(state, LoadedAnnalsStore(), AnnalsOptions(false));
  if (!store) return;
  size_t events = 0, bytes = 0;
  for (auto _ : state) {
    auto it = read(*store);
    if (!it.ok()) {
      state.SkipWithError(it.status().ToString().c_str());
      return;
    }
    for (; (*it)->Valid(); (*it)->Next()) {
      const EventRecord& r = (*it)->record();
      bytes += r.stream.size() + r.type.size() + r.data.size() + r.revision.value();
      ++events;
    }
    if (!(*it)->status().ok()) state.SkipWithError((*it)->status().ToString().c_str());
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(events));
}

const bool index_registered = [] {
  auto reg = [](const char* name, ReadFn fn) {
    RegisterOnce(name, [fn](benchmark::State& s) { ReadWhole(s, fn); });
  };
  reg("IDX-ReadAll/annals", [](EventStore& s) { return s.ReadAll(); });
  reg("IDX-Category/annals", [](EventStore& s) { return s.ReadCategory("order"); });
  reg("IDX-Type/annals", [](EventStore& s) { return s.ReadEventType("ItemAdded"); });
  reg("IDX-FilteredAll/annals",
      [](EventStore& s) { return s.ReadAll({.filter = {.stream_prefixes = {"order-0"}}}); });
  return true;
}();

}  // namespace
}  // namespace annals::bench
