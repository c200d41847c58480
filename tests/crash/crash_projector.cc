// The child of the projection crash test (projection_sigkill_test.cc). Opens
// a store with sync = true, runs the projection "counts" (events per stream
// and in total, read-modify-write through its own batch) and, on another
// thread, appends to "feed-0".."feed-3", until the test SIGKILLs it. Writes
// "ready\n" on ACK_FD once both run. Exit code 3 on any unexpected error.
//
// Usage: crash_projector STORE_PATH ACK_FD
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "annals/projection.h"

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "crash_projector: %s\n", what.c_str());
  std::_Exit(3);
}

absl::Status Count(const annals::EventRecord& e, annals::ReadModelWriter& rm) {
  for (const std::string& key : {e.stream, std::string("total")}) {
    absl::StatusOr<std::optional<std::string>> current = rm.Get(key);
    if (!current.ok()) return current.status();
    int64_t n = 0;
    if (*current && !absl::SimpleAtoi(**current, &n)) return absl::DataLossError("bad count");
    rm.Put(key, absl::StrCat(n + 1));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  int fd = -1;
  if (argc != 3 || !absl::SimpleAtoi(argv[2], &fd)) Die("usage: crash_projector STORE ACK_FD");
  annals::StoreOptions options;
  options.create_if_missing = true;
  options.sync = true;
  auto store = annals::EventStore::Open(argv[1], options);
  if (!store.ok()) Die(store.status().ToString());
  annals::ProjectionRunner runner(**store);
  if (absl::Status s = runner.Register({.name = "counts", .apply = Count, .batch_size = 32});
      !s.ok()) {
    Die(s.ToString());
  }
  std::thread appender([&] {
    for (uint64_t k = 0;; ++k) {
      annals::EventData event{.type = "Fed", .data = absl::StrCat(k)};
      auto result = (*store)->Append(
          {absl::StrCat("feed-", k % 4), annals::ExpectedRevision::Any(), {event}});
      if (!result.ok()) Die(result.status().ToString());
    }
  });
  const std::string ready = "ready\n";
  if (::write(fd, ready.data(), ready.size()) != static_cast<ssize_t>(ready.size())) Die("write");
  for (;;) {
    absl::SleepFor(absl::Milliseconds(5));
    auto status = runner.Status("counts");
    if (!status.ok() || status->state == annals::ProjectionState::kFailed) {
      Die(status.ok() ? status->error.ToString() : status.status().ToString());
    }
  }
}
