#include "progress.h"

#include <unistd.h>

#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace annals::tool {
namespace {

// "5s", "2m05s", "1h02m".
std::string ShortDuration(uint64_t seconds) {
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%dh%02dm", seconds / 3600, seconds / 60 % 60);
}

}  // namespace

std::string WithThousands(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string FormatProgress(std::string_view label, uint64_t done, uint64_t total,
                           absl::Duration elapsed, std::string_view unit) {
  std::string line = absl::StrCat(std::string(label), " ", WithThousands(done));
  if (total > 0) absl::StrAppend(&line, " / ", WithThousands(total));
  absl::StrAppend(&line, " ", std::string(unit));
  const double seconds = absl::ToDoubleSeconds(elapsed);
  if (seconds <= 0 || done == 0) return line;
  const double rate = static_cast<double>(done) / seconds;
  absl::StrAppend(&line, "  ", WithThousands(static_cast<uint64_t>(std::llround(rate))), "/s");
  if (total > done) {
    const double left = static_cast<double>(total - done) / rate;
    absl::StrAppend(&line, "  ETA ", ShortDuration(static_cast<uint64_t>(std::ceil(left))));
  }
  return line;
}

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      enabled_(::isatty(STDERR_FILENO)),
      start_(absl::Now()),
      total_(total) {}

Progress::~Progress() {
  if (shown_) std::cerr << "\n";
}

void Progress::Tick(uint64_t done) {
  // The clock is read once per 1,024 ticks: cheap in a loop over events.
  if (!enabled_ || (++ticks_ & 1023) != 0) return;
  Update(done);
}

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  const absl::Time now = absl::Now();
  if (now - last_ < absl::Milliseconds(200)) return;
  last_ = now;
  shown_ = true;
  // "\033[K" clears what a longer earlier line left.
  std::cerr << "\r" << FormatProgress(label_, done, total_, now - start_, unit_) << "\033[K"
            << std::flush;
}

void Progress::Done(uint64_t done) {
  if (!enabled_) return;
  std::cerr << "\r" << FormatProgress(label_, done, 0, absl::Now() - start_, unit_)
            << ", done\033[K\n";
  shown_ = false;
}

StepProgress::StepProgress(std::string label, std::map<std::string, std::string, std::less<>> units)
    : label_(std::move(label)), units_(std::move(units)) {}

void StepProgress::operator()(std::string_view step, uint64_t done, uint64_t total) {
  if (!current_ || step != step_) {
    Done();
    const auto unit = units_.find(step);
    step_ = std::string(step);
    current_.emplace(label_, total, unit == units_.end() ? step_ : unit->second);
  }
  done_ = done;
  current_->set_total(total);
  current_->Update(done);
}

void StepProgress::Done() {
  if (current_) current_->Done(done_);
  current_.reset();
}

}  // namespace annals::tool
