// Consumer groups (annals/consumer_group.h): how fast a group hands out and
// takes back 50,000 events, with 1 and 4 consumers (threads, each acking
// every event it takes), beside the embedded baseline in the same
// iteration: one plain Subscription reading the same events from the start.
//
//   flock /tmp/annals-build.lock cmake --build build-release --target annals_bench
//   ./build-release/bench/annals_bench --benchmark_filter=Group --benchmark_repetitions=3
//
// The cases: Group-1 and Group-4 (round robin), Group-4-pinned, and
// Group-4-durable (round robin on a store that syncs: each stored checkpoint
// is an fsync, one per 100 done events). items_per_second is the group's
// rate (first Next to last Ack), embedded_per_second the subscription's, and
// ratio the one over the other. With repetitions, the _median row is the
// figure to quote and the _min/_max rows its range.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "annals/consumer_group.h"
#include "benchmark/benchmark.h"
#include "workload.h"

namespace annals::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kGroupEvents = 50000;

void GroupThroughput(benchmark::State& state, int consumers, ConsumerStrategy strategy, bool sync) {
  const std::vector<WorkloadEvent>& events = Workload();
  const size_t n = std::min(kGroupEvents, events.size());
  for (auto _ : state) {
    BenchDir dir;
    std::unique_ptr<EventStore> store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
    if (store == nullptr) return;
    // Loaded without sync either way (the appends are not what is measured),
    // then opened again as the case says.
    for (size_t i = 0; i < n; ++i) {
      if (absl::StatusOr<AppendResult> r = AppendW1(*store, events[i]); !r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return;
      }
    }
    store.reset();
    store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(sync));
    if (store == nullptr) return;
    // The baseline: one subscription reading them all.
    Clock::time_point start = Clock::now();
    {
      absl::StatusOr<std::unique_ptr<Subscription>> sub = store->Subscribe({});
      for (size_t read = 0; sub.ok() && read < n; ++read) {
        if (!(*sub)->Next(absl::Seconds(10)).ok()) {
          state.SkipWithError("the subscription stopped");
          return;
        }
      }
    }
    const double embedded_rate = static_cast<double>(n) / MicrosSince(start) * 1e6;

    absl::StatusOr<std::unique_ptr<ConsumerGroups>> groups = ConsumerGroups::Open(*store);
    absl::Status created =
        groups.ok() ? (*groups)->Create("bench", {.strategy = strategy}) : groups.status();
    if (!created.ok()) {
      state.SkipWithError(created.ToString().c_str());
      return;
    }
    std::vector<std::unique_ptr<Consumer>> members;
    for (int c = 0; c < consumers; ++c) {
      absl::StatusOr<std::unique_ptr<Consumer>> member = (*groups)->Join("bench");
      if (!member.ok()) {
        state.SkipWithError(member.status().ToString().c_str());
        return;
      }
      members.push_back(*std::move(member));
    }
    std::atomic<size_t> acked{0};
    std::atomic<bool> failed{false};
    start = Clock::now();
    std::vector<std::thread> threads;
    for (auto& member : members) {
      threads.emplace_back([&, consumer = member.get()] {
        while (acked.load(std::memory_order_relaxed) < n && !failed) {
          absl::StatusOr<Delivery> d = consumer->Next(absl::Milliseconds(100));
          if (absl::IsDeadlineExceeded(d.status())) continue;
          if (!d.ok() || !consumer->Ack(d->event.position).ok()) {
            failed = true;
            return;
          }
          acked.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    for (auto& t : threads) t.join();
    const double group_rate = static_cast<double>(n) / MicrosSince(start) * 1e6;
    if (failed || acked.load() != n) {
      state.SkipWithError("the group did not hand out every event once");
      return;
    }
    state.counters["items_per_second"] = group_rate;
    state.counters["embedded_per_second"] = embedded_rate;
    state.counters["ratio"] = group_rate / embedded_rate;
  }
}

const bool consumer_group_registered = [] {
  using S = ConsumerStrategy;
  RegisterOnce("Group-1",
               [](benchmark::State& s) { GroupThroughput(s, 1, S::kRoundRobin, false); });
  RegisterOnce("Group-4",
               [](benchmark::State& s) { GroupThroughput(s, 4, S::kRoundRobin, false); });
  RegisterOnce("Group-4-pinned",
               [](benchmark::State& s) { GroupThroughput(s, 4, S::kPinned, false); });
  RegisterOnce("Group-4-durable",
               [](benchmark::State& s) { GroupThroughput(s, 4, S::kRoundRobin, true); });
  return true;
}();

}  // namespace
}  // namespace annals::bench
