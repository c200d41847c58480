// The PERF.md v1 workload, generated before timing, and helpers shared by
// the benchmark files: temporary directories, the raw-RocksDB record format,
// the annals store options used by every case, opening a store, reporting
// latencies and registering a case.
#ifndef ANNALS_BENCH_WORKLOAD_H_
#define ANNALS_BENCH_WORKLOAD_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/event_store.h"
#include "benchmark/benchmark.h"

namespace annals::bench {

inline constexpr int kStreams = 2000;

struct WorkloadEvent {
  int stream_index;
  uint64_t revision;
  std::string type;
  std::string payload;  // exactly 200 bytes of JSON
};

// The first `count` events of the workload (200,000 in full): event k goes to
// stream k % 2000 at revision k / 2000. Built once and cached.
const std::vector<WorkloadEvent>& Workload();
// Events in the workload (ANNALS_BENCH_EVENTS, default 200,000).
size_t WorkloadSize();
const std::string& StreamName(int stream_index);  // "order-00042"

// A fresh temporary directory, removed by the destructor.
class BenchDir {
 public:
  BenchDir();
  ~BenchDir();
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  std::string path(std::string_view name) const { return root_ + "/" + std::string(name); }

 private:
  std::string root_;
};

StoreOptions AnnalsOptions(bool sync);

// Opens (creating if missing, with `options` such as AnnalsOptions) the
// store at `path`, e.g. a BenchDir's path("store") or a loaded store. If it
// fails, the case is skipped with the error: nullptr.
std::unique_ptr<EventStore> OpenOrSkip(benchmark::State& state, const std::string& path,
                                       const StoreOptions& options);
// The same while a case's data is prepared, outside any case: a failure
// aborts the benchmark program.
std::unique_ptr<EventStore> OpenOrAbort(const std::string& path, const StoreOptions& options);
EventData ToEventData(const WorkloadEvent& event);
// Appends `event` alone with the exact expected revision (the W1 append).
absl::StatusOr<AppendResult> AppendW1(EventStore& store, const WorkloadEvent& event);

// The raw baseline's record: the minimum a replay needs, hand-packed.
std::string EncodeRawRecord(std::string_view stream, uint64_t revision, std::string_view type,
                            std::string_view payload);
struct RawRecordView {
  std::string_view stream;
  uint64_t revision;
  std::string_view type;
  std::string_view payload;
};
bool DecodeRawRecord(std::string_view value, RawRecordView* out);
std::string BigEndian(uint64_t value);
// prefix + a + b, built by appending (GCC 12 misreports operator+ chains).
std::string RawKey(char prefix, std::string_view a, std::string_view b = {});

// p-th percentile (0..100) of `samples` (sorted in place).
double Percentile(std::vector<double>& samples, double p);
// The p50_us and p99_us counters of `state` from `samples_us` (sorted in place).
void ReportLatencies(benchmark::State& state, std::vector<double>& samples_us);
// Microseconds since `start` (of std::chrono::steady_clock).
double MicrosSince(std::chrono::steady_clock::time_point start);

// Registers case `name` run once (one iteration) in real time, reported in
// milliseconds: how most cases run.
benchmark::internal::Benchmark* RegisterOnce(const char* name,
                                             std::function<void(benchmark::State&)> fn);

// The W3 loop shared by every layout: reads 20,000 pseudo-random streams
// (fixed seed, so every case reads the same ones) with `read_stream`, which
// returns the number of events it read (all of the stream's, or the case
// fails). Reports reads/s and p50/p99 latency in µs.
void RunStreamReads(benchmark::State& state, const std::function<size_t(int)>& read_stream);

// A store holding the whole workload, appended in workload order (one event
// per append, interleaved across streams as in W1), then closed and
// reopened so reads come from SST files. Built once per process.
const std::string& LoadedAnnalsStore();
// The raw baseline's equivalent: 'L' + position -> record,
// 'S' + stream + revision -> record (the covering layout) and
// 'P' + stream + revision -> position (the pointer layout, for comparison).
const std::string& LoadedRawStore();

}  // namespace annals::bench

#endif  // ANNALS_BENCH_WORKLOAD_H_
