// Runs every benchmark, then prints one table pairing each annals case with
// its raw-RocksDB baseline from the same run, as a ratio, beside the target
// from shared/PERF.md. Pass --benchmark_repetitions=3 for medians.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

struct Target {
  const char* workload;
  const char* target;
};
constexpr Target kTargets[] = {
    {"W1-durable", ">= 0.9x"}, {"W1-fast", ">= 0.8x"},           {"W2-durable", ">= 1.0x"},
    {"W2-fast", ">= 1.0x"},    {"W3", ">= 0.8x, p99 <= 150 us"}, {"W4", ">= 0.7x"},
    {"W5", ">= 2x"},
};

// Console output as usual, plus a record of each case's rate (the median
// when repetitions are asked for).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool aggregate = run.run_type == Run::RT_Aggregate;
      if (aggregate && run.aggregate_name != "median") continue;
      std::string name = run.run_name.function_name;
      Result& result = results_[name];
      if (!aggregate && result.from_median) continue;
      result.from_median = aggregate;
      auto rate = run.counters.find("items_per_second");
      if (rate != run.counters.end()) result.rate = rate->second.value;
      auto p50 = run.counters.find("p50_us");
      auto p99 = run.counters.find("p99_us");
      if (p50 != run.counters.end()) result.p50 = p50->second.value;
      const char* share_names[] = {"load_pct", "decide_pct", "append_pct"};
      for (int i = 0; i < 3; ++i) {
        auto share = run.counters.find(share_names[i]);
        if (share != run.counters.end()) result.shares[i] = share->second.value;
      }
      if (p99 != run.counters.end()) result.p99 = p99->second.value;
      for (const char* extra : {"events_folded", "peak_rss_mb", "peak_rss_tenth_mb", "events"}) {
        auto c = run.counters.find(extra);
        if (c != run.counters.end()) result.extra[extra] = c->second.value;
      }
    }
  }

  void PrintTable() const {
    std::printf(
        "\n| workload | annals (/s) | raw RocksDB (/s) | ratio | target | annals p50/p99 us | raw "
        "p50/p99 us |\n");
    std::printf("| --- | ---: | ---: | ---: | --- | ---: | ---: |\n");
    for (const Target& t : kTargets) {
      auto ours = results_.find(std::string(t.workload) + "/annals");
      auto raw = results_.find(std::string(t.workload) + "/raw");
      if (ours == results_.end() || raw == results_.end()) continue;
      std::printf("| %s | %.0f | %.0f | %.2fx | %s | %s | %s |\n", t.workload, ours->second.rate,
                  raw->second.rate, raw->second.rate > 0 ? ours->second.rate / raw->second.rate : 0,
                  t.target, Latency(ours->second).c_str(), Latency(raw->second).c_str());
    }
    // The layout check of DESIGN.md §3: our W3 against a raw pointer index.
    auto ours = results_.find("W3/annals");
    auto pointer = results_.find("W3-pointer/raw");
    if (ours != results_.end() && pointer != results_.end() && pointer->second.rate > 0) {
      std::printf(
          "| W3 vs raw pointer layout | %.0f | %.0f | %.2fx | covering copy pays | %s | %s |\n",
          ours->second.rate, pointer->second.rate, ours->second.rate / pointer->second.rate,
          Latency(ours->second).c_str(), Latency(pointer->second).c_str());
    }
    // Issue [2]: index reads against ReadAll of the same store, and
    // subscriptions (no raw counterpart: rates and latencies as measured).
    auto all = results_.find("IDX-ReadAll/annals");
    std::printf("\n| read | events/s | vs ReadAll |\n| --- | ---: | ---: |\n");
    for (const char* name : {"IDX-ReadAll/annals", "IDX-Category/annals", "IDX-Type/annals",
                             "IDX-FilteredAll/annals"}) {
      auto r = results_.find(name);
      if (r == results_.end() || all == results_.end() || all->second.rate <= 0) continue;
      std::printf("| %s | %.0f | %.2fx |\n", name, r->second.rate,
                  r->second.rate / all->second.rate);
    }
    auto w1raw = results_.find("W1-fast/raw");
    std::printf(
        "\n| subscriptions | rate (/s) | p50/p99 us | note |\n| --- | ---: | ---: | --- |\n");
    for (const char* name : {"SUB-latency-1/annals", "SUB-latency-8/annals",
                             "SUB-live-appends/annals", "SUB-live-delivery/annals"}) {
      auto r = results_.find(name);
      if (r == results_.end()) continue;
      std::string note;
      if (std::string(name).find("live") != std::string::npos && w1raw != results_.end() &&
          w1raw->second.rate > 0) {
        char text[64];
        std::snprintf(text, sizeof(text), "%.2fx W1-fast/raw", r->second.rate / w1raw->second.rate);
        note = text;
      }
      std::printf("| %s | %.0f | %s | %s |\n", name, r->second.rate, Latency(r->second).c_str(),
                  note.c_str());
    }
    // Issue [3]: aggregate loads and command handling.
    std::printf(
        "\n| write side | rate (/s) | p50/p99 us | load / decide / append %% |\n"
        "| --- | ---: | ---: | --- |\n");
    for (const char* name : {"LOAD-1000/annals", "LOAD-1000-snapshot/annals", "CMD-1-fast/annals",
                             "CMD-8-fast/annals", "CMD-1-durable/annals", "CMD-8-durable/annals"}) {
      auto r = results_.find(name);
      if (r == results_.end()) continue;
      std::string shares;
      if (r->second.shares[0] >= 0) {
        char text[64];
        std::snprintf(text, sizeof(text), "%.0f / %.0f / %.0f", r->second.shares[0],
                      r->second.shares[1], r->second.shares[2]);
        shares = text;
      }
      std::printf("| %s | %.0f | %s | %s |\n", name, r->second.rate, Latency(r->second).c_str(),
                  shares.c_str());
    }
    // Issue [4]: projections. Catch-up rates are per projection; W4/raw is
    // the raw log scan of the same run.
    auto w4raw = results_.find("W4/raw");
    std::printf(
        "\n| read side | events/s | vs W4/raw | p50/p99 us |\n| --- | ---: | ---: | ---: |\n");
    auto w1 = results_.find("W1-fast/annals");
    if (auto inl = results_.find("PROJ-inline-W1/annals");
        inl != results_.end() && w1 != results_.end() && w1->second.rate > 0) {
      std::printf("| W1-fast with an inline projection | %.0f | %.2fx W1-fast/annals | |\n",
                  inl->second.rate, inl->second.rate / w1->second.rate);
    }
    for (const char* name :
         {"PROJ-catchup-1/annals", "PROJ-catchup-4/annals", "PROJ-live-lag/annals"}) {
      auto r = results_.find(name);
      if (r == results_.end()) continue;
      // Live lag: the rate is the appends' (W1-fast), not a scan.
      const bool scan = std::string(name).find("catchup") != std::string::npos;
      std::string ratio = "(appends/s)";
      if (scan && w4raw != results_.end() && w4raw->second.rate > 0) {
        char text[32];
        std::snprintf(text, sizeof(text), "%.2fx", r->second.rate / w4raw->second.rate);
        ratio = text;
      }
      std::printf("| %s | %.0f | %s | %s |\n", name, r->second.rate, ratio.c_str(),
                  Latency(r->second).c_str());
    }
    // Issue [5]: the tool. State and replay latencies on a 10,000-event
    // stream against a raw scan-and-fold of the same payloads; audit by
    // correlation id against the same query as a scan; export through the
    // tool binary against the raw log scan (W4/raw), with its peak memory.
    std::printf(
        "\n| tool | rate (/s) | baseline (/s) | ratio | p50/p99 us | note |\n"
        "| --- | ---: | ---: | ---: | ---: | --- |\n");
    auto fold = results_.find("TOOL-fold-10k/raw");
    for (const char* name :
         {"TOOL-state-10k/annals", "TOOL-state-10k-snapshot/annals", "TOOL-replay-10k/annals",
          "TOOL-replay-last500/annals", "TOOL-replay-last500-snapshot/annals"}) {
      auto r = results_.find(name);
      if (r == results_.end() || fold == results_.end() || fold->second.rate <= 0) continue;
      std::string note = "states/s vs raw scan+fold of 10k";
      if (auto f = r->second.extra.find("events_folded"); f != r->second.extra.end()) {
        note += ", " + std::to_string(static_cast<int>(f->second)) + " events folded";
      }
      std::printf("| %s | %.1f | %.1f | %.2fx | %s | %s |\n", name, r->second.rate,
                  fold->second.rate, r->second.rate / fold->second.rate, Latency(r->second).c_str(),
                  note.c_str());
    }
    auto index = results_.find("TOOL-audit-correlation/annals");
    auto scan = results_.find("TOOL-audit-scan/annals");
    if (index != results_.end() && scan != results_.end() && scan->second.rate > 0) {
      std::printf(
          "| TOOL-audit-correlation vs scan | %.1f | %.1f | %.0fx | %s | queries/s; scan p50/p99 "
          "%s |\n",
          index->second.rate, scan->second.rate, index->second.rate / scan->second.rate,
          Latency(index->second).c_str(), Latency(scan->second).c_str());
    }
    auto exported = results_.find("TOOL-export-1M/annals");
    if (exported != results_.end() && w4raw != results_.end() && w4raw->second.rate > 0) {
      const auto& x = exported->second.extra;
      auto get = [&](const char* key) {
        auto it = x.find(key);
        return it == x.end() ? 0.0 : it->second;
      };
      std::printf(
          "| TOOL-export (annals binary) | %.0f | %.0f | %.2fx | | events/s vs W4/raw; %.0f "
          "events; peak RSS %.1f MB (%.1f MB for a tenth) |\n",
          exported->second.rate, w4raw->second.rate, exported->second.rate / w4raw->second.rate,
          get("events"), get("peak_rss_mb"), get("peak_rss_tenth_mb"));
    }
  }

 private:
  struct Result {
    double rate = 0, p50 = -1, p99 = -1;
    double shares[3] = {-1, -1, -1};  // load / decide / append, percent
    std::map<std::string, double> extra;
    bool from_median = false;
  };
  static std::string Latency(const Result& r) {
    if (r.p50 < 0) return "";
    char text[64];
    std::snprintf(text, sizeof(text), "%.0f / %.0f", r.p50, r.p99);
    return text;
  }
  std::map<std::string, Result> results_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintTable();
  benchmark::Shutdown();
  return 0;
}
