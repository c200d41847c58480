// Durability under SIGKILL. Each round starts crash_writer (sync = true,
// several threads, single and multi-stream appends) on the same store, lets
// it run for a random moment, kills it with SIGKILL, reopens the store and
// checks: every acknowledged event is present where it was acknowledged,
// no append is partial, positions are dense, revisions contiguous, and the
// hash chain is unbroken. ANNALS_CRASH_ROUNDS sets the rounds (default 50).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gtest/gtest.h"
#include "hash_chain.h"
#include "storage.h"
#include "tests/crash/crash_common.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

using ::annals::testing::TempDir;

struct Ack {
  std::string stream;
  uint64_t first_revision, last_revision, first_position, last_position;
};

int Rounds() {
  const char* env = std::getenv("ANNALS_CRASH_ROUNDS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 50;
}

// Reads whatever is available on `fd` into `buffer`, waiting up to
// `timeout_ms` for the first byte. Returns false at end of file.
bool ReadSome(int fd, std::string* buffer, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return true;
  char chunk[4096];
  ssize_t n = ::read(fd, chunk, sizeof(chunk));
  if (n <= 0) return false;
  buffer->append(chunk, static_cast<size_t>(n));
  return true;
}

std::vector<Ack> ParseAcks(const std::string& text) {
  std::vector<Ack> acks;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a line cut by the kill was never acknowledged whole
    std::istringstream fields(line);
    Ack ack;
    fields >> ack.stream >> ack.first_revision >> ack.last_revision >> ack.first_position >>
        ack.last_position;
    if (!fields.fail()) acks.push_back(ack);
  }
  return acks;
}

class CrashTest : public ::testing::Test {
 protected:
  // Runs the writer on `path` for a random moment, kills it, returns the
  // acknowledgements it wrote before dying.
  std::vector<Ack> RunAndKill(const std::string& path, std::mt19937_64& rng) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_t child = ::fork();
    if (child == 0) {
      // Only async-signal-safe calls between fork and exec.
      int ack_fd = ::dup(fds[1]);  // dup drops O_CLOEXEC
      char fd_arg[16];
      int len = 0;
      for (int v = ack_fd; v > 0 || len == 0; v /= 10) fd_arg[len++] = static_cast<char>('0' + v % 10);
      for (int i = 0; i < len / 2; ++i) std::swap(fd_arg[i], fd_arg[len - 1 - i]);
      fd_arg[len] = '\0';
      const char* args[] = {ANNALS_CRASH_WRITER_PATH, path.c_str(), fd_arg, nullptr};
      ::execv(args[0], const_cast<char* const*>(args));
      ::_exit(127);
    }
    EXPECT_GT(child, 0);
    ::close(fds[1]);

    std::string acks;
    // Wait for the first acknowledgement: the writer is up and appending.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (acks.empty() && std::chrono::steady_clock::now() < give_up) {
      if (!ReadSome(fds[0], &acks, 100)) break;
    }
    EXPECT_FALSE(acks.empty()) << "the writer acknowledged nothing (see its stderr)";
    // Then let it run a random 0-40 ms more, draining the pipe meanwhile.
    const auto kill_at = std::chrono::steady_clock::now() +
                         std::chrono::microseconds(std::uniform_int_distribution<int>(0, 40000)(rng));
    while (std::chrono::steady_clock::now() < kill_at) ReadSome(fds[0], &acks, 1);
    ::kill(child, SIGKILL);
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer exited by itself (status " << status << "): it failed";
    while (ReadSome(fds[0], &acks, 0)) {
    }
    ::close(fds[0]);
    return ParseAcks(acks);
  }

  // Checks the reopened store against everything acknowledged so far.
  void Check(const std::string& path, const std::vector<Ack>& all_acks) {
    StoreOptions options;
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, options));
    // (stream, revision) -> position, from the log; the log must be dense,
    // revisions contiguous, every append whole.
    std::map<std::string, std::vector<uint64_t>> positions;
    ASSERT_OK_AND_ASSIGN(auto it, store->ReadAll());
    uint64_t expected_position = 1;
    int open_batch = 0, open_index = 0;
    std::string open_stream;
    for (; it->Valid(); it->Next(), ++expected_position) {
      const EventRecord& r = it->record();
      ASSERT_EQ(r.position.value(), expected_position) << "positions are not dense";
      std::vector<uint64_t>& stream_positions = positions[r.stream];
      ASSERT_EQ(r.revision.value(), stream_positions.size()) << r.stream << " skips a revision";
      stream_positions.push_back(r.position.value());
      ASSERT_EQ(r.event_id, crash::CrashEventId(r.stream, r.revision.value()))
          << "wrong event at " << r.stream << "@" << r.revision;
      const int batch = std::stoi(r.metadata.at("batch"));
      const int index = std::stoi(r.metadata.at("index"));
      if (open_index < open_batch) {
        // Inside an append: the next event must be its next part.
        ASSERT_EQ(r.stream, open_stream) << "append of " << open_stream << " is partial";
        ASSERT_EQ(index, open_index) << "append of " << open_stream << " is partial";
      } else {
        ASSERT_EQ(index, 0) << "event " << r.position << " starts mid-append";
        open_batch = batch;
        open_stream = r.stream;
        open_index = 0;
      }
      ++open_index;
    }
    ASSERT_OK(it->status());
    ASSERT_EQ(open_index, open_batch) << "the last append in the log is partial";
    ASSERT_EQ(expected_position - 1, store->head().value());

    for (const Ack& ack : all_acks) {
      const std::vector<uint64_t>& stream_positions = positions[ack.stream];
      ASSERT_GT(stream_positions.size(), ack.last_revision)
          << "acknowledged " << ack.stream << "@" << ack.last_revision << " is lost";
      for (uint64_t r = ack.first_revision; r <= ack.last_revision; ++r) {
        ASSERT_EQ(stream_positions[r], ack.first_position + (r - ack.first_revision))
            << ack.stream << "@" << r << " is not where it was acknowledged";
      }
      ASSERT_EQ(stream_positions[ack.last_revision], ack.last_position);
    }
    // The iterator keeps the files open (and locked) until it is gone.
    it.reset();
    ASSERT_OK(store->Close());
    store.reset();
    CheckHashChain(path, expected_position - 1);
  }

  // Recomputes the chain over the raw `log` column family.
  void CheckHashChain(const std::string& path, uint64_t head) {
    bool created = false;
    ASSERT_OK_AND_ASSIGN(auto storage, internal::Storage::Open(path, StoreOptions(), &created));
    std::unique_ptr<rocksdb::Iterator> it(
        storage->db()->NewIterator(rocksdb::ReadOptions(), storage->cf(internal::Cf::kLog)));
    internal::ChainHash previous = internal::kGenesisChainHash;
    uint64_t count = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++count) {
      auto split = internal::SplitStoredValue(std::string_view(it->value().data(), it->value().size()));
      ASSERT_TRUE(split.has_value());
      ASSERT_EQ(internal::ComputeChainHash(previous, split->hashed_bytes), split->stored_hash)
          << "hash chain broken at entry " << count;
      previous = split->stored_hash;
    }
    ASSERT_EQ(count, head);
  }
};

TEST_F(CrashTest, AcknowledgedAppendsSurviveSigkill) {
  const int rounds = Rounds();
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  RecordProperty("seed", std::to_string(seed));
  std::cerr << "crash test: " << rounds << " rounds, seed " << seed << "\n";
  // A fresh store every 50 rounds keeps each round's full check short.
  std::unique_ptr<TempDir> dir;
  std::vector<Ack> acks;
  size_t total_acks = 0;
  for (int round = 0; round < rounds; ++round) {
    if (round % 50 == 0) {
      dir = std::make_unique<TempDir>();
      acks.clear();
    }
    const std::string path = dir->Sub("store");
    std::vector<Ack> new_acks = RunAndKill(path, rng);
    ASSERT_FALSE(new_acks.empty()) << "round " << round;
    total_acks += new_acks.size();
    acks.insert(acks.end(), new_acks.begin(), new_acks.end());
    Check(path, acks);
    if (HasFatalFailure()) {
      ADD_FAILURE() << "round " << round << " (seed " << seed << ")";
      return;
    }
  }
  std::cerr << "crash test: " << total_acks << " acknowledged appends checked\n";
}

}  // namespace
}  // namespace annals
