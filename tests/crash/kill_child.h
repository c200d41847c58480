// Test-only: run a child program with a pipe on fd 3, SIGKILL it a random
// moment after its first line, and collect what it wrote. Shared by the
// subscriber and projection crash tests.
#ifndef ANNALS_TESTS_CRASH_KILL_CHILD_H_
#define ANNALS_TESTS_CRASH_KILL_CHILD_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace annals::testing {

inline constexpr int kChildFd = 3;

// Runs `program STORE 3`, kills it `min_ms`..`max_ms` after its first line,
// and returns everything it wrote to fd 3.
inline std::string RunAndKill(const char* program, const std::string& store, std::mt19937_64& rng,
                              int min_ms = 5, int max_ms = 80) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const std::string fd_arg = std::to_string(kChildFd);
  const char* argv[] = {program, store.c_str(), fd_arg.c_str(), nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Async-signal-safe calls only until execv.
    if (::dup2(fds[1], kChildFd) != kChildFd) ::_exit(126);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  const auto now = std::chrono::steady_clock::now;
  auto read_until = [&](std::chrono::steady_clock::time_point until, bool stop_at_line) {
    char buffer[4096];
    while (now() < until) {
      if (stop_at_line && text.find('\n') != std::string::npos) return;
      pollfd p{fds[0], POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now());
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
      const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
      if (n <= 0) return;
      text.append(buffer, n);
    }
  };
  read_until(now() + std::chrono::seconds(30), /*stop_at_line=*/true);
  read_until(now() + std::chrono::milliseconds(min_ms + rng() % (max_ms - min_ms + 1)), false);
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  read_until(now() + std::chrono::seconds(10), false);  // to end of file
  ::close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << program << " ended by itself (status " << status << "): see its stderr";
  return text;
}

}  // namespace annals::testing

#endif  // ANNALS_TESTS_CRASH_KILL_CHILD_H_
