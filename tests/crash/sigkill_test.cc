// Durability under SIGKILL. Each round starts crash_writer (sync = true, four
// threads, single and multi-stream appends; see crash_writer.cc) on the same
// store, reads its acknowledgements from a pipe for a random moment, kills it
// with SIGKILL, reopens the store and checks: every acknowledged event is
// where it was acknowledged, with its deterministic id; no request is partial;
// positions are dense; every stream's revisions run from 0 without a gap; the
// stream index and stream infos agree with $all; and the hash chain over the
// raw `log` column family is unbroken.
//
// Payloads are JSON, raw bytes and 1 MiB (checked byte for byte); one round
// in three runs with sync = false; after each round `annals verify` must
// pass too.
//
// ANNALS_CRASH_ROUNDS sets the rounds (default 50); ANNALS_CRASH_SEED replays
// a run (the seed is printed). The test never opens the store while a writer
// runs, and starts writers by fork + immediate execv: this process holds
// RocksDB's background threads after the first check, so the child makes
// only async-signal-safe calls before exec.
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "annals/event_store.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "storage.h"
#include "tests/crash/crash_common.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kDefaultRounds = 50;
// A fresh store every this many rounds keeps each round's full check short.
constexpr int kRoundsPerStore = 50;
// Where the child finds the write end of the acknowledgement pipe.
constexpr int kChildAckFd = 3;
// Bytes of the chain_hash field ending every stored value (docs/FORMAT.md):
// tag (field 15, length-delimited), length 32, SHA-256 digest.
constexpr size_t kChainHashFieldSize = 34;

// One acknowledgement line of crash_writer.
struct Ack {
  std::string stream;
  uint64_t first_revision, last_revision, first_position, last_position;
};

int Rounds() {
  const char* env = std::getenv("ANNALS_CRASH_ROUNDS");
  int rounds = kDefaultRounds;
  if (env != nullptr && (!absl::SimpleAtoi(env, &rounds) || rounds < 1)) rounds = kDefaultRounds;
  return rounds;
}

uint64_t Seed() {
  const char* env = std::getenv("ANNALS_CRASH_SEED");
  uint64_t seed = 0;
  if (env != nullptr && absl::SimpleAtoi(env, &seed)) return seed;
  return (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
}

// Appends what arrives on `fd` within `timeout_ms` to `text`. Returns false
// at end of file (every write end is closed) or on a read error.
bool ReadSome(int fd, int timeout_ms, std::string* text) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, std::max(0, timeout_ms)) <= 0) return true;  // nothing yet, or EINTR
  char chunk[4096];
  const ssize_t n = ::read(fd, chunk, sizeof(chunk));
  if (n < 0) return errno == EINTR;
  if (n == 0) return false;
  text->append(chunk, static_cast<size_t>(n));
  return true;
}

int MillisUntil(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Parses the writer's acknowledgements. Each was one write(2) below
// PIPE_BUF, so the text is whole lines even when the writer died mid-run.
void ParseAcks(const std::string& text, std::vector<Ack>* acks) {
  ASSERT_TRUE(text.empty() || text.back() == '\n') << "a cut acknowledgement: " << text;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    // Debian's Abseil has its own string_view, not std::string_view.
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    Ack ack;
    ASSERT_EQ(fields.size(), 5u) << "bad acknowledgement: " << line;
    ack.stream = std::string(fields[0]);
    ASSERT_TRUE(absl::SimpleAtoi(fields[1], &ack.first_revision) &&
                absl::SimpleAtoi(fields[2], &ack.last_revision) &&
                absl::SimpleAtoi(fields[3], &ack.first_position) &&
                absl::SimpleAtoi(fields[4], &ack.last_position))
        << "bad acknowledgement: " << line;
    ASSERT_LE(ack.first_revision, ack.last_revision) << line;
    ASSERT_EQ(ack.last_position - ack.first_position, ack.last_revision - ack.first_revision)
        << line;
    acks->push_back(std::move(ack));
  }
}

// Fed the log in position order, checks that it holds whole requests
// only, per the writer's metadata: a request's parts follow each other, a
// part's events are consecutive in one stream, and nothing is cut off.
class RequestChecker {
 public:
  void Add(const EventRecord& r) {
    std::string request = Meta(r, "request");
    int part = -1, parts = -1, batch = -1, index = -1;
    ASSERT_TRUE(
        absl::SimpleAtoi(Meta(r, "part"), &part) && absl::SimpleAtoi(Meta(r, "parts"), &parts) &&
        absl::SimpleAtoi(Meta(r, "batch"), &batch) && absl::SimpleAtoi(Meta(r, "index"), &index))
        << "position " << r.position << " lacks the writer's metadata";
    if (index_ < batch_) {
      // Inside a part: the next event of the same part.
      ASSERT_TRUE(request == request_ && part == part_ && batch == batch_ && index == index_ &&
                  r.stream == stream_)
          << "request " << request_ << " (part " << part_ << ", " << batch_
          << " events) is cut off at position " << r.position << " by " << request << " part "
          << part << " index " << index;
    } else if (part_ + 1 < parts_) {
      // A part is complete and the request has another.
      ASSERT_TRUE(request == request_ && part == part_ + 1 && parts == parts_ && index == 0)
          << "request " << request_ << " lacks part " << part_ + 1 << " at position " << r.position;
    } else {
      // A new request, named after its first event.
      ASSERT_TRUE(part == 0 && index == 0)
          << "position " << r.position << " starts mid-request " << request;
      ASSERT_EQ(request, absl::StrCat(r.stream, "@", r.revision.value()));
      request_ = request;
      parts_ = parts;
    }
    if (index == 0) {
      part_ = part;
      batch_ = batch;
      index_ = 0;
      stream_ = r.stream;
    }
    ++index_;
  }

  // Asserts the log did not end inside a request.
  void Finish() const {
    ASSERT_TRUE(index_ == batch_ && part_ + 1 == parts_)
        << "the last request, " << request_ << ", is partial";
  }

 private:
  static std::string Meta(const EventRecord& r, const std::string& key) {
    auto it = r.metadata.find(key);
    return it == r.metadata.end() ? "" : it->second;
  }

  std::string request_, stream_;
  int part_ = 0, parts_ = 1, batch_ = 0, index_ = 0;
};

class CrashTest : public ::testing::Test {
 protected:
  // Starts crash_writer on `path`; sets `*pid` and `*ack_fd` (the pipe's
  // read end, ours to close).
  static void Spawn(const std::string& path, uint64_t writer_seed, bool durable, pid_t* pid,
                    int* ack_fd) {
    int fds[2];
    // Close-on-exec on both ends: the child keeps only the copy it moves to
    // kChildAckFd, so the read end returns EOF once the child is gone.
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0) << std::strerror(errno);
    // Everything the child needs is built before fork.
    const std::string fd_arg = std::to_string(kChildAckFd);
    const std::string seed_arg = std::to_string(writer_seed);
    const char* argv[] = {
        ANNALS_CRASH_WRITER_PATH,     path.c_str(), fd_arg.c_str(), seed_arg.c_str(),
        durable ? "durable" : "fast", nullptr};
    const pid_t child = ::fork();
    if (child == 0) {
      // Async-signal-safe calls only until execv.
      if (fds[1] == kChildAckFd) {
        if (::fcntl(kChildAckFd, F_SETFD, 0) != 0) ::_exit(126);
      } else if (::dup2(fds[1], kChildAckFd) != kChildAckFd) {  // dup2 clears close-on-exec
        ::_exit(126);
      }
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::close(fds[1]);
    if (child < 0) {
      ::close(fds[0]);
      FAIL() << "fork: " << std::strerror(errno);
    }
    *pid = child;
    *ack_fd = fds[0];
  }

  // Runs the writer on `path` and SIGKILLs it: `early`, at a random moment
  // 0-30 ms after exec (during open, recovery or the first appends);
  // otherwise 5-60 ms after its first acknowledgement. Appends every
  // acknowledgement it wrote before dying to `*acks`.
  static void RunAndKill(const std::string& path, bool early, bool durable, std::mt19937_64& rng,
                         std::vector<Ack>* acks) {
    pid_t pid = -1;
    int fd = -1;
    ASSERT_NO_FATAL_FAILURE(Spawn(path, rng(), durable, &pid, &fd));
    std::string text;
    bool open = true;
    Clock::time_point kill_at;
    if (early) {
      kill_at = Clock::now() +
                std::chrono::microseconds(std::uniform_int_distribution<int>(0, 30000)(rng));
    } else {
      // The first acknowledgement: the writer is open and appending.
      const Clock::time_point give_up = Clock::now() + std::chrono::seconds(30);
      while (open && text.find('\n') == std::string::npos && Clock::now() < give_up) {
        open = ReadSome(fd, MillisUntil(give_up), &text);
      }
      kill_at = Clock::now() +
                std::chrono::microseconds(std::uniform_int_distribution<int>(5000, 60000)(rng));
    }
    while (open && Clock::now() < kill_at) open = ReadSome(fd, MillisUntil(kill_at), &text);
    ::kill(pid, SIGKILL);
    int status = 0;
    pid_t waited;
    do {
      waited = ::waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    // Acknowledgements written before the kill count: drain to end of file.
    const Clock::time_point drain_until = Clock::now() + std::chrono::seconds(10);
    while (open && Clock::now() < drain_until) open = ReadSome(fd, MillisUntil(drain_until), &text);
    ::close(fd);
    ASSERT_EQ(waited, pid) << std::strerror(errno);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended by itself (wait status " << status << "): see its stderr above";
    ASSERT_FALSE(open) << "the acknowledgement pipe is still open after the writer died";
    const size_t before = acks->size();
    ASSERT_NO_FATAL_FAILURE(ParseAcks(text, acks));
    if (!early) {
      ASSERT_GT(acks->size(), before) << "the writer acknowledged nothing in 30 s";
    }
  }

  // Opens the store at `path` (no writer running) and checks it against
  // every acknowledgement since the store was created.
  static void Check(const std::string& path, const std::vector<Ack>& acks) {
    StoreOptions options;  // create_if_missing = false: the writer made it
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventStore> store, EventStore::Open(path, options));
    // stream -> position of each revision, from $all.
    std::map<std::string, std::vector<uint64_t>> positions;
    uint64_t head = 0;
    RequestChecker requests;
    {
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventIterator> it, store->ReadAll());
      for (; it->Valid(); it->Next()) {
        const EventRecord& r = it->record();
        ASSERT_EQ(r.position.value(), head + 1) << "positions are not dense";
        head = r.position.value();
        std::vector<uint64_t>& stream = positions[r.stream];
        ASSERT_EQ(r.revision.value(), stream.size())
            << r.stream << " jumps to revision " << r.revision << " at position " << r.position;
        stream.push_back(head);
        ASSERT_EQ(r.event_id, crash::CrashEventId(r.stream, r.revision.value()))
            << "a foreign event at " << r.stream << "@" << r.revision;
        ASSERT_TRUE(r.data == crash::CrashPayload(r.stream, r.revision.value()))
            << "the payload of " << r.stream << "@" << r.revision << " changed (" << r.data.size()
            << " bytes)";
        ASSERT_EQ(r.content_type, crash::CrashContentType(r.revision.value()));
        ASSERT_NO_FATAL_FAILURE(requests.Add(r));
      }
      ASSERT_OK(it->status());
    }  // an iterator keeps the files open until it is gone
    ASSERT_NO_FATAL_FAILURE(requests.Finish());
    ASSERT_EQ(store->head().value(), head);

    // The stream index and stream infos agree with $all.
    for (const auto& [stream, stream_positions] : positions) {
      ASSERT_OK_AND_ASSIGN(StreamInfo info, store->GetStreamInfo(stream));
      EXPECT_EQ(info.last_revision.value() + 1, stream_positions.size()) << stream;
      EXPECT_EQ(info.last_position.value(), stream_positions.back()) << stream;
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventIterator> it, store->ReadStream(stream));
      uint64_t revision = 0;
      for (; it->Valid(); it->Next(), ++revision) {
        ASSERT_LT(revision, stream_positions.size()) << stream << " reads past its last revision";
        ASSERT_EQ(it->record().revision.value(), revision) << stream;
        ASSERT_EQ(it->record().position.value(), stream_positions[revision]) << stream;
        ASSERT_EQ(it->record().event_id, crash::CrashEventId(stream, revision)) << stream;
      }
      ASSERT_OK(it->status());
      ASSERT_EQ(revision, stream_positions.size()) << stream << " reads short";
    }

    // Every acknowledged event is where it was acknowledged (its id was
    // checked above for every event).
    for (const Ack& ack : acks) {
      const std::vector<uint64_t>& stream_positions = positions[ack.stream];
      ASSERT_LT(ack.last_revision, stream_positions.size())
          << "acknowledged " << ack.stream << "@" << ack.last_revision << " is lost";
      for (uint64_t r = ack.first_revision; r <= ack.last_revision; ++r) {
        ASSERT_EQ(stream_positions[r], ack.first_position + (r - ack.first_revision))
            << ack.stream << "@" << r << " is not at its acknowledged position";
      }
    }
    ASSERT_OK(store->Close());
    store.reset();
    ASSERT_NO_FATAL_FAILURE(CheckRawLog(path, head));
    ASSERT_NO_FATAL_FAILURE(CheckWithTheTool(path));
  }

  // `annals verify`, as an operator would run it after a crash: every
  // table file's checksums, the chain, every index entry.
  static void CheckWithTheTool(const std::string& path) {
#ifndef ANNALS_TOOL_PATH
    return;  // built without the tool
#else
    const std::string command = std::string(ANNALS_TOOL_PATH) + " --store '" + path +
                                "' --json verify >" + path + ".verify 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream out(path + ".verify");
    const std::string text((std::istreambuf_iterator<char>(out)), {});
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "annals verify: " << text;
    ASSERT_NE(text.find("\"result\": \"ok\""), std::string::npos) << text;
#endif
  }

  // Walks the raw `log` column family: keys are positions 1..head, and each
  // value ends with SHA-256(previous hash || SHA-256(the value's other bytes)),
  // recomputed here independently of the engine's code. `stream_events`
  // holds exactly one entry per event too.
  static void CheckRawLog(const std::string& path, uint64_t head) {
    bool created = false;
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<internal::Storage> storage,
                         internal::Storage::Open(path, StoreOptions(), &created));
    std::unique_ptr<rocksdb::Iterator> it(
        storage->db()->NewIterator(rocksdb::ReadOptions(), storage->cf(internal::Cf::kLog)));
    std::string previous(32, '\0');  // the genesis "previous hash"
    uint64_t count = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      ASSERT_EQ(it->key().ToString(), internal::LogKey(Position(count)))
          << "log key " << count << " is not position " << count;
      const std::string_view value(it->value().data(), it->value().size());
      ASSERT_GE(value.size(), kChainHashFieldSize) << "position " << count;
      const std::string_view field = value.substr(value.size() - kChainHashFieldSize);
      ASSERT_EQ(static_cast<uint8_t>(field[0]), (15 << 3) | 2) << "position " << count;
      ASSERT_EQ(static_cast<uint8_t>(field[1]), 32) << "position " << count;
      // chain_hash = SHA-256(previous || SHA-256(hashed bytes)), docs/FORMAT.md.
      const std::string_view hashed = value.substr(0, value.size() - kChainHashFieldSize);
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int digest_size = 0;
      ASSERT_EQ(
          EVP_Digest(hashed.data(), hashed.size(), digest, &digest_size, EVP_sha256(), nullptr), 1);
      std::string input = previous;
      input.append(reinterpret_cast<const char*>(digest), digest_size);
      ASSERT_EQ(EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha256(), nullptr),
                1);
      const std::string stored(field.substr(2));
      ASSERT_EQ(stored, std::string(reinterpret_cast<const char*>(digest), digest_size))
          << "hash chain broken at position " << count;
      previous = stored;
    }
    ASSERT_TRUE(it->status().ok()) << it->status().ToString();
    ASSERT_EQ(count, head);
    it.reset(storage->db()->NewIterator(rocksdb::ReadOptions(),
                                        storage->cf(internal::Cf::kStreamEvents)));
    uint64_t stream_entries = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++stream_entries;
    ASSERT_TRUE(it->status().ok()) << it->status().ToString();
    ASSERT_EQ(stream_entries, head) << "stream_events and log disagree";
    it.reset();  // before the database closes
  }
};

TEST_F(CrashTest, AcknowledgedAppendsSurviveSigkill) {
  const int rounds = Rounds();
  const uint64_t seed = Seed();
  RecordProperty("seed", std::to_string(seed));
  std::cerr << "crash test: " << rounds << " rounds, ANNALS_CRASH_SEED=" << seed << "\n";
  std::mt19937_64 rng(seed);
  const Clock::time_point start = Clock::now();
  std::unique_ptr<TempDir> dir;
  std::vector<Ack> acks;  // since the current store was created
  size_t total_acks = 0;
  int early_kills = 0, fast_rounds = 0;
  for (int round = 0; round < rounds; ++round) {
    const bool fresh = round % kRoundsPerStore == 0;
    if (fresh) {
      dir = std::make_unique<TempDir>();
      acks.clear();
    }
    // Some kills land before any acknowledgement: in open, recovery or the
    // first appends. Not on a fresh store, where a kill before RocksDB
    // writes its CURRENT file would leave no store to check.
    const bool early = !fresh && rng() % 8 == 0;
    early_kills += early;
    // One round in three with sync = false: a process crash keeps what was
    // acknowledged all the same (the OS has it).
    const bool durable = round % 3 != 2;
    fast_rounds += !durable;
    const std::string path = dir->Sub("store");
    const size_t before = acks.size();
    ASSERT_NO_FATAL_FAILURE(RunAndKill(path, early, durable, rng, &acks))
        << "round " << round << ", ANNALS_CRASH_SEED=" << seed;
    total_acks += acks.size() - before;
    ASSERT_NO_FATAL_FAILURE(Check(path, acks))
        << "round " << round << ", ANNALS_CRASH_SEED=" << seed << ", store " << path;
  }
  std::cerr << "crash test: " << total_acks << " acknowledgements checked over " << rounds
            << " rounds (" << early_kills << " early kills, " << fast_rounds
            << " with sync = false) in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()
            << " ms\n";
}

}  // namespace
}  // namespace annals::testing
