// The server's counters (append calls, events and bytes appended, append
// latency, reads, open subscriptions) and their rendering, with the store's
// own (annals/stats.h) and each durable subscriber's lag, in the Prometheus
// text exposition format served at GET /metrics (docs/SERVER.md,
// "Metrics"). Counters are relaxed atomics: the calls bump them lock-free.
#ifndef ANNALS_SERVER_METRICS_H_
#define ANNALS_SERVER_METRICS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "annals/event_store.h"

namespace annals::server {

class Metrics {
 public:
  // Upper bounds (seconds) of the append latency histogram's buckets.
  static constexpr int kLatencyBuckets = 14;
  static constexpr double kLatencyBounds[kLatencyBuckets] = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  // An append call ended (written, refused or failed) `latency` after it
  // began.
  void AppendCallDone(absl::Duration latency);
  // An append call wrote `events` events of `bytes` bytes (data + metadata).
  void Appended(uint64_t events, uint64_t bytes);
  // A read (or, `subscription`, a subscription) began / ended.
  void ReadStarted(bool subscription);
  void ReadEnded(bool subscription);

  // The text exposition of these counters alone.
  void Render(std::string& out) const;

 private:
  std::atomic<uint64_t> append_calls_{0};
  std::atomic<uint64_t> appended_events_{0};
  std::atomic<uint64_t> appended_bytes_{0};
  std::atomic<uint64_t> latency_buckets_[kLatencyBuckets] = {};  // not cumulative
  std::atomic<uint64_t> latency_sum_ns_{0};
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> subscriptions_{0};
  std::atomic<int64_t> subscriptions_open_{0};
};

// Everything GET /metrics answers: `metrics`, the store's StoreStats and
// each durable subscriber's checkpoint and lag. What the store cannot give
// (it is closing) is left out, with a comment line saying why.
std::string RenderPrometheus(const Metrics& metrics, EventStore& store);

}  // namespace annals::server

#endif  // ANNALS_SERVER_METRICS_H_
