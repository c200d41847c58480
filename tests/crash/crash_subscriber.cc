// The subscriber process of the subscriber crash test
// (subscriber_sigkill_test.cc). Opens a store with sync = true, appends to
// streams "feed-0".."feed-3" from one thread, and from another follows them
// with the durable subscription "crash-sub" (filter: category "feed"),
// until the test SIGKILLs it. Uses the public API only.
//
// Usage: crash_subscriber STORE_PATH ACK_FD
// On ACK_FD, one write(2) per line:
//   "E <position>\n"  an event handled (delivered by Next),
//   "C <position>\n"  a checkpoint saved (SaveCheckpoint returned OK).
// Any unexpected result ends the process with exit code 3.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/event_store.h"

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "crash_subscriber: %s\n", what.c_str());
  std::_Exit(3);
}

void Report(int fd, const std::string& line) {
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    Die("short write");
}

}  // namespace

int main(int argc, char** argv) {
  int fd = -1;
  if (argc != 3 || !absl::SimpleAtoi(argv[2], &fd)) Die("usage: crash_subscriber STORE ACK_FD");
  annals::StoreOptions options;
  options.create_if_missing = true;
  options.sync = true;
  auto store = annals::EventStore::Open(argv[1], options);
  if (!store.ok()) Die(store.status().ToString());
  std::thread appender([&] {
    for (uint64_t k = 0;; ++k) {
      annals::EventData event{.type = "Fed", .data = absl::StrCat("{\"k\":", k, "}")};
      auto result = (*store)->Append(
          {absl::StrCat("feed-", k % 4), annals::ExpectedRevision::Any(), {event}});
      if (!result.ok()) Die(result.status().ToString());
    }
  });
  auto sub = (*store)->Subscribe(
      {.filter = {.categories = {"feed"}}, .durable_name = "crash-sub", .batch_size = 16});
  if (!sub.ok()) Die(sub.status().ToString());
  for (uint64_t handled = 1;; ++handled) {
    auto event = (*sub)->Next(absl::Seconds(10));
    if (!event.ok()) Die(event.status().ToString());
    Report(fd, absl::StrCat("E ", event->position.value(), "\n"));
    if (handled % 3 == 0) {
      if (absl::Status s = (*sub)->SaveCheckpoint(); !s.ok()) Die(s.ToString());
      Report(fd, absl::StrCat("C ", (*sub)->reached().value(), "\n"));
    }
  }
}
