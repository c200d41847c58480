// The writer process of the crash test (sigkill_test.cc). Appends forever
// with sync = true from several threads and reports every acknowledged
// append on a pipe, until the test SIGKILLs it.
//
// Usage: crash_writer STORE_PATH ACK_FD
// Each acknowledged append is reported as one line per stream written,
//   "<stream> <first_revision> <last_revision> <first_position> <last_position>\n",
// all lines of one append in a single write(2) (< PIPE_BUF, so lines from
// different threads never interleave). Events carry deterministic ids
// (CrashEventId) and metadata "batch" (events in this stream's part of the
// append) and "index" (0-based place in it), so the checker can tell whether
// any append is partial.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "crash_common.h"

namespace {

constexpr int kThreads = 4;
constexpr int kStreamsPerThread = 8;

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "crash_writer: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::_Exit(3);
}

std::vector<annals::EventData> MakeEvents(const std::string& stream, uint64_t first_revision,
                                          int count) {
  std::vector<annals::EventData> events;
  for (int i = 0; i < count; ++i) {
    annals::EventData event;
    event.type = "CrashTested";
    event.data = absl::StrCat("{\"stream\":\"", stream, "\",\"i\":", i, "}");
    event.event_id = annals::crash::CrashEventId(stream, first_revision + i);
    event.metadata = {{"batch", absl::StrCat(count)}, {"index", absl::StrCat(i)}};
    events.push_back(std::move(event));
  }
  return events;
}

std::string AckLine(const std::string& stream, const annals::AppendResult& r) {
  return absl::StrCat(stream, " ", r.first_revision.value(), " ", r.last_revision.value(), " ",
                      r.first_position.value(), " ", r.last_position.value(), "\n");
}

void WriterThread(annals::EventStore& store, int thread, int ack_fd) {
  std::vector<std::string> streams;
  std::vector<annals::ExpectedRevision> expected;
  for (int k = 0; k < kStreamsPerThread; ++k) {
    streams.push_back(absl::StrCat("crash-", thread, "-", k));
    auto info = store.GetStreamInfo(streams.back());
    if (info.ok()) {
      expected.push_back(annals::ExpectedRevision::Exact(info->last_revision));
    } else if (info.status().code() == absl::StatusCode::kNotFound) {
      expected.push_back(annals::ExpectedRevision::NoStream());
    } else {
      Die("stream info", info.status());
    }
  }
  auto next_revision = [&](int k) {
    return expected[k].kind() == annals::ExpectedRevision::Kind::kExact
               ? expected[k].revision().value() + 1
               : 0;
  };
  for (uint64_t step = 0;; ++step) {
    const int k = static_cast<int>(step % kStreamsPerThread);
    const int count = 1 + static_cast<int>((step * 7 + thread) % 5);
    std::string ack;
    if (step % 7 == 3) {
      // A multi-stream append over two of this thread's streams.
      const int k2 = (k + 1) % kStreamsPerThread;
      annals::MultiAppendRequest request;
      request.appends.push_back({streams[k], expected[k], MakeEvents(streams[k], next_revision(k), count)});
      request.appends.push_back({streams[k2], expected[k2], MakeEvents(streams[k2], next_revision(k2), 2)});
      auto result = store.AppendMulti(std::move(request));
      if (!result.ok()) Die("multi-stream append", result.status());
      expected[k] = annals::ExpectedRevision::Exact(result->results[0].last_revision);
      expected[k2] = annals::ExpectedRevision::Exact(result->results[1].last_revision);
      ack = AckLine(streams[k], result->results[0]) + AckLine(streams[k2], result->results[1]);
    } else {
      auto result = store.Append({streams[k], expected[k], MakeEvents(streams[k], next_revision(k), count)});
      if (!result.ok()) Die("append", result.status());
      expected[k] = annals::ExpectedRevision::Exact(result->last_revision);
      ack = AckLine(streams[k], *result);
    }
    if (::write(ack_fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) {
      std::_Exit(4);  // the test has gone away
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: crash_writer STORE_PATH ACK_FD\n");
    return 2;
  }
  annals::StoreOptions options;
  options.create_if_missing = true;
  options.sync = true;
  auto store = annals::EventStore::Open(argv[1], options);
  if (!store.ok()) Die("open", store.status());
  const int ack_fd = std::atoi(argv[2]);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(WriterThread, std::ref(**store), t, ack_fd);
  }
  for (std::thread& thread : threads) thread.join();  // never: killed first
  return 0;
}
