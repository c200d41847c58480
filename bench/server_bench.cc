// `annals serve` (annals/server.h) through gRPC, each case beside the same
// work done on the embedded store in the same run: the embedded store is the
// baseline here. Every case is one benchmark whose single iteration runs
// both sides on fresh stores (the read cases share the loaded store), the
// order alternating from one repetition to the next, so noise hits both.
// The server runs in this process on a loopback port; every client thread
// has its own channel and TCP connection.
//
//   flock /tmp/annals-build.lock cmake --build build-release --target annals_bench
//   ANNALS_BENCH_EVENTS=20000 ./build-release/bench/annals_bench --benchmark_filter=Server
//   ./build-release/bench/annals_bench --benchmark_filter=Server --benchmark_repetitions=3
//       --benchmark_counters_tabular=true   (one command line)
//
// How to read it: each row's counters are the server's rate
// (items_per_second, events/s), the embedded rate (embedded_per_second) and
// their ratio (server / embedded); cpu_us_per_event and
// embedded_cpu_us_per_event are the whole process's CPU time per event (the
// server's side includes its in-process clients), which says whether a side
// waits (fsync, wake-ups) or computes; switches_per_event counts its context
// switches (thread hand-offs), and the durable append cases add
// requests_per_group, the appends one fsync covered. The latency case adds
// p50_us/p99_us (server) and embedded_p50_us/embedded_p99_us, its rates
// being those of the one-at-a-time appends. ANNALS_BENCH_EVENTS shortens every case (the
// durable ones stop at that many events too). With repetitions, the
// _median row is the figure to quote and the _min/_max rows its range.
// The targets (shared/PERF.md): Server-*append100-* >= 0.5x (embedded W2),
// Server-*append1-durable-8 >= 0.8x (embedded W5), Server-subscribe-catchup
// >= 100k events/s.
//
// The cases:
//  - Server-append100-{durable,fast}: W2, one stream's 100 events per call,
//    expected no_stream.
//  - Server-append1-durable-{1,8}: W1-durable with 1 client, and W5 with 8
//    (each its own streams, stream % 8), until 50,000 events or 10 s.
//  - Server-batchappend{100-*,1-durable-*}: the same through BatchAppend,
//    one long-lived call per client, as the official clients append once
//    the server lists it; the 1-durable clients all run on one thread over
//    a completion queue (AsyncBatchWriters), as an event-loop client does.
//  - Server-readall: Streams.Read of $all forwards, count = everything, on
//    the loaded store, against ReadAll.
//  - Server-subscribe-catchup: a $all subscription from the start of the
//    loaded store, events/s to one client, against Subscribe.
//  - Server-latency: one append at a time (fast) with a live $all
//    subscriber; latency from the append's start to the subscriber's
//    receipt.
// The clients send no event ids, leaving them to the store as the embedded
// cases do (ids given by a client are indexed: more store work per event).
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "annals/server.h"
#include "annals/stats.h"
#include "annals/subscription.h"
#include "benchmark/benchmark.h"
#include "grpcpp/grpcpp.h"
#include "kurrent/streams.grpc.pb.h"
#include "workload.h"

namespace annals::bench {
namespace {

namespace streams = ::event_store::client::streams;
using Clock = std::chrono::steady_clock;

// The house rule for durable cases: at least this many events or this long.
constexpr size_t kServerDurableEvents = 50000;
constexpr auto kDurableTime = std::chrono::seconds(10);
constexpr int kClients = 8;
constexpr size_t kLatencyAppends = 5000;
// No single call of the benchmark waits longer than this.
constexpr auto kCallTimeout = std::chrono::seconds(60);

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double ProcessCpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Context switches of the whole process so far: what each thread hand-off
// costs shows here (a wake-up of a sleeping thread is two).
double ContextSwitches() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw);
}

bool ThreadCpuAsked() {
  static const bool asked = [] {
    const char* v = std::getenv("ANNALS_BENCH_THREAD_CPU");
    return v != nullptr && std::string_view(v) == "1";
  }();
  return asked;
}

// CPU seconds of each live thread of this process by thread id, with its
// name (/proc/self/task/TID/{comm,stat}: utime and stime, fields 14 and 15).
struct ThreadCpu {
  std::string name;
  double seconds = 0;
};
std::map<int, ThreadCpu> ThreadCpuNow() {
  std::map<int, ThreadCpu> threads;
  if (!ThreadCpuAsked()) return threads;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return threads;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const std::string task = absl::StrCat("/proc/self/task/", entry->d_name);
    std::ifstream comm(task + "/comm"), stat(task + "/stat");
    ThreadCpu thread;
    std::getline(comm, thread.name);
    std::string line;
    std::getline(stat, line);
    // Fields after the name's closing parenthesis: state is field 3.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::strtod(field.c_str(), nullptr);
      if (i == 15) stime = std::strtod(field.c_str(), nullptr);
    }
    thread.seconds = (utime + stime) / tick;
    threads[std::atoi(entry->d_name)] = thread;
  }
  closedir(dir);
  return threads;
}

// Wall-clock and CPU time and context switches of the whole process
// (client, server, store and RocksDB threads alike) since construction.
struct Timer {
  Clock::time_point wall = Clock::now();
  double cpu = ProcessCpuSeconds();
  double switches = ContextSwitches();
  std::map<int, ThreadCpu> threads = ThreadCpuNow();
};

// What one side of a case measured.
struct Side {
  double rate = 0;                // events/s
  double cpu_us_per_event = 0;    // the process's CPU time per event
  double switches_per_event = 0;  // the process's context switches per event
  std::vector<double> latencies_us;
  double requests_per_group = 0;  // durable appends: how many requests an fsync covered
  std::string error;              // non-empty: the side failed
  // ANNALS_BENCH_THREAD_CPU=1: µs of CPU per event by thread name, of the
  // threads alive at the end (those that ended meanwhile are not counted).
  std::map<std::string, double> thread_cpu_us_per_event;
};

// The store's mean commit-group size so far (0 if it cannot say).
double RequestsPerGroup(EventStore& store) {
  absl::StatusOr<StoreStats> stats = GetStoreStats(store);
  if (!stats.ok() || stats->commit_groups == 0) return 0;
  return static_cast<double>(stats->group_requests_sum) / static_cast<double>(stats->commit_groups);
}

Side Failed(std::string error) {
  Side side;
  side.error = std::move(error);
  return side;
}

Side Rate(size_t events, const Timer& start) {
  Side side;
  side.rate = static_cast<double>(events) / SecondsSince(start.wall);
  side.cpu_us_per_event = (ProcessCpuSeconds() - start.cpu) * 1e6 / static_cast<double>(events);
  side.switches_per_event = (ContextSwitches() - start.switches) / static_cast<double>(events);
  for (const auto& [tid, thread] : ThreadCpuNow()) {
    auto before = start.threads.find(tid);
    const double used =
        thread.seconds - (before == start.threads.end() ? 0 : before->second.seconds);
    side.thread_cpu_us_per_event[thread.name] += used * 1e6 / static_cast<double>(events);
  }
  return side;
}

void PrintThreadCpu(const std::string& name, const char* side_name, const Side& side) {
  if (side.thread_cpu_us_per_event.empty()) return;
  std::cerr << name << " " << side_name << " CPU µs/event by thread:";
  for (const auto& [thread, us] : side.thread_cpu_us_per_event) {
    if (us >= 0.5) std::cerr << " " << thread << "=" << static_cast<int>(us + 0.5);
  }
  std::cerr << "\n";
}

// ---------------------------------------------------------------- plumbing

// A store on a fresh directory (or a given one) with a Server on a free
// loopback port.
class Served {
 public:
  // `path` empty: a fresh store in a temporary directory.
  absl::Status Start(const std::string& path, bool sync) {
    absl::StatusOr<std::unique_ptr<EventStore>> store =
        EventStore::Open(path.empty() ? dir_.path("store") : path, AnnalsOptions(sync));
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    ServerOptions options;
    options.port = 0;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(*store_, options);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }

  ~Served() {
    if (server_) server_->Shutdown();
    server_.reset();
    if (store_) store_->Close().IgnoreError();
  }

  EventStore& store() { return *store_; }
  int port() const { return server_->port(); }

 private:
  BenchDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Server> server_;
};

// One client: its own channel (a local subchannel pool, so its own TCP
// connection), connected before it is returned. nullptr if it cannot.
std::unique_ptr<streams::Streams::Stub> Connect(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return nullptr;
  }
  return streams::Streams::NewStub(channel);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}

void SetExpected(const WorkloadEvent& e, streams::AppendReq::Options* options) {
  if (e.revision == 0) {
    options->mutable_no_stream();
  } else {
    options->set_revision(e.revision - 1);
  }
}

void SetProposed(std::string_view type, std::string_view data, streams::AppendReq* request) {
  streams::AppendReq::ProposedMessage* message = request->mutable_proposed_message();
  (*message->mutable_metadata())["type"] = std::string(type);
  (*message->mutable_metadata())["content-type"] = "application/json";
  message->set_data(std::string(data));
}

// One Streams.Append call of `messages` (options first); empty if the
// server answered success, the reason otherwise.
std::string AppendCall(streams::Streams::Stub& stub,
                       const std::vector<streams::AppendReq>& messages) {
  grpc::ClientContext context;
  SetDeadline(&context);
  streams::AppendResp response;
  std::unique_ptr<grpc::ClientWriter<streams::AppendReq>> writer = stub.Append(&context, &response);
  bool written = true;
  for (size_t i = 0; i + 1 < messages.size() && written; ++i) {
    written = writer->Write(messages[i], grpc::WriteOptions().set_buffer_hint());
  }
  if (written) writer->WriteLast(messages.back(), grpc::WriteOptions());
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return absl::StrCat("append: ", status.error_message());
  if (!response.has_success()) return "append: wrong expected version";
  return "";
}

// The W1 append of `e` through the server.
std::string AppendOne(streams::Streams::Stub& stub, const WorkloadEvent& e) {
  std::vector<streams::AppendReq> messages(2);
  streams::AppendReq::Options* options = messages[0].mutable_options();
  options->mutable_stream_identifier()->set_stream_name(StreamName(e.stream_index));
  SetExpected(e, options);
  SetProposed(e.type, e.payload, &messages[1]);
  return AppendCall(stub, messages);
}

// One client's Streams.BatchAppend call, as the official clients use it
// once the server lists it: every append a message of its own on one
// long-lived call, answered by correlation id. Appends one at a time (as a
// client awaiting each append).
class BatchAppender {
 public:
  explicit BatchAppender(streams::Streams::Stub& stub) {
    SetDeadline(&context_);
    call_ = stub.BatchAppend(&context_);
  }
  ~BatchAppender() {
    call_->WritesDone();
    call_->Finish().IgnoreError();
  }

  // `request` without its correlation id and is_final; "" on success.
  std::string Append(streams::BatchAppendReq& request) {
    request.mutable_correlation_id()->set_string(absl::StrCat(++next_));
    request.set_is_final(true);
    if (!call_->Write(request)) return "batch append: the call ended";
    streams::BatchAppendResp answer;
    if (!call_->Read(&answer)) return "batch append: no answer";
    if (!answer.has_success()) return absl::StrCat("batch append: ", answer.error().message());
    return "";
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<streams::BatchAppendReq, streams::BatchAppendResp>>
      call_;
  uint64_t next_ = 0;
};

void AddBatchProposed(std::string_view type, std::string_view data,
                      streams::BatchAppendReq* request) {
  streams::BatchAppendReq::ProposedMessage* message = request->add_proposed_messages();
  (*message->mutable_metadata())["type"] = std::string(type);
  (*message->mutable_metadata())["content-type"] = "application/json";
  message->set_data(std::string(data));
}

streams::ReadReq ReadAllRequest(bool subscription) {
  streams::ReadReq request;
  streams::ReadReq::Options* options = request.mutable_options();
  options->mutable_all()->mutable_start();
  if (subscription) {
    options->mutable_subscription();
  } else {
    options->set_count(std::numeric_limits<uint64_t>::max());
  }
  options->mutable_uuid_option()->mutable_string();
  options->mutable_no_filter();
  return request;
}

// Runs one iteration of both sides, the order alternating between runs,
// and reports the server's rate, the embedded one and their ratio.
void Paired(benchmark::State& state, const std::string& name, const std::function<Side()>& embedded,
            const std::function<Side()>& served) {
  static int runs = 0;
  Side ours, baseline;
  for (auto _ : state) {
    if (runs++ % 2 == 0) {
      baseline = embedded();
      ours = served();
    } else {
      ours = served();
      baseline = embedded();
    }
  }
  if (!baseline.error.empty() || !ours.error.empty()) {
    const std::string error = absl::StrCat("embedded: ", baseline.error, "; server: ", ours.error);
    state.SkipWithError(error.c_str());
    return;
  }
  PrintThreadCpu(name, "server", ours);
  PrintThreadCpu(name, "embedded", baseline);
  state.counters["items_per_second"] = ours.rate;
  state.counters["embedded_per_second"] = baseline.rate;
  state.counters["ratio"] = baseline.rate > 0 ? ours.rate / baseline.rate : 0;
  state.counters["cpu_us_per_event"] = ours.cpu_us_per_event;
  state.counters["embedded_cpu_us_per_event"] = baseline.cpu_us_per_event;
  state.counters["switches_per_event"] = ours.switches_per_event;
  state.counters["embedded_switches_per_event"] = baseline.switches_per_event;
  if (ours.requests_per_group > 0) {
    state.counters["requests_per_group"] = ours.requests_per_group;
    state.counters["embedded_requests_per_group"] = baseline.requests_per_group;
  }
  if (!ours.latencies_us.empty()) {
    ReportLatencies(state, ours.latencies_us);
    state.counters["embedded_p50_us"] = Percentile(baseline.latencies_us, 50);
    state.counters["embedded_p99_us"] = Percentile(baseline.latencies_us, 99);
  }
}

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double Max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

void RegisterPaired(const char* name, std::function<Side()> embedded,
                    std::function<Side()> served) {
  RegisterOnce(
      name, [name = std::string(name), embedded = std::move(embedded), served = std::move(served)](
                benchmark::State& state) { Paired(state, name, embedded, served); })
      ->ComputeStatistics("min", Min)
      ->ComputeStatistics("max", Max);
}

// ---------------------------------------------------------------- appends

// W2: one stream's whole history per append, expected no stream.
Side EmbeddedW2(bool sync) {
  BenchDir dir;
  absl::StatusOr<std::unique_ptr<EventStore>> store =
      EventStore::Open(dir.path("store"), AnnalsOptions(sync));
  if (!store.ok()) return Failed(store.status().ToString());
  std::vector<AppendRequest> requests(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    requests[s].stream = StreamName(s);
    requests[s].expected = ExpectedRevision::NoStream();
  }
  for (const WorkloadEvent& e : Workload()) {
    requests[e.stream_index].events.push_back(ToEventData(e));
  }
  const Timer start;
  for (AppendRequest& request : requests) {
    absl::StatusOr<AppendResult> result = (*store)->Append(std::move(request));
    if (!result.ok()) return Failed(result.status().ToString());
  }
  return Rate(Workload().size(), start);
}

Side ServedW2(bool sync) {
  Served served;
  if (absl::Status started = served.Start("", sync); !started.ok()) {
    return Failed(started.ToString());
  }
  std::unique_ptr<streams::Streams::Stub> stub = Connect(served.port());
  if (!stub) return Failed("cannot connect");
  // The calls' messages, stream by stream, built before timing.
  std::vector<std::vector<streams::AppendReq>> calls(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    streams::AppendReq::Options* options = calls[s].emplace_back().mutable_options();
    options->mutable_stream_identifier()->set_stream_name(StreamName(s));
    options->mutable_no_stream();
  }
  for (const WorkloadEvent& e : Workload()) {
    SetProposed(e.type, e.payload, &calls[e.stream_index].emplace_back());
  }
  const Timer start;
  for (const std::vector<streams::AppendReq>& call : calls) {
    if (std::string error = AppendCall(*stub, call); !error.empty()) return Failed(error);
  }
  return Rate(Workload().size(), start);
}

// W2 through BatchAppend: one message per stream's 100 events.
Side ServedBatchW2(bool sync) {
  Served served;
  if (absl::Status started = served.Start("", sync); !started.ok()) {
    return Failed(started.ToString());
  }
  std::unique_ptr<streams::Streams::Stub> stub = Connect(served.port());
  if (!stub) return Failed("cannot connect");
  std::vector<streams::BatchAppendReq> requests(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    streams::BatchAppendReq::Options* options = requests[s].mutable_options();
    options->mutable_stream_identifier()->set_stream_name(StreamName(s));
    options->mutable_no_stream();
  }
  for (const WorkloadEvent& e : Workload()) {
    AddBatchProposed(e.type, e.payload, &requests[e.stream_index]);
  }
  BatchAppender appender(*stub);
  const Timer start;
  for (streams::BatchAppendReq& request : requests) {
    if (std::string error = appender.Append(request); !error.empty()) return Failed(error);
  }
  return Rate(Workload().size(), start);
}

// W1-durable (1 writer) or W5 (8 writers, stream % 8), in workload order,
// until kServerDurableEvents events or kDurableTime. `append(writer, event)`
// returns an error or "".
Side DurableWriters(int writers,
                    const std::function<std::string(int, const WorkloadEvent&)>& append) {
  const std::vector<WorkloadEvent>& events = Workload();
  const size_t limit = std::min(kServerDurableEvents, events.size());
  std::atomic<size_t> done{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string error;
  const Timer start;
  const Clock::time_point deadline = start.wall + kDurableTime;
  auto run = [&](int w) {
    for (const WorkloadEvent& e : events) {
      if (e.stream_index % writers != w) continue;
      if (stop.load(std::memory_order_relaxed)) return;
      if (std::string failed = append(w, e); !failed.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        error = std::move(failed);
        stop = true;
        return;
      }
      if (done.fetch_add(1, std::memory_order_relaxed) + 1 >= limit || Clock::now() >= deadline) {
        stop = true;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) threads.emplace_back(run, w);
  for (std::thread& t : threads) t.join();
  if (!error.empty()) return Failed(error);
  return Rate(done.load(), start);
}

Side EmbeddedDurable(int writers) {
  BenchDir dir;
  absl::StatusOr<std::unique_ptr<EventStore>> store =
      EventStore::Open(dir.path("store"), AnnalsOptions(/*sync=*/true));
  if (!store.ok()) return Failed(store.status().ToString());
  Side side = DurableWriters(writers, [&](int, const WorkloadEvent& e) -> std::string {
    absl::StatusOr<AppendResult> result = AppendW1(**store, e);
    return result.ok() ? "" : result.status().ToString();
  });
  side.requests_per_group = RequestsPerGroup(**store);
  return side;
}

Side ServedDurable(int writers) {
  Served served;
  if (absl::Status started = served.Start("", /*sync=*/true); !started.ok()) {
    return Failed(started.ToString());
  }
  std::vector<std::unique_ptr<streams::Streams::Stub>> stubs;
  for (int w = 0; w < writers; ++w) {
    stubs.push_back(Connect(served.port()));
    if (!stubs.back()) return Failed("cannot connect");
  }
  Side side = DurableWriters(writers, [&](int w, const WorkloadEvent& e) -> std::string {
    return AppendOne(*stubs[w], e);
  });
  side.requests_per_group = RequestsPerGroup(served.store());
  return side;
}

// One event's BatchAppend message (no correlation id yet).
streams::BatchAppendReq BatchRequestOf(const WorkloadEvent& e) {
  streams::BatchAppendReq request;
  streams::BatchAppendReq::Options* options = request.mutable_options();
  options->mutable_stream_identifier()->set_stream_name(StreamName(e.stream_index));
  if (e.revision == 0) {
    options->mutable_no_stream();
  } else {
    options->set_stream_position(e.revision - 1);
  }
  AddBatchProposed(e.type, e.payload, &request);
  request.set_is_final(true);
  return request;
}

// W1-durable / W5 through BatchAppend: `writers` clients, each its own
// connection and one long-lived call appending its streams' events one at
// a time (awaiting each answer), as DurableWriters. All of them run on ONE
// thread over a completion queue, as the official clients' event loop
// does: the clients share the server's two cores, and a thread per
// blocking client would spend more of them than the server under test.
class AsyncBatchWriters {
 public:
  AsyncBatchWriters(int port, int writers) : clients_(static_cast<size_t>(writers)) {
    const std::vector<WorkloadEvent>& events = Workload();
    for (const WorkloadEvent& e : events) {
      clients_[static_cast<size_t>(e.stream_index % writers)].events.push_back(&e);
    }
    for (Client& client : clients_) {
      client.stub = Connect(port);
      if (!client.stub) {
        error_ = "cannot connect";
        return;
      }
    }
  }

  Side Run() {
    if (!error_.empty()) return Failed(error_);
    const Timer start;
    deadline_ = start.wall + kDurableTime;
    limit_ = std::min(kServerDurableEvents, Workload().size());
    for (size_t i = 0; i < clients_.size(); ++i) {
      Client& client = clients_[i];
      SetDeadline(&client.context);
      client.call = client.stub->AsyncBatchAppend(&client.context, &queue_, Tag(i, kStarted));
      ++pending_;
    }
    void* tag = nullptr;
    bool ok = false;
    while (pending_ > 0 && queue_.Next(&tag, &ok)) {
      --pending_;
      const auto bits = reinterpret_cast<uintptr_t>(tag);
      OnEvent(clients_[bits >> 3], static_cast<Op>(bits & 7), ok);
    }
    queue_.Shutdown();
    while (queue_.Next(&tag, &ok)) {
    }
    if (!error_.empty()) return Failed(error_);
    return Rate(done_, start);
  }

 private:
  enum Op : uintptr_t { kStarted, kWritten, kAnswered, kWritesDone, kFinished };
  struct Client {
    std::unique_ptr<streams::Streams::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<
        grpc::ClientAsyncReaderWriter<streams::BatchAppendReq, streams::BatchAppendResp>>
        call;
    std::vector<const WorkloadEvent*> events;  // its streams', in order
    size_t next = 0;
    streams::BatchAppendReq request;
    streams::BatchAppendResp answer;
    grpc::Status status;
  };

  void* Tag(size_t client, Op op) {
    return reinterpret_cast<void*>((client << 3) | static_cast<uintptr_t>(op));
  }
  size_t IndexOf(const Client& client) const { return static_cast<size_t>(&client - &clients_[0]); }

  void OnEvent(Client& client, Op op, bool ok) {
    const size_t i = IndexOf(client);
    switch (op) {
      case kStarted:
      case kAnswered:
        if (!ok) return Fail(client, "batch append: the call ended");
        if (op == kAnswered) {
          if (!client.answer.has_success()) {
            return Fail(client, absl::StrCat("batch append: ", client.answer.error().message()));
          }
          if (++done_ >= limit_ || Clock::now() >= deadline_) stop_ = true;
        }
        if (stop_ || client.next == client.events.size()) return End(client);
        client.request = BatchRequestOf(*client.events[client.next++]);
        client.request.mutable_correlation_id()->set_string(absl::StrCat(client.next));
        client.call->Write(client.request, Tag(i, kWritten));
        ++pending_;
        return;
      case kWritten:
        if (!ok) return Fail(client, "batch append: the call ended");
        client.call->Read(&client.answer, Tag(i, kAnswered));
        ++pending_;
        return;
      case kWritesDone:
        client.call->Finish(&client.status, Tag(i, kFinished));
        ++pending_;
        return;
      case kFinished:
        return;
    }
  }

  void End(Client& client) {
    client.call->WritesDone(Tag(IndexOf(client), kWritesDone));
    ++pending_;
  }

  void Fail(Client& client, std::string error) {
    if (error_.empty()) error_ = std::move(error);
    stop_ = true;
    client.context.TryCancel();
    client.call->Finish(&client.status, Tag(IndexOf(client), kFinished));
    ++pending_;
  }

  grpc::CompletionQueue queue_;
  std::vector<Client> clients_;
  int pending_ = 0;  // operations started and not yet seen on queue_
  size_t done_ = 0;
  size_t limit_ = 0;
  bool stop_ = false;
  Clock::time_point deadline_;
  std::string error_;
};

Side ServedBatchDurable(int writers) {
  Served served;
  if (absl::Status started = served.Start("", /*sync=*/true); !started.ok()) {
    return Failed(started.ToString());
  }
  AsyncBatchWriters clients(served.port(), writers);
  Side side = clients.Run();
  side.requests_per_group = RequestsPerGroup(served.store());
  return side;
}

// ---------------------------------------------------------------- reads

// The loaded store (the whole workload, in SST files), open once for
// both sides of a read case.
class LoadedStore {
 public:
  std::unique_ptr<EventStore>& store() {
    if (!store_) {
      store_ = OpenOrAbort(LoadedAnnalsStore(), AnnalsOptions(false));
      // Warm the caches once so neither side pays for the first read.
      absl::StatusOr<std::unique_ptr<EventIterator>> it = store_->ReadAll();
      if (it.ok()) {
        for (; (*it)->Valid(); (*it)->Next()) {
        }
      }
    }
    return store_;
  }

 private:
  std::unique_ptr<EventStore> store_;
};

LoadedStore& Loaded() {
  static LoadedStore* loaded = new LoadedStore();
  return *loaded;
}

// A server on the loaded store for one side of a case.
class ServedLoaded {
 public:
  absl::Status Start() {
    ServerOptions options;
    options.port = 0;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(*Loaded().store(), options);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }
  ~ServedLoaded() {
    if (server_) server_->Shutdown();
  }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<Server> server_;
};

size_t Touch(const EventRecord& r) {
  return r.stream.size() + r.revision.value() + r.type.size() + r.data.size();
}

size_t Touch(const streams::ReadResp::ReadEvent::RecordedEvent& r) {
  return r.stream_identifier().stream_name().size() + r.stream_revision() +
         r.metadata().at("type").size() + r.data().size();
}

Side EmbeddedReadAll() {
  EventStore& store = *Loaded().store();
  size_t count = 0, checksum = 0;
  const Timer start;
  absl::StatusOr<std::unique_ptr<EventIterator>> it = store.ReadAll();
  if (!it.ok()) return Failed(it.status().ToString());
  for (; (*it)->Valid(); (*it)->Next(), ++count) checksum += Touch((*it)->record());
  if (!(*it)->status().ok()) return Failed((*it)->status().ToString());
  benchmark::DoNotOptimize(checksum);
  if (count != WorkloadSize()) return Failed("short ReadAll");
  return Rate(count, start);
}

Side ServedReadAll() {
  ServedLoaded served;
  if (absl::Status started = served.Start(); !started.ok()) return Failed(started.ToString());
  std::unique_ptr<streams::Streams::Stub> stub = Connect(served.port());
  if (!stub) return Failed("cannot connect");
  size_t count = 0, checksum = 0;
  const Timer start;
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::ClientReader<streams::ReadResp>> reader =
      stub->Read(&context, ReadAllRequest(/*subscription=*/false));
  streams::ReadResp response;
  while (reader->Read(&response)) {
    if (!response.has_event()) continue;
    checksum += Touch(response.event().event());
    ++count;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return Failed(absl::StrCat("read: ", status.error_message()));
  benchmark::DoNotOptimize(checksum);
  if (count != WorkloadSize()) return Failed("short read of $all");
  return Rate(count, start);
}

Side EmbeddedCatchUp() {
  EventStore& store = *Loaded().store();
  const size_t events = WorkloadSize();
  size_t checksum = 0;
  const Timer start;
  absl::StatusOr<std::unique_ptr<Subscription>> sub = store.Subscribe({});
  if (!sub.ok()) return Failed(sub.status().ToString());
  for (size_t k = 0; k < events; ++k) {
    absl::StatusOr<EventRecord> e = (*sub)->Next(absl::Seconds(10));
    if (!e.ok()) return Failed(e.status().ToString());
    checksum += Touch(*e);
  }
  benchmark::DoNotOptimize(checksum);
  return Rate(events, start);
}

Side ServedCatchUp() {
  ServedLoaded served;
  if (absl::Status started = served.Start(); !started.ok()) return Failed(started.ToString());
  std::unique_ptr<streams::Streams::Stub> stub = Connect(served.port());
  if (!stub) return Failed("cannot connect");
  const size_t events = WorkloadSize();
  size_t count = 0, checksum = 0;
  const Timer start;
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::ClientReader<streams::ReadResp>> reader =
      stub->Read(&context, ReadAllRequest(/*subscription=*/true));
  streams::ReadResp response;
  while (count < events && reader->Read(&response)) {
    if (!response.has_event()) continue;
    checksum += Touch(response.event().event());
    ++count;
  }
  Side side = Rate(count, start);
  context.TryCancel();
  reader->Finish().IgnoreError();  // CANCELLED, as asked
  benchmark::DoNotOptimize(checksum);
  if (count != events) return Failed("the subscription ended early");
  return side;
}

// ---------------------------------------------------------------- latency

// One append at a time, each awaited by a live subscriber before the next:
// per event, the time from the append's start to the subscriber's receipt.
// The appender calls Run, the subscriber's thread Received.
class LatencyProbe {
 public:
  LatencyProbe() : appends_(std::min(kLatencyAppends, WorkloadSize())), sent_(appends_) {}

  size_t appends() const { return appends_; }

  // The subscriber's side: its event number `k` (0-based) arrived now.
  void Received(size_t k) {
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    if (k < appends_)
      samples_.push_back(std::chrono::duration<double, std::micro>(now - sent_[k]).count());
    seen_ = k + 1;
    changed_.notify_all();
  }

  // The appender's side: `append` appends() times, each once the subscriber
  // saw the previous event. The error of a failed append or wait, or "".
  std::string Run(const std::function<std::string()>& append) {
    for (size_t k = 0; k < appends_; ++k) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        sent_[k] = Clock::now();
      }
      if (std::string error = append(); !error.empty()) return error;
      std::unique_lock<std::mutex> lock(mu_);
      if (!changed_.wait_for(lock, std::chrono::seconds(10), [&] { return seen_ > k; })) {
        return "the subscriber did not see an append within 10 s";
      }
    }
    return "";
  }

  // Once the subscriber has stopped.
  std::vector<double> TakeSamples() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(samples_);
  }

 private:
  const size_t appends_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Clock::time_point> sent_;  // guarded by mu_
  std::vector<double> samples_;          // guarded by mu_
  size_t seen_ = 0;                      // guarded by mu_
};

Side Latencies(LatencyProbe& probe, const Timer& start, std::string error) {
  if (!error.empty()) return Failed(error);
  Side side = Rate(probe.appends(), start);
  side.latencies_us = probe.TakeSamples();
  return side;
}

EventData Ping() {
  return EventData{.type = "Ping", .data = "{}", .content_type = "application/json"};
}

Side EmbeddedLatency() {
  BenchDir dir;
  absl::StatusOr<std::unique_ptr<EventStore>> store =
      EventStore::Open(dir.path("store"), AnnalsOptions(/*sync=*/false));
  if (!store.ok()) return Failed(store.status().ToString());
  absl::StatusOr<std::unique_ptr<Subscription>> sub = (*store)->Subscribe({});
  if (!sub.ok()) return Failed(sub.status().ToString());
  LatencyProbe probe;
  std::thread subscriber([&] {
    for (size_t k = 0; k < probe.appends(); ++k) {
      if (!(*sub)->Next(absl::Seconds(10)).ok()) return;
      probe.Received(k);
    }
  });
  const Timer start;
  std::string error = probe.Run([&]() -> std::string {
    absl::StatusOr<AppendResult> result =
        (*store)->Append({"latency-1", ExpectedRevision::Any(), {Ping()}});
    return result.ok() ? "" : result.status().ToString();
  });
  (*sub)->Stop();
  subscriber.join();
  return Latencies(probe, start, std::move(error));
}

Side ServedLatency() {
  Served served;
  if (absl::Status started = served.Start("", /*sync=*/false); !started.ok()) {
    return Failed(started.ToString());
  }
  std::unique_ptr<streams::Streams::Stub> appender = Connect(served.port());
  std::unique_ptr<streams::Streams::Stub> listener = Connect(served.port());
  if (!appender || !listener) return Failed("cannot connect");
  LatencyProbe probe;
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::ClientReader<streams::ReadResp>> reader =
      listener->Read(&context, ReadAllRequest(/*subscription=*/true));
  // The confirmation comes once the subscription is open.
  streams::ReadResp response;
  if (!reader->Read(&response) || !response.has_confirmation()) {
    context.TryCancel();
    reader->Finish().IgnoreError();
    return Failed("no subscription confirmation");
  }
  std::thread subscriber([&] {
    size_t k = 0;
    while (k < probe.appends() && reader->Read(&response)) {
      if (response.has_event()) probe.Received(k++);
    }
  });
  std::vector<streams::AppendReq> messages(2);
  streams::AppendReq::Options* options = messages[0].mutable_options();
  options->mutable_stream_identifier()->set_stream_name("latency-1");
  options->mutable_any();
  SetProposed("Ping", "{}", &messages[1]);
  const Timer start;
  std::string error = probe.Run([&] { return AppendCall(*appender, messages); });
  context.TryCancel();  // ends the subscriber's Read if it still waits
  subscriber.join();
  reader->Finish().IgnoreError();
  return Latencies(probe, start, std::move(error));
}

const bool server_registered = [] {
  RegisterPaired(
      "Server-append100-durable", [] { return EmbeddedW2(true); }, [] { return ServedW2(true); });
  RegisterPaired(
      "Server-append100-fast", [] { return EmbeddedW2(false); }, [] { return ServedW2(false); });
  RegisterPaired(
      "Server-append1-durable-1", [] { return EmbeddedDurable(1); },
      [] { return ServedDurable(1); });
  RegisterPaired(
      "Server-append1-durable-8", [] { return EmbeddedDurable(kClients); },
      [] { return ServedDurable(kClients); });
  RegisterPaired(
      "Server-batchappend100-durable", [] { return EmbeddedW2(true); },
      [] { return ServedBatchW2(true); });
  RegisterPaired(
      "Server-batchappend100-fast", [] { return EmbeddedW2(false); },
      [] { return ServedBatchW2(false); });
  RegisterPaired(
      "Server-batchappend1-durable-1", [] { return EmbeddedDurable(1); },
      [] { return ServedBatchDurable(1); });
  RegisterPaired(
      "Server-batchappend1-durable-8", [] { return EmbeddedDurable(kClients); },
      [] { return ServedBatchDurable(kClients); });
  RegisterPaired("Server-readall", EmbeddedReadAll, ServedReadAll);
  RegisterPaired("Server-subscribe-catchup", EmbeddedCatchUp, ServedCatchUp);
  RegisterPaired("Server-latency", EmbeddedLatency, ServedLatency);
  return true;
}();

}  // namespace
}  // namespace annals::bench
