// Durable subscribers across crashes: crash_subscriber appends and follows
// its own log with a durable subscription; the test SIGKILLs it at random
// moments and restarts it. Within a run delivery is exactly once (positions
// consecutive); across a crash it is at least once: a restart resumes
// after a checkpoint no older than the last one acknowledged (saved
// checkpoints are durable) and no newer than the last event handled (no
// event is skipped). ANNALS_CRASH_ROUNDS sets the rounds (default 20).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

constexpr int kChildFd = 3;

// Runs crash_subscriber on `path`, kills it 5-80 ms after its first line,
// and returns everything it wrote.
std::string RunAndKill(const std::string& path, std::mt19937_64& rng) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const std::string fd_arg = std::to_string(kChildFd);
  const char* argv[] = {ANNALS_CRASH_SUBSCRIBER_PATH, path.c_str(), fd_arg.c_str(), nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::dup2(fds[1], kChildFd) != kChildFd) ::_exit(126);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  auto read_until = [&](std::chrono::steady_clock::time_point until, bool stop_at_line) {
    char buffer[4096];
    while (std::chrono::steady_clock::now() < until) {
      if (stop_at_line && text.find('\n') != std::string::npos) return true;
      pollfd p{fds[0], POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
      const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
      if (n <= 0) return false;
      text.append(buffer, n);
    }
    return true;
  };
  const auto now = std::chrono::steady_clock::now;
  read_until(now() + std::chrono::seconds(30), /*stop_at_line=*/true);
  read_until(now() + std::chrono::milliseconds(5 + rng() % 75), false);
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  read_until(now() + std::chrono::seconds(10), false);  // to end of file
  ::close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "crash_subscriber ended by itself (status " << status << "): see its stderr";
  return text;
}

TEST(SubscriberCrashTest, DurableSubscribersResumeAtLeastOnceAfterSigkill) {
  const char* rounds_env = std::getenv("ANNALS_CRASH_ROUNDS");
  const int rounds = rounds_env ? std::max(1, std::atoi(rounds_env) / 25) : 20;
  testing::TempDir dir;
  const std::string path = dir.Sub("store");
  std::mt19937_64 rng(7);
  uint64_t last_checkpoint = 0, last_handled = 0, handled_total = 0;
  for (int round = 0; round < rounds; ++round) {
    std::istringstream lines(RunAndKill(path, rng));
    std::string kind;
    uint64_t position = 0;
    uint64_t previous = 0;
    bool first = true;
    while (lines >> kind >> position) {
      if (kind == "C") {
        // Every event matches the filter: the checkpoint is the last handled.
        ASSERT_EQ(position, previous) << "round " << round << ": checkpoint is not the last event handled";
        last_checkpoint = position;
        continue;
      }
      ASSERT_EQ(kind, "E");
      if (first) {
        // Resumes after a checkpoint at least as new as the last one
        // acknowledged, and skips nothing handled-or-not after it.
        ASSERT_GT(position, last_checkpoint) << "round " << round << ": resumed before a saved checkpoint";
        ASSERT_LE(position, last_handled + 1) << "round " << round << ": skipped events";
        first = false;
      } else {
        ASSERT_EQ(position, previous + 1) << "round " << round << ": gap or duplicate in one run";
      }
      previous = position;
      last_handled = std::max(last_handled, position);
      ++handled_total;
    }
    ASSERT_FALSE(first) << "round " << round << " handled nothing";
  }
  auto store = EventStore::Open(path, testing::TestOptions());
  ASSERT_OK(store.status());
  ASSERT_OK_AND_ASSIGN(auto subscribers, (*store)->ListSubscribers());
  ASSERT_EQ(subscribers.size(), 1u);
  EXPECT_GE(subscribers[0].checkpoint.value(), last_checkpoint);
  EXPECT_LE(subscribers[0].checkpoint.value(), last_handled);
  std::printf("%d rounds: %lu events handled, last checkpoint %lu\n", rounds,
              static_cast<unsigned long>(handled_total), static_cast<unsigned long>(last_checkpoint));
}

}  // namespace
}  // namespace annals
