// W4 on annals: full replay of $all in order, decoding every event (stream,
// revision, type, payload), from a loaded store.
#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

void W4(benchmark::State& state) {
  const std::string& path = LoadedAnnalsStore();
  auto store = OpenOrSkip(state, path, AnnalsOptions(false));
  if (!store) return;
  size_t count = 0, checksum = 0;
  for (auto _ : state) {
    auto it = store->ReadAll();
    if (!it.ok()) {
      state.SkipWithError(it.status().ToString().c_str());
      return;
    }
    for (; (*it)->Valid(); (*it)->Next(), ++count) {
      const EventRecord& r = (*it)->record();
      checksum += r.stream.size() + r.revision.value() + r.type.size() + r.data.size();
    }
    if (!(*it)->status().ok() || count != WorkloadSize()) state.SkipWithError("short replay");
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(count));
}

const bool replay_registered = [] {
  RegisterOnce("W4/annals", W4);
  return true;
}();

}  // namespace
}  // namespace annals::bench
