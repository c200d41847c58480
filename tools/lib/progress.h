// Progress of long work on stderr (export, import, verify, replay, compact,
// projections rebuild): how far, out of how many, how fast and how long is
// left, redrawn on one line at most every 200 ms and only when stderr is a
// terminal, so pipes and log files stay clean.
#ifndef ANNALS_TOOLS_PROGRESS_H_
#define ANNALS_TOOLS_PROGRESS_H_

#include <cstdint>
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

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_PROGRESS_H_
