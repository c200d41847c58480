// The relay (annals/relay.h) and a replica (annals/follow.h) against a
// nats-server this process starts on a free loopback port with a fresh
// directory, beside the embedded store's W1-fast append rate measured in the
// same iteration: the baseline, since the relay must keep up with a busy
// writer (shared/PERF.md's W1-fast: one event per append, sync off).
//
//   flock /tmp/annals-build.lock cmake --build build-release --target annals_bench
//   ./build-release/bench/annals_bench --benchmark_filter=Relay --benchmark_repetitions=3
//
// The cases:
//  - Relay-throughput: 50,000 W1-fast appends (timed: embedded_per_second),
//    then `Relay --once` of them to a fresh JetStream stream (timed:
//    items_per_second); ratio = relay / append. Target >= 0.5x.
//  - Relay-lag: a writer doing 50,000 W1-fast appends while the relay and a
//    follower run; lag of each message as a JetStream subscriber receives it
//    (receipt - Annals-Recorded-At: js_p50_us, js_p99_us) and of the
//    replica's head, sampled every millisecond (now - recorded_at of its
//    newest event: replica_p50_us, replica_p99_us); embedded_per_second is
//    the writer's rate meanwhile. On 2 cores the writer, the relay, the
//    follower and nats-server share the machine: the lag is how far the
//    relay falls behind a writer at full speed.
//  - Relay-lag-paced: the same with 20,000 appends about 200 us apart (a
//    busy but not saturating writer): the lag when the relay keeps up.
// With repetitions, the _median row is the figure to quote and the _min/_max
// rows its range.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/event_store.h"
#include "annals/follow.h"
#include "annals/relay.h"
#include "benchmark/benchmark.h"
#include "tests/relay/nats_process.h"
#include "workload.h"

namespace annals::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRelayEvents = 50000;

size_t Events() { return std::min(kRelayEvents, Workload().size()); }

// One W1-fast append per workload event, the first `n` of them.
absl::Status AppendW1Fast(EventStore& store, size_t n) {
  const std::vector<WorkloadEvent>& events = Workload();
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<AppendResult> r = AppendW1(store, events[i]);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

// Starts `nats`, or skips the case (false).
bool StartOrSkip(benchmark::State& state, testing::NatsServer& nats) {
  if (nats.Start()) return true;
  state.SkipWithError("nats-server did not start (apt-get install nats-server)");
  return false;
}

void RelayThroughput(benchmark::State& state) {
  const size_t n = Events();
  for (auto _ : state) {
    BenchDir dir;
    testing::NatsServer nats(dir.path("nats"));
    if (!StartOrSkip(state, nats)) return;
    std::unique_ptr<EventStore> store = OpenOrSkip(state, dir.path("store"), AnnalsOptions(false));
    if (store == nullptr) return;
    Clock::time_point start = Clock::now();
    if (absl::Status s = AppendW1Fast(*store, n); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    const double append_rate = static_cast<double>(n) / MicrosSince(start) * 1e6;
    auto sink = relay::OpenNatsSink({.url = nats.url()});
    if (!sink.ok()) {
      state.SkipWithError(sink.status().ToString().c_str());
      return;
    }
    start = Clock::now();
    absl::StatusOr<relay::RelayStatus> relayed = relay::Relay(*store, **sink, {.once = true});
    const double relay_us = MicrosSince(start);
    if (!relayed.ok() || relayed->published != n) {
      state.SkipWithError(relayed.ok() ? "not every event was relayed"
                                       : relayed.status().ToString().c_str());
      return;
    }
    const double relay_rate = static_cast<double>(n) / relay_us * 1e6;
    state.counters["items_per_second"] = relay_rate;
    state.counters["embedded_per_second"] = append_rate;
    state.counters["ratio"] = relay_rate / append_rate;
  }
}

// `pause`: between appends (zero: W1-fast, as fast as the store takes them).
void RelayLag(benchmark::State& state, absl::Duration pause) {
  const size_t n = pause == absl::ZeroDuration() ? Events() : std::min<size_t>(Events(), 20000);
  for (auto _ : state) {
    BenchDir dir;
    testing::NatsServer nats(dir.path("nats"));
    if (!StartOrSkip(state, nats)) return;
    std::unique_ptr<EventStore> primary =
        OpenOrSkip(state, dir.path("primary"), AnnalsOptions(false));
    std::unique_ptr<EventStore> replica =
        OpenOrSkip(state, dir.path("replica"), AnnalsOptions(false));
    if (primary == nullptr || replica == nullptr) return;
    auto sink = relay::OpenNatsSink({.url = nats.url()});
    auto source = relay::OpenNatsSource({.url = nats.url()});
    if (!sink.ok() || !source.ok()) {
      state.SkipWithError("could not open the stores or connect");
      return;
    }
    // A subscriber on every relayed subject: each message's lag.
    natsConnection* conn = nullptr;
    natsSubscription* sub = nullptr;
    if (natsConnection_ConnectTo(&conn, nats.url().c_str()) != NATS_OK ||
        natsConnection_SubscribeSync(&sub, conn, "annals.>") != NATS_OK) {
      state.SkipWithError("subscriber could not connect");
      return;
    }
    std::atomic<bool> stop{false};
    std::vector<double> js_lag_us, replica_lag_us;
    std::thread subscriber([&] {
      size_t seen = 0;
      while (seen < n) {
        natsMsg* msg = nullptr;
        if (natsSubscription_NextMsg(&msg, sub, 1000) != NATS_OK) {
          if (stop) break;
          continue;
        }
        const char* recorded = nullptr;
        absl::Time at;
        std::string error;
        if (natsMsgHeader_Get(msg, relay::kRecordedAtHeader, &recorded) == NATS_OK &&
            absl::ParseTime(absl::RFC3339_full, recorded, &at, &error)) {
          js_lag_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - at));
        }
        natsMsg_Destroy(msg);
        ++seen;
      }
    });
    std::thread relayer([&] { relay::Relay(*primary, **sink, {.stop = &stop}).IgnoreError(); });
    std::thread follower([&] { relay::Follow(*replica, **source, {.stop = &stop}).IgnoreError(); });
    std::thread sampler([&] {
      Position seen(0);
      while (!stop) {
        const Position head = replica->head();
        if (head > seen) {
          seen = head;
          auto it = replica->ReadAll({.from = head});
          if (it.ok() && (*it)->Valid()) {
            replica_lag_us.push_back(
                absl::ToDoubleMicroseconds(absl::Now() - (*it)->record().recorded_at));
          }
        }
        absl::SleepFor(absl::Milliseconds(1));
      }
    });
    const Clock::time_point start = Clock::now();
    absl::Status appended;
    if (pause == absl::ZeroDuration()) {
      appended = AppendW1Fast(*primary, n);
    } else {
      const std::vector<WorkloadEvent>& events = Workload();
      for (size_t i = 0; i < n && appended.ok(); ++i) {
        appended = AppendW1(*primary, events[i]).status();
        absl::SleepFor(pause);
      }
    }
    const double append_rate = static_cast<double>(n) / MicrosSince(start) * 1e6;
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (replica->head() != primary->head() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    const bool converged = replica->head() == primary->head();
    stop = true;
    relayer.join();
    follower.join();
    sampler.join();
    subscriber.join();
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(conn);
    if (!appended.ok() || !converged) {
      state.SkipWithError(appended.ok() ? "the replica did not converge in 120 s"
                                        : appended.ToString().c_str());
      return;
    }
    state.counters["embedded_per_second"] = append_rate;
    state.counters["js_p50_us"] = Percentile(js_lag_us, 50);
    state.counters["js_p99_us"] = Percentile(js_lag_us, 99);
    state.counters["replica_p50_us"] = Percentile(replica_lag_us, 50);
    state.counters["replica_p99_us"] = Percentile(replica_lag_us, 99);
  }
}

const bool relay_registered = [] {
  RegisterOnce("Relay-throughput", RelayThroughput);
  RegisterOnce("Relay-lag", [](benchmark::State& s) { RelayLag(s, absl::ZeroDuration()); });
  RegisterOnce("Relay-lag-paced",
               [](benchmark::State& s) { RelayLag(s, absl::Microseconds(200)); });
  return true;
}();

}  // namespace
}  // namespace annals::bench
