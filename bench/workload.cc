#include "workload.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace annals::bench {

size_t WorkloadSize() {
  static const size_t size = [] {
    const char* env = std::getenv("ANNALS_BENCH_EVENTS");
    size_t n = env != nullptr ? std::strtoull(env, nullptr, 10) : 200000;
    // Whole rounds of the 2,000 streams.
    return std::max<size_t>(kStreams, n - n % kStreams);
  }();
  return size;
}

const std::string& StreamName(int stream_index) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (int i = 0; i < kStreams; ++i) out.push_back(absl::StrFormat("order-%05d", i));
    return out;
  }();
  return names[stream_index];
}

const std::vector<WorkloadEvent>& Workload() {
  static const std::vector<WorkloadEvent> events = [] {
    static constexpr const char* kTypes[] = {"ItemAdded", "ItemRemoved", "PriceChanged",
                                             "NoteAdded"};
    std::vector<WorkloadEvent> out;
    out.reserve(WorkloadSize());
    for (size_t k = 0; k < WorkloadSize(); ++k) {
      WorkloadEvent e;
      e.stream_index = static_cast<int>(k % kStreams);
      e.revision = k / kStreams;
      e.type = kTypes[e.revision % 4];
      std::string json =
          absl::StrFormat(R"({"order":%d,"revision":%d,"sku":"SKU-%06d","qty":%d,"note":")",
                          e.stream_index, e.revision, (k * 7919) % 1000000, k % 9 + 1);
      json.append(200 - json.size() - 2, 'x');
      json += "\"}";
      e.payload = std::move(json);
      out.push_back(std::move(e));
    }
    return out;
  }();
  return events;
}

BenchDir::BenchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "annals-bench-XXXXXX").string();
  root_ = ::mkdtemp(pattern.data());
}

BenchDir::~BenchDir() {
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

StoreOptions AnnalsOptions(bool sync) {
  StoreOptions options;
  options.create_if_missing = true;
  options.sync = sync;
  return options;
}

std::unique_ptr<EventStore> OpenOrSkip(benchmark::State& state, const std::string& path,
                                       const StoreOptions& options) {
  auto store = EventStore::Open(path, options);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return nullptr;
  }
  return *std::move(store);
}

std::unique_ptr<EventStore> OpenOrAbort(const std::string& path, const StoreOptions& options) {
  auto store = EventStore::Open(path, options);
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), store.status().ToString().c_str());
    std::abort();
  }
  return *std::move(store);
}

EventData ToEventData(const WorkloadEvent& event) {
  EventData data;
  data.type = event.type;
  data.data = event.payload;
  data.content_type = "application/json";
  return data;
}

std::string BigEndian(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::string RawKey(char prefix, std::string_view a, std::string_view b) {
  std::string key;
  key.reserve(1 + a.size() + b.size());
  key.push_back(prefix);
  key.append(a);
  key.append(b);
  return key;
}

namespace {
void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
uint32_t GetU32(std::string_view in) {
  uint32_t v;
  std::copy_n(in.data(), 4, reinterpret_cast<char*>(&v));
  return v;
}
}  // namespace

std::string EncodeRawRecord(std::string_view stream, uint64_t revision, std::string_view type,
                            std::string_view payload) {
  std::string out;
  out.reserve(20 + stream.size() + type.size() + payload.size());
  PutU32(&out, static_cast<uint32_t>(stream.size()));
  out.append(stream);
  out.append(reinterpret_cast<const char*>(&revision), 8);
  PutU32(&out, static_cast<uint32_t>(type.size()));
  out.append(type);
  out.append(payload);
  return out;
}

bool DecodeRawRecord(std::string_view value, RawRecordView* out) {
  if (value.size() < 16) return false;
  uint32_t stream_size = GetU32(value);
  if (value.size() < 16 + stream_size) return false;
  out->stream = value.substr(4, stream_size);
  std::copy_n(value.data() + 4 + stream_size, 8, reinterpret_cast<char*>(&out->revision));
  std::string_view rest = value.substr(12 + stream_size);
  uint32_t type_size = GetU32(rest);
  if (rest.size() < 4 + type_size) return false;
  out->type = rest.substr(4, type_size);
  out->payload = rest.substr(4 + type_size);
  return true;
}

void RunStreamReads(benchmark::State& state, const std::function<size_t(int)>& read_stream) {
  constexpr int kReads = 20000;
  const size_t per_stream = WorkloadSize() / kStreams;
  std::mt19937 rng(42);
  std::vector<int> picks(kReads);
  for (int& pick : picks) pick = static_cast<int>(rng() % kStreams);
  std::vector<double> latencies_us;
  latencies_us.reserve(kReads);
  for (auto _ : state) {
    for (int pick : picks) {
      const auto start = std::chrono::steady_clock::now();
      if (read_stream(pick) != per_stream) {
        state.SkipWithError("short stream read");
        return;
      }
      latencies_us.push_back(MicrosSince(start));
    }
  }
  state.SetItemsProcessed(kReads);
  ReportLatencies(state, latencies_us);
}

double Percentile(std::vector<double>& samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t index = static_cast<size_t>(p / 100.0 * (samples.size() - 1));
  return samples[index];
}

void ReportLatencies(benchmark::State& state, std::vector<double>& samples_us) {
  state.counters["p50_us"] = Percentile(samples_us, 50);
  state.counters["p99_us"] = Percentile(samples_us, 99);
}

double MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

benchmark::internal::Benchmark* RegisterOnce(const char* name,
                                             std::function<void(benchmark::State&)> fn) {
  return benchmark::RegisterBenchmark(name,
                                      [fn = std::move(fn)](benchmark::State& state) { fn(state); })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

namespace {

// Both loaded stores get the same time, open and idle, for background
// compaction to settle before W3/W4 read them; otherwise the figures depend
// on which store happens to be compacting while it is read.
constexpr auto kSettle = std::chrono::seconds(3);

void SettleAnnals(const std::string& path) {
  auto store = OpenOrAbort(path, AnnalsOptions(false));
  std::this_thread::sleep_for(kSettle);
}

}  // namespace

absl::StatusOr<AppendResult> AppendW1(EventStore& store, const WorkloadEvent& e) {
  const ExpectedRevision expected = e.revision == 0
                                        ? ExpectedRevision::NoStream()
                                        : ExpectedRevision::Exact(Revision(e.revision - 1));
  return store.Append({StreamName(e.stream_index), expected, {ToEventData(e)}});
}

const std::string& LoadedAnnalsStore() {
  static BenchDir dir;
  static const std::string path = [] {
    std::string p = dir.path("annals-loaded");
    auto store = OpenOrAbort(p, AnnalsOptions(/*sync=*/false));
    for (const WorkloadEvent& e : Workload()) {
      if (!AppendW1(*store, e).ok()) {
        std::abort();
      }
    }
    if (!store->Close().ok()) std::abort();  // flushes
    store.reset();
    SettleAnnals(p);
    return p;
  }();
  return path;
}

const std::string& LoadedRawStore() {
  static BenchDir dir;
  static const std::string path = [] {
    std::string p = dir.path("raw-loaded");
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(options, p, &db).ok()) std::abort();
    uint64_t position = 0;
    for (const WorkloadEvent& e : Workload()) {
      const std::string& stream = StreamName(e.stream_index);
      std::string record = EncodeRawRecord(stream, e.revision, e.type, e.payload);
      rocksdb::WriteBatch batch;
      batch.Put(RawKey('L', BigEndian(++position)), record);
      batch.Put(RawKey('S', stream, BigEndian(e.revision)), record);
      // The pointer layout DESIGN.md §3 rejected: (stream, revision) -> position.
      batch.Put(RawKey('P', stream, BigEndian(e.revision)), BigEndian(position));
      if (!db->Write(rocksdb::WriteOptions(), &batch).ok()) std::abort();
    }
    rocksdb::FlushOptions flush;
    if (!db->Flush(flush).ok()) std::abort();
    // Let background compaction finish, as for the annals store.
    std::this_thread::sleep_for(kSettle);
    delete db;
    return p;
  }();
  return path;
}

}  // namespace annals::bench
