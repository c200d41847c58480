// The read side: catch-up throughput of a counting projection over the
// loaded W4 store (200k events), with 1 and 4 projections side by side
// (events/s per projection; compare W4/raw, the raw log scan of the same
// run), and live lag while W1-fast runs: a sampler repeatedly takes the
// last acknowledged append and waits until the projection has committed
// it (p50/p99 µs from acknowledgement to visible in the read model).
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/projection.h"
#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

absl::Status CountTotal(const EventRecord&, ReadModelWriter& rm) {
  auto total = rm.Get("total");
  if (!total.ok()) return total.status();
  rm.Put("total", absl::StrCat((*total ? std::stoll(**total) : 0) + 1));
  return absl::OkStatus();
}

void CatchUp(benchmark::State& state, int projections) {
  static std::atomic<int> run{0};
  auto store = OpenOrSkip(state, LoadedAnnalsStore(), AnnalsOptions(false));
  if (!store) return;
  const Position head = store->head();
  for (auto _ : state) {
    ProjectionRunner runner(*store);
    std::vector<std::string> names;
    for (int i = 0; i < projections; ++i) {
      // A fresh name per run: each starts from position 1.
      names.push_back(absl::StrCat("bench-count-", run++));
      if (!runner.Register({.name = names.back(), .apply = CountTotal, .batch_size = 1024}).ok()) {
        state.SkipWithError("register failed");
        return;
      }
    }
    for (const std::string& name : names) {
      if (!runner.WaitForPosition(name, head, absl::Minutes(5)).ok()) {
        state.SkipWithError("projection did not catch up");
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(head.value()));  // per projection
}

void LiveLag(benchmark::State& state) {
  const auto& events = Workload();
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
  if (!store) return;
  ProjectionRunner runner(*store);
  if (!runner.Register({.name = "live-count", .apply = CountTotal}).ok()) {
    state.SkipWithError("register failed");
    return;
  }
  std::atomic<uint64_t> acked_position{0};
  std::atomic<int64_t> acked_at{0};
  std::atomic<bool> done{false};
  std::vector<double> lags;
  std::thread sampler([&] {
    while (!done.load()) {
      const int64_t at = acked_at.load();
      const uint64_t position = acked_position.load();
      if (position == 0) {
        std::this_thread::yield();
        continue;
      }
      if (!runner.WaitForPosition("live-count", Position(position), absl::Seconds(30)).ok()) return;
      lags.push_back(std::max<int64_t>(0, absl::GetCurrentTimeNanos() - at) / 1000.0);
      absl::SleepFor(absl::Microseconds(500));
    }
  });
  int64_t start = 0, end = 0;
  for (auto _ : state) {
    start = absl::GetCurrentTimeNanos();
    for (const WorkloadEvent& e : events) {
      auto result = AppendW1(*store, e);
      if (!result.ok()) {
        state.SkipWithError(result.status().ToString().c_str());
        break;
      }
      // Time first, then the position: the sampler never pairs a position
      // with a later acknowledgement time.
      acked_at.store(absl::GetCurrentTimeNanos());
      acked_position.store(result->last_position.value());
    }
    end = absl::GetCurrentTimeNanos();
  }
  done = true;
  sampler.join();
  ReportLatencies(state, lags);
  state.counters["items_per_second"] = events.size() / ((end - start) / 1e9);
}

// The cost of inline mode: W1-fast with an inline counting projection (compare
// W1-fast/annals of the same run).
void InlineW1(benchmark::State& state) {
  const auto& events = Workload();
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
  if (!store) return;
  ProjectionRunner runner(*store);
  if (!runner.RegisterInline({.name = "inline-count", .apply = CountTotal}).ok()) {
    state.SkipWithError("register failed");
    return;
  }
  for (auto _ : state) {
    for (const WorkloadEvent& e : events) {
      auto result = AppendW1(*store, e);
      if (!result.ok()) {
        state.SkipWithError(result.status().ToString().c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(events.size()));
}

const bool projection_registered = [] {
  RegisterOnce("PROJ-catchup-1/annals", [](benchmark::State& s) { CatchUp(s, 1); });
  RegisterOnce("PROJ-catchup-4/annals", [](benchmark::State& s) { CatchUp(s, 4); });
  RegisterOnce("PROJ-live-lag/annals", LiveLag);
  RegisterOnce("PROJ-inline-W1/annals", InlineW1);
  return true;
}();

}  // namespace
}  // namespace annals::bench
