// W3 on annals: read all events of a pseudo-random stream, 20,000 times, from
// a loaded store. Reports reads/s and p50/p99 latency in µs.
#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

void W3(benchmark::State& state) {
  auto store = OpenOrSkip(state, LoadedAnnalsStore(), AnnalsOptions(false));
  if (!store) return;
  size_t bytes = 0;
  RunStreamReads(state, [&](int stream_index) -> size_t {
    auto it = store->ReadStream(StreamName(stream_index));
    if (!it.ok()) return 0;
    size_t count = 0;
    for (; (*it)->Valid(); (*it)->Next(), ++count) bytes += (*it)->record().data.size();
    return (*it)->status().ok() ? count : 0;
  });
  benchmark::DoNotOptimize(bytes);
}

const bool read_registered = [] {
  RegisterOnce("W3/annals", W3);
  return true;
}();

}  // namespace
}  // namespace annals::bench
