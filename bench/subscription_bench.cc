// Subscriptions: end-to-end latency (append acknowledged -> the callback of a
// SubscriptionWorker sees the event), p50/p99, with 1 and 8 subscribers,
// one append at a time (each waits until every subscriber saw the last);
// and live throughput of one $all subscriber while W1-fast runs, with the
// appends' own rate beside it (compare W1-fast/raw of the same run).
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "annals/subscription_worker.h"
#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

int64_t NowNanos() { return absl::GetCurrentTimeNanos(); }

void Latency(benchmark::State& state, int subscribers) {
  constexpr size_t kAppends = 2000;
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
  if (!store) return;
  // acked[p]: when the append of position p returned; seen[s]: the last
  // position subscriber s handled.
  std::vector<std::atomic<int64_t>> acked(kAppends + 1);
  std::vector<std::atomic<uint64_t>> seen(subscribers);
  std::vector<std::vector<double>> samples(subscribers);
  std::vector<std::unique_ptr<SubscriptionWorker>> workers;
  for (int s = 0; s < subscribers; ++s) {
    auto sub = store->Subscribe({.start = StartFrom::End()});
    if (!sub.ok()) {
      state.SkipWithError(sub.status().ToString().c_str());
      return;
    }
    workers.push_back(
        std::make_unique<SubscriptionWorker>(std::move(sub).value(), [&, s](const EventRecord& e) {
          const uint64_t p = e.position.value();
          int64_t ack = 0;
          // The callback can run before Append has returned to its caller.
          while ((ack = acked[p].load(std::memory_order_acquire)) == 0) std::this_thread::yield();
          samples[s].push_back(std::max<int64_t>(0, NowNanos() - ack) / 1000.0);
          seen[s].store(p, std::memory_order_release);
          return absl::OkStatus();
        }));
  }
  for (auto _ : state) {
    for (size_t k = 1; k <= kAppends; ++k) {
      auto result = store->Append(
          {"latency-1", ExpectedRevision::Any(), {EventData{.type = "Ping", .data = "{}"}}});
      if (!result.ok()) {
        state.SkipWithError(result.status().ToString().c_str());
        return;
      }
      acked[result->last_position.value()].store(NowNanos(), std::memory_order_release);
      for (auto& s : seen) {
        while (s.load(std::memory_order_acquire) < k) std::this_thread::yield();
      }
    }
  }
  for (auto& w : workers) w->Stop();
  std::vector<double> all;
  for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  ReportLatencies(state, all);
  state.SetItemsProcessed(static_cast<int64_t>(kAppends));
}

// One $all subscriber following W1-fast live.
void LiveThroughput(benchmark::State& state, bool report_subscriber) {
  const auto& events = Workload();
  BenchDir dir;
  auto store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
  if (!store) return;
  auto sub = store->Subscribe({});
  if (!sub.ok()) {
    state.SkipWithError(sub.status().ToString().c_str());
    return;
  }
  std::atomic<size_t> received{0};
  int64_t start = 0, appends_done = 0, subscriber_done = 0;
  std::thread consumer([&] {
    while (received.load(std::memory_order_relaxed) < events.size()) {
      auto e = (*sub)->Next(absl::Seconds(10));
      if (!e.ok()) return;
      received.fetch_add(1, std::memory_order_relaxed);
    }
    subscriber_done = NowNanos();
  });
  for (auto _ : state) {
    start = NowNanos();
    for (const WorkloadEvent& e : events) {
      auto result = AppendW1(*store, e);
      if (!result.ok()) {
        state.SkipWithError(result.status().ToString().c_str());
        break;
      }
    }
    appends_done = NowNanos();
    consumer.join();
  }
  if (received.load() != events.size()) {
    state.SkipWithError("the subscriber lost events");
    return;
  }
  const double seconds =
      static_cast<double>((report_subscriber ? subscriber_done : appends_done) - start) / 1e9;
  state.counters["items_per_second"] = static_cast<double>(events.size()) / seconds;
}

const bool subscription_registered = [] {
  RegisterOnce("SUB-latency-1/annals", [](benchmark::State& s) { Latency(s, 1); });
  RegisterOnce("SUB-latency-8/annals", [](benchmark::State& s) { Latency(s, 8); });
  RegisterOnce("SUB-live-appends/annals", [](benchmark::State& s) { LiveThroughput(s, false); });
  RegisterOnce("SUB-live-delivery/annals", [](benchmark::State& s) { LiveThroughput(s, true); });
  return true;
}();

}  // namespace
}  // namespace annals::bench
