// W1-durable, W1-fast, W2 (durable and fast) and W5 on annals. The raw
// baselines are in rocksdb_baseline_bench.cc; bench_main.cc pairs them.
#include <atomic>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

constexpr size_t kDurableEvents = 4000;  // fsync-bound: a few thousand per second

// W1: one event per append with the exact expected revision, in workload order.
void W1(benchmark::State& state, bool sync, size_t count) {
  const auto& events = Workload();
  count = std::min(count, events.size());
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(sync));
  if (!store) return;
  for (auto _ : state) {
    for (size_t k = 0; k < count; ++k) {
      const WorkloadEvent& e = events[k];
      auto result = AppendW1(*store, e);
      if (!result.ok()) {
        state.SkipWithError(result.status().ToString().c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(count));
}

// W2: one stream's whole history (100 events) per append, expected no stream.
void W2(benchmark::State& state, bool sync) {
  const auto& events = Workload();
  const size_t per_stream = events.size() / kStreams;
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(sync));
  if (!store) return;
  // Built before timing: the appends, stream by stream.
  std::vector<AppendRequest> requests(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    requests[s].stream = StreamName(s);
    requests[s].expected = ExpectedRevision::NoStream();
  }
  for (const WorkloadEvent& e : events) requests[e.stream_index].events.push_back(ToEventData(e));
  for (auto _ : state) {
    for (AppendRequest& request : requests) {
      auto result = store->Append(std::move(request));
      if (!result.ok()) {
        state.SkipWithError(result.status().ToString().c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(per_stream * kStreams));
}

// W5: 8 writer threads, each W1-durable on its own streams (stream % 8 == w).
void W5(benchmark::State& state) {
  constexpr int kWriters = 8;
  const auto& events = Workload();
  const size_t count = std::min(kDurableEvents * 2, events.size());
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(/*sync=*/true));
  if (!store) return;
  std::atomic<bool> failed{false};
  for (auto _ : state) {
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (size_t k = 0; k < count; ++k) {
          const WorkloadEvent& e = events[k];
          if (e.stream_index % kWriters != w) continue;
          auto result = AppendW1(*store, e);
          if (!result.ok()) failed = true;
        }
      });
    }
    for (std::thread& writer : writers) writer.join();
  }
  if (failed) state.SkipWithError("an append failed");
  state.SetItemsProcessed(static_cast<int64_t>(count));
}

const bool append_registered = [] {
  RegisterOnce("W1-durable/annals", [](benchmark::State& s) { W1(s, true, kDurableEvents); });
  RegisterOnce("W1-fast/annals", [](benchmark::State& s) { W1(s, false, SIZE_MAX); });
  RegisterOnce("W2-durable/annals", [](benchmark::State& s) { W2(s, true); });
  RegisterOnce("W2-fast/annals", [](benchmark::State& s) { W2(s, false); });
  RegisterOnce("W5/annals", W5);
  return true;
}();

}  // namespace
}  // namespace annals::bench
