// The raw-RocksDB baselines: the least work a store must do for each PERF.md
// workload, on default options. Writes are one log put ('L' + position ->
// record) and one index put ('I' + stream + revision -> position) per event,
// one WriteBatch per append; no encoding beyond a packed record, no checks.
// Reads use the covering layout (W3) and a plain log scan (W4).
#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "workload.h"

namespace annals::bench {
namespace {

constexpr size_t kBaselineDurableEvents = 4000;

std::unique_ptr<rocksdb::DB> OpenRaw(benchmark::State& state, const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  return std::unique_ptr<rocksdb::DB>(db);
}

void AddEvent(rocksdb::WriteBatch& batch, uint64_t position, const WorkloadEvent& e) {
  const std::string& stream = StreamName(e.stream_index);
  batch.Put(RawKey('L', BigEndian(position)),
            EncodeRawRecord(stream, e.revision, e.type, e.payload));
  batch.Put(RawKey('I', stream, BigEndian(e.revision)), BigEndian(position));
}

void RawW1(benchmark::State& state, bool sync, size_t count) {
  const auto& events = Workload();
  count = std::min(count, events.size());
  BenchDir dir;
  auto db = OpenRaw(state, dir.path("raw"));
  if (!db) return;
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  for (auto _ : state) {
    for (size_t k = 0; k < count; ++k) {
      rocksdb::WriteBatch batch;
      AddEvent(batch, k + 1, events[k]);
      if (!db->Write(write_options, &batch).ok()) {
        state.SkipWithError("write failed");
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(count));
}

void RawW2(benchmark::State& state, bool sync) {
  const auto& events = Workload();
  BenchDir dir;
  auto db = OpenRaw(state, dir.path("raw"));
  if (!db) return;
  std::vector<std::vector<const WorkloadEvent*>> by_stream(kStreams);
  for (const WorkloadEvent& e : events) by_stream[e.stream_index].push_back(&e);
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  uint64_t position = 0;
  for (auto _ : state) {
    for (const auto& stream_events : by_stream) {
      rocksdb::WriteBatch batch;
      for (const WorkloadEvent* e : stream_events) AddEvent(batch, ++position, *e);
      if (!db->Write(write_options, &batch).ok()) {
        state.SkipWithError("write failed");
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(events.size()));
}

std::unique_ptr<rocksdb::DB> OpenLoadedRaw(benchmark::State& state) {
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(rocksdb::Options(), LoadedRawStore(), &db).ok()) {
    state.SkipWithError("open failed");
  }
  return std::unique_ptr<rocksdb::DB>(db);
}

// Iterates the keys `prefix` + stream + revision of one stream; returns how
// many there were, calling `visit` with each value.
size_t ScanStream(rocksdb::DB& db, char prefix, int stream_index,
                  const std::function<void(const rocksdb::Slice&)>& visit) {
  const std::string lower = RawKey(prefix, StreamName(stream_index));
  const std::string upper = RawKey(prefix, StreamName(stream_index), std::string(8, '\xff'));
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(read_options));
  size_t count = 0;
  for (it->Seek(lower); it->Valid(); it->Next(), ++count) visit(it->value());
  return count;
}

// W3 through the covering layout: the stream's own key range holds its events.
void RawW3(benchmark::State& state) {
  auto db = OpenLoadedRaw(state);
  if (!db) return;
  size_t bytes = 0;
  RunStreamReads(state, [&](int stream_index) {
    return ScanStream(*db, 'S', stream_index, [&](const rocksdb::Slice& value) {
      RawRecordView view;
      if (DecodeRawRecord(std::string_view(value.data(), value.size()), &view)) {
        bytes += view.payload.size();
      }
    });
  });
  benchmark::DoNotOptimize(bytes);
}

// W3 through the pointer layout: the stream's index entries, then one point
// read of the log per event. DESIGN.md §3 chose the covering copy over this.
void RawW3Pointer(benchmark::State& state) {
  auto db = OpenLoadedRaw(state);
  if (!db) return;
  size_t bytes = 0;
  std::string value;
  RunStreamReads(state, [&](int stream_index) {
    return ScanStream(*db, 'P', stream_index, [&](const rocksdb::Slice& position) {
      RawRecordView view;
      if (db->Get(rocksdb::ReadOptions(), RawKey('L', position.ToString()), &value).ok() &&
          DecodeRawRecord(value, &view)) {
        bytes += view.payload.size();
      }
    });
  });
  benchmark::DoNotOptimize(bytes);
}

void RawW4(benchmark::State& state) {
  auto db = OpenLoadedRaw(state);
  if (!db) return;
  size_t count = 0, checksum = 0;
  for (auto _ : state) {
    const std::string lower = "L", upper = "M";
    rocksdb::Slice lower_slice(lower), upper_slice(upper);
    rocksdb::ReadOptions read_options;
    read_options.iterate_lower_bound = &lower_slice;
    read_options.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options));
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++count) {
      RawRecordView view;
      rocksdb::Slice value = it->value();
      if (!DecodeRawRecord(std::string_view(value.data(), value.size()), &view)) {
        state.SkipWithError("bad record");
        return;
      }
      checksum += view.stream.size() + view.revision + view.type.size() + view.payload.size();
    }
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(count));
}

void RawW5(benchmark::State& state) {
  constexpr int kWriters = 8;
  const auto& events = Workload();
  const size_t count = std::min(kBaselineDurableEvents * 2, events.size());
  BenchDir dir;
  auto db = OpenRaw(state, dir.path("raw"));
  if (!db) return;
  std::atomic<uint64_t> next_position{0};
  std::atomic<bool> failed{false};
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  for (auto _ : state) {
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (size_t k = 0; k < count; ++k) {
          if (events[k].stream_index % kWriters != w) continue;
          rocksdb::WriteBatch batch;
          AddEvent(batch, ++next_position, events[k]);
          if (!db->Write(write_options, &batch).ok()) failed = true;
        }
      });
    }
    for (std::thread& writer : writers) writer.join();
  }
  if (failed) state.SkipWithError("a write failed");
  state.SetItemsProcessed(static_cast<int64_t>(count));
}

const bool rocksdb_baseline_registered = [] {
  RegisterOnce("W1-durable/raw",
               [](benchmark::State& s) { RawW1(s, true, kBaselineDurableEvents); });
  RegisterOnce("W1-fast/raw", [](benchmark::State& s) { RawW1(s, false, SIZE_MAX); });
  RegisterOnce("W2-durable/raw", [](benchmark::State& s) { RawW2(s, true); });
  RegisterOnce("W2-fast/raw", [](benchmark::State& s) { RawW2(s, false); });
  RegisterOnce("W3/raw", RawW3);
  RegisterOnce("W3-pointer/raw", RawW3Pointer);
  RegisterOnce("W4/raw", RawW4);
  RegisterOnce("W5/raw", RawW5);
  return true;
}();

}  // namespace
}  // namespace annals::bench
