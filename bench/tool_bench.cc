// The `annals` tool's work (issue [5]), each case beside a baseline, through
// the public API only (annals/*.h, the plugin API's DeciderFold) or the
// built `annals` binary:
//   TOOL-state-10k/annals           the state at the head of a 10,000-event stream, folding every
//                                   event, as `annals state` loads it (StateAt below)
//   TOOL-state-10k-snapshot/annals  the same from the newest snapshot (one every 1,000 events,
//                                   the last 500 events before the head)
//   TOOL-replay-10k/annals          replay of the stream with a JSON diff per event, as `annals
//                                   replay` computes it without printing (ReplayWithDiffs below)
//   TOOL-replay-last500[-snapshot]  `replay --from 9500`: its starting state folded from the first
//                                   event, or from the snapshot at 9,499
//   TOOL-fold-10k/raw               the same fold over a raw RocksDB scan of the same payloads
//   TOOL-audit-correlation/annals   `annals audit --correlation` on the W4 workload (200,000
//   TOOL-audit-scan/annals          events, 20 per correlation id) vs the same query as a scan
//   TOOL-export-1M/annals           the tool binary exporting a 1M-event store to /dev/null
//                                   (events/s; vs W4/raw), with its peak RSS beside the peak RSS
//                                   of exporting a tenth of it: memory must not grow with size
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "annals/snapshot.h"
#include "annals/tool_plugin.h"
#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "rocksdb/db.h"
#include "workload.h"

namespace annals::bench {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kStreamEvents = 10000;
constexpr int kSnapshotEvery = 1000;

// A bench-local domain: an account whose events deposit an amount.
struct Deposited {
  int64_t amount = 0;
};
struct Account {
  int64_t balance = 0;
  int64_t deposits = 0;
};
std::string ToJson(const Account& a) {
  return absl::StrCat("{\"balance\":", a.balance, ",\"deposits\":", a.deposits, "}");
}
struct AccountDecider {
  using State = Account;
  using Event = Deposited;
  using Command = int;
  State initial_state() const { return {}; }
  State evolve(State s, const Event& e) const {
    s.balance += e.amount;
    ++s.deposits;
    return s;
  }
  absl::StatusOr<std::vector<Event>> decide(const Command&, const State&) const {
    return std::vector<Event>{};
  }
};
// {"amount":N,"note":"..."}: the number is read without a JSON library, in
// both the annals case and the raw baseline.
absl::StatusOr<Deposited> ParseDeposit(std::string_view data) {
  const size_t at = data.find("\"amount\":");
  int64_t amount = 0;
  if (at == std::string_view::npos) return absl::InvalidArgumentError("no amount");
  std::string_view rest = data.substr(at + 9);
  if (!absl::SimpleAtoi(std::string(rest.substr(0, rest.find_first_of(",}"))), &amount)) {
    return absl::InvalidArgumentError("bad amount");
  }
  return Deposited{amount};
}
struct AccountEvents {
  absl::StatusOr<EventData> Encode(const Deposited& e) const {
    EventData d;
    d.type = "Deposited";
    d.content_type = "application/json";
    d.data = absl::StrCat("{\"amount\":", e.amount, ",\"note\":\"", std::string(150, 'x'), "\"}");
    return d;
  }
  absl::StatusOr<Deposited> Decode(const EventRecord& r) const { return ParseDeposit(r.data); }
};
struct AccountSnapshots {
  uint32_t schema_version() const { return 1; }
  absl::StatusOr<std::string> Serialize(const Account& a) const {
    return absl::StrCat(a.balance, ",", a.deposits);
  }
  absl::StatusOr<Account> Parse(std::string_view bytes) const {
    Account a;
    const size_t comma = bytes.find(',');
    if (comma == std::string_view::npos ||
        !absl::SimpleAtoi(std::string(bytes.substr(0, comma)), &a.balance) ||
        !absl::SimpleAtoi(std::string(bytes.substr(comma + 1)), &a.deposits)) {
      return absl::DataLossError("bad snapshot");
    }
    return a;
  }
};
using AccountFold = plugin::DeciderFold<AccountDecider, AccountEvents, AccountSnapshots>;

// One 10,000-event stream (with snapshots every 1,000 events) amid other
// streams' events, and the raw DB holding the same payloads.
struct HistoryStores {
  BenchDir dir;
  std::string annals_path = dir.path("annals");
  std::string raw_path = dir.path("raw");
};
const HistoryStores& History() {
  static HistoryStores* stores = [] {
    auto* s = new HistoryStores();
    auto store = OpenOrAbort(s->annals_path, AnnalsOptions(false));
    rocksdb::DB* raw = nullptr;
    rocksdb::Options options;
    options.create_if_missing = true;
    if (!rocksdb::DB::Open(options, s->raw_path, &raw).ok()) std::abort();
    AccountEvents codec;
    AccountSnapshots snapshots;
    AccountDecider decider;
    Account state;
    for (int i = 0; i < kStreamEvents; ++i) {
      const Deposited deposit{i % 100};
      EventData data = *codec.Encode(deposit);
      // Another stream's event between two of ours, as in a real log.
      if (!store->Append({"noise-" + std::to_string(i % 50), ExpectedRevision::Any(), {data}}).ok())
        std::abort();
      auto appended = store->Append({"account-1", ExpectedRevision::Any(), {data}});
      if (!appended.ok()) std::abort();
      state = decider.evolve(state, deposit);
      // Snapshots at revisions 499, 1499, ..., 9499: the head is 500 past the last.
      if ((i + 1) % kSnapshotEvery == kSnapshotEvery / 2) {
        Snapshot snapshot{.stream = "account-1",
                          .revision = appended->last_revision,
                          .schema_version = 1,
                          .state = *snapshots.Serialize(state),
                          .position = appended->last_position};
        if (!WriteSnapshot(*store, snapshot).ok()) std::abort();
      }
      if (!raw->Put(rocksdb::WriteOptions(), RawKey('S', "account-1", BigEndian(i)),
                    EncodeRawRecord("account-1", i, data.type, data.data))
               .ok()) {
        std::abort();
      }
    }
    store->Close().IgnoreError();
    raw->Flush(rocksdb::FlushOptions()).PermitUncheckedError();
    delete raw;
    return s;
  }();
  return *stores;
}

// A state folded from a stream, the last event folded (which `annals
// state` prints) and how many events that took.
struct FoldedState {
  std::unique_ptr<plugin::FoldState> state;
  std::optional<EventRecord> last_event;
  uint64_t events_folded = 0;
};

// The state after `revision`, as the tool loads it: from the newest
// snapshot at or below it that the fold can read (with `snapshots`), then
// the events after that snapshot.
absl::StatusOr<FoldedState> StateAt(EventStore& store, const plugin::Fold& fold,
                                    const std::string& stream, Revision revision, bool snapshots) {
  FoldedState result;
  Revision start(0);
  if (snapshots) {
    absl::StatusOr<std::optional<Snapshot>> snapshot = ReadSnapshot(store, stream, revision);
    if (!snapshot.ok()) return snapshot.status();
    if (snapshot->has_value()) {
      absl::StatusOr<std::unique_ptr<plugin::FoldState>> state = fold.FromSnapshot(**snapshot);
      if (!state.ok()) return state.status();
      if (*state != nullptr) {
        result.state = *std::move(state);
        start = (*snapshot)->revision.Next();
      }
    }
  }
  if (result.state == nullptr) result.state = fold.Initial();
  if (revision < start) return result;
  auto it =
      store.ReadStream(stream, {.from = start, .max_count = revision.value() - start.value() + 1});
  if (!it.ok()) return it.status();
  for (; (*it)->Valid(); (*it)->Next()) {
    if (absl::Status s = fold.Apply(*result.state, (*it)->record()); !s.ok()) return s;
    ++result.events_folded;
    result.last_event = (*it)->record();
  }
  if (!(*it)->status().ok()) return (*it)->status();
  return result;
}

// The fold's state as the JSON value the tool prints and diffs.
absl::StatusOr<Json> StateJson(const plugin::Fold& fold, const plugin::FoldState& state) {
  absl::StatusOr<std::string> text = fold.ToJson(state);
  if (!text.ok()) return text.status();
  Json json = Json::parse(*text, nullptr, false);
  if (json.is_discarded()) return absl::InternalError("the fold's state is not valid JSON");
  return json;
}

// The number of field-level changes between two JSON values, found as the
// tool's diff finds them: objects and arrays member by member.
size_t CountChanges(const Json& a, const Json& b) {
  if (a == b) return 0;
  size_t changes = 0;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      auto it = b.find(key);
      changes += it == b.end() ? 1 : CountChanges(value, *it);
    }
    for (const auto& [key, value] : b.items()) changes += a.contains(key) ? 0 : 1;
    return changes;
  }
  if (a.is_array() && b.is_array()) {
    const size_t common = std::min(a.size(), b.size());
    for (size_t i = 0; i < common; ++i) changes += CountChanges(a[i], b[i]);
    return changes + std::max(a.size(), b.size()) - common;
  }
  return 1;
}

// Replays revisions [from, head] of `stream` as `annals replay` does: the
// state before `from` (StateAt), then each event folded, its state as JSON
// diffed against the one before. Returns the number of changes.
absl::StatusOr<size_t> ReplayWithDiffs(EventStore& store, const plugin::Fold& fold,
                                       const std::string& stream, Revision from, bool snapshots) {
  absl::StatusOr<FoldedState> start = FoldedState{.state = fold.Initial()};
  if (from.value() > 0) start = StateAt(store, fold, stream, Revision(from.value() - 1), snapshots);
  if (!start.ok()) return start.status();
  absl::StatusOr<Json> before = StateJson(fold, *start->state);
  if (!before.ok()) return before.status();
  auto it = store.ReadStream(stream, {.from = from});
  if (!it.ok()) return it.status();
  size_t changes = 0;
  for (; (*it)->Valid(); (*it)->Next()) {
    if (absl::Status s = fold.Apply(*start->state, (*it)->record()); !s.ok()) return s;
    absl::StatusOr<Json> after = StateJson(fold, *start->state);
    if (!after.ok()) return after.status();
    changes += CountChanges(*before, *after);
    *before = *std::move(after);
  }
  if (!(*it)->status().ok()) return (*it)->status();
  return changes;
}

void StateAtHead(benchmark::State& state, bool snapshots) {
  const HistoryStores& stores = History();
  auto store = OpenOrSkip(state, stores.annals_path, AnnalsOptions(false));
  if (!store) return;
  AccountFold fold;
  std::vector<double> us;
  uint64_t folded = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto at = StateAt(*store, fold, "account-1", Revision(kStreamEvents - 1), snapshots);
    if (!at.ok()) return state.SkipWithError(at.status().ToString().c_str());
    auto json = StateJson(fold, *at->state);
    if (!json.ok() || (*json)["deposits"] != kStreamEvents)
      return state.SkipWithError("wrong state");
    us.push_back(MicrosSince(start));
    folded += at->events_folded;
  }
  // The rate is states per second; events folded per state is a counter.
  state.SetItemsProcessed(static_cast<int64_t>(us.size()));
  state.counters["events_folded"] = static_cast<double>(folded) / static_cast<double>(us.size());
  ReportLatencies(state, us);
}

void StateNoSnapshots(benchmark::State& state) { StateAtHead(state, false); }
void StateWithSnapshots(benchmark::State& state) { StateAtHead(state, true); }

// Replays revisions [from, head] of the stream with a JSON diff per event.
void ReplayFrom(benchmark::State& state, uint64_t from, bool snapshots) {
  const HistoryStores& stores = History();
  auto store = OpenOrSkip(state, stores.annals_path, AnnalsOptions(false));
  if (!store) return;
  AccountFold fold;
  std::vector<double> us;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<size_t> changes =
        ReplayWithDiffs(*store, fold, "account-1", Revision(from), snapshots);
    if (!changes.ok() || *changes < kStreamEvents - from)
      return state.SkipWithError("replay failed");
    us.push_back(MicrosSince(start));
  }
  state.SetItemsProcessed(static_cast<int64_t>(us.size()));
  ReportLatencies(state, us);
}
void Replay10k(benchmark::State& state) { ReplayFrom(state, 0, false); }
// `replay --from 9500`: the state before 9,500 from the snapshot at 9,499,
// or folded from the first event.
void ReplayLast500(benchmark::State& state) { ReplayFrom(state, kStreamEvents - 500, false); }
void ReplayLast500Snapshot(benchmark::State& state) {
  ReplayFrom(state, kStreamEvents - 500, true);
}

// The baseline: scan the stream's records in a raw DB and fold them.
void RawFold(benchmark::State& state) {
  const HistoryStores& stores = History();
  rocksdb::DB* raw = nullptr;
  rocksdb::Options options;
  if (!rocksdb::DB::OpenForReadOnly(options, stores.raw_path, &raw).ok())
    return state.SkipWithError("raw open");
  std::unique_ptr<rocksdb::DB> owner(raw);
  AccountDecider decider;
  std::vector<double> us;
  const std::string prefix = RawKey('S', "account-1");
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    Account account;
    std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      RawRecordView view;
      if (!DecodeRawRecord(it->value().ToStringView(), &view))
        return state.SkipWithError("raw decode");
      auto deposit = ParseDeposit(view.payload);
      if (!deposit.ok()) return state.SkipWithError("raw parse");
      account = decider.evolve(account, *deposit);
    }
    benchmark::DoNotOptimize(ToJson(account));
    if (account.deposits != kStreamEvents) return state.SkipWithError("short raw fold");
    us.push_back(MicrosSince(start));
  }
  state.SetItemsProcessed(static_cast<int64_t>(us.size()));
  ReportLatencies(state, us);
}

// The W4 workload with correlation ids: event k belongs to conversation
// k % (events / 20).
const std::string& CorrelatedStore() {
  static BenchDir dir;
  static const std::string path = [] {
    const std::string p = dir.path("correlated");
    auto store = OpenOrAbort(p, AnnalsOptions(false));
    const size_t conversations = std::max<size_t>(1, WorkloadSize() / 20);
    const auto& workload = Workload();
    for (size_t k = 0; k < workload.size(); ++k) {
      EventData data = ToEventData(workload[k]);
      data.correlation_id = "conv-" + std::to_string(k % conversations);
      data.metadata["user"] = k % 2 ? "alice" : "bob";
      if (!store->Append({StreamName(workload[k].stream_index), ExpectedRevision::Any(), {data}})
               .ok()) {
        std::abort();
      }
    }
    return p;
  }();
  return path;
}

// The audit command's loop: the index (or a scan), the filters, the rows.
size_t Audit(EventStore& store, const std::string& correlation, bool scan) {
  auto it = scan ? store.ReadAll() : store.ReadCorrelation(correlation);
  if (!it.ok()) return 0;
  size_t matched = 0;
  for (; (*it)->Valid(); (*it)->Next()) {
    const EventRecord& r = (*it)->record();
    if (r.correlation_id != correlation) continue;
    auto user = r.metadata.find("user");
    benchmark::DoNotOptimize(user);
    ++matched;
  }
  return matched;
}

void AuditCase(benchmark::State& state, bool scan) {
  const std::string& path = CorrelatedStore();
  auto store = OpenOrSkip(state, path, AnnalsOptions(false));
  if (!store) return;
  const size_t conversations = std::max<size_t>(1, WorkloadSize() / 20);
  std::mt19937 rng(7);
  std::vector<double> us;
  const int queries = scan ? 3 : 500;
  for (auto _ : state) {
    for (int q = 0; q < queries; ++q) {
      const std::string id = "conv-" + std::to_string(rng() % conversations);
      const auto start = std::chrono::steady_clock::now();
      if (Audit(*store, id, scan) != WorkloadSize() / conversations)
        return state.SkipWithError("wrong count");
      us.push_back(MicrosSince(start));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(us.size()));
  ReportLatencies(state, us);
}
void AuditIndex(benchmark::State& state) { AuditCase(state, false); }
void AuditScan(benchmark::State& state) { AuditCase(state, true); }

// Export: `count` events (200-byte payloads over 1,000 streams), appended
// 1,000 to a batch.
std::string ExportStore(const BenchDir& dir, const std::string& name, size_t count) {
  const std::string path = dir.path(name);
  auto store = OpenOrAbort(path, AnnalsOptions(false));
  const auto& workload = Workload();
  for (size_t k = 0; k < count; k += 1000) {
    std::vector<EventData> batch;
    for (size_t i = k; i < std::min(count, k + 1000); ++i)
      batch.push_back(ToEventData(workload[i % workload.size()]));
    if (!store
             ->Append(
                 {"export-" + std::to_string((k / 1000) % 1000), ExpectedRevision::Any(), batch})
             .ok()) {
      std::abort();
    }
  }
  store->Close().IgnoreError();
  return path;
}

struct ChildRun {
  double seconds = 0;
  double peak_rss_mb = 0;
  bool ok = false;
};
// The child's peak resident memory (VmHWM) once it runs the tool, in MB; 0
// before its exec. getrusage/wait4 cannot tell: a forked child's maxrss
// starts at the benchmark's own size, inherited before the exec.
double PeakRssMb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  bool tool = false;
  double mb = 0;
  while (std::getline(status, line)) {
    if (line.starts_with("Name:")) tool = absl::StripAsciiWhitespace(line.substr(5)) == "annals";
    if (line.starts_with("VmHWM:")) {
      double kb = 0;
      if (absl::SimpleAtod(std::string(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9))),
                           &kb))
        mb = kb / 1024.0;
    }
  }
  return tool ? mb : 0;
}

// Runs `annals --store PATH export -o /dev/null` and measures it, sampling
// its memory every 2 ms until it exits.
ChildRun RunExport(const std::string& path) {
  ChildRun run;
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(ANNALS_TOOL_PATH, "annals", "--store", path.c_str(), "export", "-o", "/dev/null",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) return run;
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0) {
    run.peak_rss_mb = std::max(run.peak_rss_mb, PeakRssMb(pid));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.ok = done == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return run;
}

size_t ExportEvents() {
  const char* env = std::getenv("ANNALS_BENCH_EXPORT_EVENTS");
  size_t n = 1000000;
  if (env != nullptr && absl::SimpleAtoi(env, &n) && n >= 10000) return n;
  return 1000000;
}

void Export(benchmark::State& state) {
  static BenchDir dir;
  const size_t events = ExportEvents();
  static const std::string big = ExportStore(dir, "big", events);
  static const std::string small = ExportStore(dir, "small", events / 10);
  ChildRun tenth = RunExport(small);
  double rss = 0;
  for (auto _ : state) {
    ChildRun run = RunExport(big);
    if (!run.ok || !tenth.ok) return state.SkipWithError("annals export failed");
    rss = std::max(rss, run.peak_rss_mb);
    state.SetIterationTime(run.seconds);
  }
  state.SetItemsProcessed(static_cast<int64_t>(events * state.iterations()));
  state.counters["peak_rss_mb"] = rss;
  state.counters["peak_rss_tenth_mb"] = tenth.peak_rss_mb;
  state.counters["events"] = static_cast<double>(events);
}

const bool tool_registered = [] {
  using Case = void (*)(benchmark::State&);
  const std::pair<const char*, Case> cases[] = {
      {"TOOL-state-10k/annals", StateNoSnapshots},
      {"TOOL-state-10k-snapshot/annals", StateWithSnapshots},
      {"TOOL-replay-10k/annals", Replay10k},
      {"TOOL-replay-last500/annals", ReplayLast500},
      {"TOOL-replay-last500-snapshot/annals", ReplayLast500Snapshot},
      {"TOOL-fold-10k/raw", RawFold}};
  for (auto [name, fn] : cases) {
    benchmark::RegisterBenchmark(name, fn)->Iterations(50)->UseRealTime()->Unit(
        benchmark::kMicrosecond);
  }
  RegisterOnce("TOOL-audit-correlation/annals", AuditIndex);
  RegisterOnce("TOOL-audit-scan/annals", AuditScan);
  benchmark::RegisterBenchmark("TOOL-export-1M/annals", Export)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace annals::bench
