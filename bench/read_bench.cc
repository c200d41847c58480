// W3 on annals: read all events of a pseudo-random stream, 20,000 times, from
// a loaded store. Reports reads/s and p50/p99 latency in µs.
#include <chrono>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

constexpr int kReads = 20000;

void W3(benchmark::State& state) {
  const std::string& path = LoadedAnnalsStore();
  auto store = EventStore::Open(path, AnnalsOptions(false));
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  const size_t per_stream = WorkloadSize() / kStreams;
  std::mt19937 rng(42);
  std::vector<int> picks(kReads);
  for (int& pick : picks) pick = static_cast<int>(rng() % kStreams);
  std::vector<double> latencies_us;
  latencies_us.reserve(kReads);
  size_t bytes = 0;
  for (auto _ : state) {
    for (int pick : picks) {
      const auto start = std::chrono::steady_clock::now();
      auto it = (*store)->ReadStream(StreamName(pick));
      if (!it.ok()) {
        state.SkipWithError(it.status().ToString().c_str());
        return;
      }
      size_t count = 0;
      for (; (*it)->Valid(); (*it)->Next(), ++count) bytes += (*it)->record().data.size();
      if (count != per_stream || !(*it)->status().ok()) {
        state.SkipWithError("short stream read");
        return;
      }
      latencies_us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(kReads);
  state.counters["p50_us"] = Percentile(latencies_us, 50);
  state.counters["p99_us"] = Percentile(latencies_us, 99);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("W3/annals", W3)
      ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace annals::bench
