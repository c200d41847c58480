// Progress of long work on stderr (export, import, verify, replay, compact,
// projections rebuild): how far, out of how many, how fast and how long is
// left, redrawn on one line at most every 200 ms and only when stderr is a
// terminal, so pipes and log files stay clean.
#ifndef ANNALS_TOOLS_PROGRESS_H_
#define ANNALS_TOOLS_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace annals::tool {

// 12345 -> "12,345".
std::string WithThousands(uint64_t n);

// One progress line, without "\r" or newline: "export 12,345 / 50,000 events
// 8,200/s  ETA 5s" (two spaces between the parts). `total` 0 means unknown:
// no "/ total" and no ETA. No rate or ETA before any time has passed.
std::string FormatProgress(std::string_view label, uint64_t done, uint64_t total,
                           absl::Duration elapsed, std::string_view unit = "events");

// Draws FormatProgress lines on stderr while work goes on. Thread-compatible.
class Progress {
 public:
  // `total` 0: unknown (set it later with set_total).
  explicit Progress(std::string label, uint64_t total = 0, std::string unit = "events");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_total(uint64_t total) { total_ = total; }
  // `done` units so far (a count or a position); redraws if 200 ms passed
  // since the last line.
  void Tick(uint64_t done);
  // As Tick, without its sampling: for callers that report now and then
  // (every so many events, each poll), not per event.
  void Update(uint64_t done);
  // Draws the last line with the final count (when stderr is a terminal)
  // and ends it.
  void Done(uint64_t done);

 private:
  const std::string label_;
  const std::string unit_;
  const bool enabled_;
  const absl::Time start_;
  uint64_t total_;
  uint64_t ticks_ = 0;
  absl::Time last_ = absl::InfinitePast();
  bool shown_ = false;
};

// Progress of work in named steps, as the engine reports it
// (annals::ProgressCallback: Verify, Scavenge): a line per step, labelled
// `label`, in the unit `units` gives for the step (the step's name if none).
// Thread-compatible.
class StepProgress {
 public:
  StepProgress(std::string label, std::map<std::string, std::string, std::less<>> units);
  StepProgress(const StepProgress&) = delete;
  StepProgress& operator=(const StepProgress&) = delete;

  // A ProgressCallback's call: ends the previous step's line if `step` is
  // another one, and redraws (at most every 200 ms).
  void operator()(std::string_view step, uint64_t done, uint64_t total);
  // Ends the last step's line.
  void Done();

 private:
  const std::string label_;
  const std::map<std::string, std::string, std::less<>> units_;
  std::string step_;
  uint64_t done_ = 0;
  std::optional<Progress> current_;
};

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_PROGRESS_H_
