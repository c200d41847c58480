// The writer process of the crash test (sigkill_test.cc). Opens a store with
// sync = true and appends forever from several threads, reporting every
// acknowledged append on a pipe, until the test SIGKILLs it. Uses the public
// API only.
//
// Usage: crash_writer STORE_PATH ACK_FD [SEED [durable|fast]]
//   ACK_FD: an open file descriptor (the write end of the test's pipe) that
//   receives the acknowledgements; SEED varies the batch sizes and streams;
//   `fast` opens with sync = false (an acknowledged append must still
//   survive the process's death: it is in the OS's page cache).
// Payloads are CrashPayload(stream, revision): JSON, raw bytes or 1 MiB.
//
// Each thread owns streams "crash-<thread>-<k>" (k in 0..7), continues them
// from their heads (the store keeps earlier rounds' events) and appends 1-5
// events at a time with exact expected revisions; every 7th request is an
// AppendMulti over two of its streams. For each acknowledged request it
// writes one line per stream written,
//   "<stream> <first_revision> <last_revision> <first_position> <last_position>\n",
// all lines of the request in ONE write(2) of < PIPE_BUF bytes, so lines
// from different threads never interleave and a line is either wholly in
// the pipe or not at all. Events carry
//   - event id CrashEventId(stream, revision) (deterministic: the checker
//     knows which event belongs at each place), and
//   - metadata "request" (the first part's "<stream>@<first_revision>"),
//     "part"/"parts" (which stream of the request), "batch" (events of this
//     part) and "index" (0-based place in the part),
// so the checker can tell whether any request is partial.
// Any unexpected result is reported on stderr and ends the process with
// exit code 3 (the test then sees an exit instead of its SIGKILL).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "crash_common.h"  // this target has no repository-root include path

namespace annals::crash {
namespace {

constexpr int kThreads = 4;
constexpr int kStreamsPerThread = 8;
constexpr int kMaxBatch = 5;
constexpr uint64_t kMultiEvery = 7;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "crash_writer: %s\n", what.c_str());
  std::_Exit(3);
}

// The events of one part of a request, revisions from `first_revision`.
std::vector<EventData> MakeEvents(const std::string& request_id, int part, int parts,
                                  const std::string& stream, uint64_t first_revision, int count) {
  std::vector<EventData> events;
  for (int i = 0; i < count; ++i) {
    EventData event;
    event.type = "CrashTested";
    event.data = CrashPayload(stream, first_revision + i);
    event.content_type = CrashContentType(first_revision + i);
    event.event_id = CrashEventId(stream, first_revision + i);
    event.metadata = {{"request", request_id},
                      {"part", absl::StrCat(part)},
                      {"parts", absl::StrCat(parts)},
                      {"batch", absl::StrCat(count)},
                      {"index", absl::StrCat(i)}};
    events.push_back(std::move(event));
  }
  return events;
}

std::string AckLine(const std::string& stream, const AppendResult& r) {
  return absl::StrCat(stream, " ", r.first_revision.value(), " ", r.last_revision.value(), " ",
                      r.first_position.value(), " ", r.last_position.value(), "\n");
}

// One stream owned by a thread: its name and the revision it continues at.
struct OwnedStream {
  std::string name;
  uint64_t next_revision = 0;

  ExpectedRevision expected() const {
    return next_revision == 0 ? ExpectedRevision::NoStream()
                              : ExpectedRevision::Exact(Revision(next_revision - 1));
  }
};

// Dies unless `result` is what appending `count` events to `stream` should
// give; then moves the stream on.
void Advance(OwnedStream& stream, int count, const AppendResult& result) {
  if (result.first_revision.value() != stream.next_revision ||
      result.last_revision.value() != stream.next_revision + count - 1 ||
      result.last_position.value() != result.first_position.value() + count - 1) {
    Die(absl::StrCat("append to ", stream.name, " at ", stream.next_revision, " of ", count,
                     " events returned ", AckLine(stream.name, result)));
  }
  stream.next_revision += count;
}

void WriterThread(EventStore& store, int thread, uint64_t seed, int ack_fd) {
  std::mt19937_64 rng(seed + 0x9e3779b97f4a7c15ull * (thread + 1));
  std::vector<OwnedStream> streams(kStreamsPerThread);
  for (int k = 0; k < kStreamsPerThread; ++k) {
    streams[k].name = absl::StrCat("crash-", thread, "-", k);
    absl::StatusOr<StreamInfo> info = store.GetStreamInfo(streams[k].name);
    if (info.ok()) {
      streams[k].next_revision = info->last_revision.value() + 1;
    } else if (info.status().code() != absl::StatusCode::kNotFound) {
      Die(absl::StrCat("GetStreamInfo(", streams[k].name, "): ", info.status().ToString()));
    }
  }
  auto batch_size = [&] { return 1 + static_cast<int>(rng() % kMaxBatch); };
  for (uint64_t step = 1;; ++step) {
    const size_t i = rng() % kStreamsPerThread;
    OwnedStream& first = streams[i];
    const int count = batch_size();
    const std::string request_id = absl::StrCat(first.name, "@", first.next_revision);
    std::string ack;
    if (step % kMultiEvery == 0) {
      // Two of this thread's streams in one atomic request.
      OwnedStream& second = streams[(i + 1 + rng() % (kStreamsPerThread - 1)) % kStreamsPerThread];
      const int second_count = batch_size();
      MultiAppendRequest request;
      request.appends.push_back(
          {first.name, first.expected(),
           MakeEvents(request_id, 0, 2, first.name, first.next_revision, count)});
      request.appends.push_back(
          {second.name, second.expected(),
           MakeEvents(request_id, 1, 2, second.name, second.next_revision, second_count)});
      absl::StatusOr<MultiAppendResult> result = store.AppendMulti(std::move(request));
      if (!result.ok()) Die(absl::StrCat("AppendMulti: ", result.status().ToString()));
      if (result->results.size() != 2 ||
          result->results[1].first_position != result->results[0].last_position.Next()) {
        Die("AppendMulti: the two parts are not adjacent in $all");
      }
      Advance(first, count, result->results[0]);
      Advance(second, second_count, result->results[1]);
      ack = AckLine(first.name, result->results[0]) + AckLine(second.name, result->results[1]);
    } else {
      absl::StatusOr<AppendResult> result =
          store.Append({first.name, first.expected(),
                        MakeEvents(request_id, 0, 1, first.name, first.next_revision, count)});
      if (!result.ok()) Die(absl::StrCat("Append: ", result.status().ToString()));
      Advance(first, count, *result);
      ack = AckLine(first.name, *result);
    }
    // Pipe writes below PIPE_BUF are atomic: all of `ack` or (blocked) none.
    if (::write(ack_fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) {
      Die("cannot write the acknowledgement (has the test gone away?)");
    }
  }
}

}  // namespace
}  // namespace annals::crash

int main(int argc, char** argv) {
  int ack_fd = -1;
  uint64_t seed = 0;
  const std::string mode = argc == 5 ? argv[4] : "durable";
  if (argc < 3 || argc > 5 || !absl::SimpleAtoi(argv[2], &ack_fd) || ack_fd < 0 ||
      (argc >= 4 && !absl::SimpleAtoi(argv[3], &seed)) || (mode != "durable" && mode != "fast")) {
    std::fprintf(stderr, "usage: crash_writer STORE_PATH ACK_FD [SEED [durable|fast]]\n");
    return 2;
  }
  annals::StoreOptions options;
  options.create_if_missing = true;
  options.sync = mode == "durable";
  absl::StatusOr<std::unique_ptr<annals::EventStore>> store =
      annals::EventStore::Open(argv[1], options);
  if (!store.ok()) annals::crash::Die(absl::StrCat("open: ", store.status().ToString()));
  std::vector<std::thread> threads;
  for (int t = 0; t < annals::crash::kThreads; ++t) {
    threads.emplace_back(annals::crash::WriterThread, std::ref(**store), t, seed, ack_fd);
  }
  for (std::thread& thread : threads) thread.join();  // never returns: killed first
  return 0;
}
