// Test-only: runs the built `annals` binary (ANNALS_TOOL_PATH) as a child
// process and collects its exit code, standard output and standard error
// (RunTool), or runs it in the background and reads its output as it comes
// (ToolProcess), for commands that run until stopped.
#ifndef ANNALS_TESTS_TOOLS_RUN_TOOL_H_
#define ANNALS_TESTS_TOOLS_RUN_TOOL_H_

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace annals::testing {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
  nlohmann::ordered_json json() const {
    nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << out;
    return parsed;
  }
  std::vector<nlohmann::ordered_json> lines() const {
    std::vector<nlohmann::ordered_json> parsed;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      parsed.push_back(nlohmann::ordered_json::parse(line, nullptr, false));
      EXPECT_FALSE(parsed.back().is_discarded()) << "not JSON: " << line;
    }
    return parsed;
  }
};

// A unique temporary file name for a child's standard error.
inline std::string ErrFile() {
  static std::atomic<int> counter{0};
  return (std::filesystem::temp_directory_path() /
          ("annals-tool-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
           ".err"))
      .string();
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string Quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs the tool with `args` (and `env` assignments such as "NAME=value").
inline Result RunTool(const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {}) {
  const std::string err_file = ErrFile();
  std::string command;
  for (const std::string& e : env)
    command += e.substr(0, e.find('=') + 1) + Quote(e.substr(e.find('=') + 1)) + " ";
  command += ANNALS_TOOL_PATH;
  for (const std::string& arg : args) command += " " + Quote(arg);
  command += " 2>" + err_file;
  Result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
    result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = ReadFile(err_file);
  std::filesystem::remove(err_file);
  return result;
}

// The tool running in the background with `args`: its standard output is
// read line by line as it prints (so a test waits for what it waits on, not
// for a while), its standard error goes to a file. The destructor kills and
// reaps it if it still runs.
class ToolProcess {
 public:
  explicit ToolProcess(const std::vector<std::string>& args) : err_file_(ErrFile()) {
    std::vector<std::string> argv_strings = {"annals"};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe(out) != 0) return;
    const int err = ::open(err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::dup2(out[1], STDOUT_FILENO);
      if (err >= 0) ::dup2(err, STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execv(ANNALS_TOOL_PATH, argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    if (err >= 0) ::close(err);
    out_ = out[0];
  }
  ~ToolProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    if (out_ >= 0) ::close(out_);
    std::filesystem::remove(err_file_);
  }
  ToolProcess(const ToolProcess&) = delete;
  ToolProcess& operator=(const ToolProcess&) = delete;

  // The next line it prints, without the newline; nullopt if its output
  // ends first or no whole line comes within `timeout`.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const size_t end = pending_.find('\n'); end != std::string::npos) {
        std::string line = pending_.substr(0, end);
        pending_.erase(0, end + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (out_ < 0 || left.count() <= 0) return std::nullopt;
      pollfd fd{.fd = out_, .events = POLLIN};
      const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return std::nullopt;
      char buffer[4096];
      const ssize_t n = ::read(out_, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;  // end of its output
      pending_.append(buffer, static_cast<size_t>(n));
    }
  }

  void Signal(int signal) {
    if (pid_ > 0 && !reaped_) ::kill(pid_, signal);
  }

  // Waits for it to exit and returns its wait status (WIFEXITED, ...);
  // rest() is then what it printed after the lines read.
  int Wait() {
    if (pid_ <= 0) return -1;
    if (!reaped_) {
      char buffer[4096];
      for (ssize_t n; out_ >= 0 && ((n = ::read(out_, buffer, sizeof(buffer))) > 0 ||
                                    (n < 0 && errno == EINTR));) {
        if (n > 0) pending_.append(buffer, static_cast<size_t>(n));
      }
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    return status_;
  }
  const std::string& rest() const { return pending_; }
  std::string err() const { return ReadFile(err_file_); }

 private:
  const std::string err_file_;
  pid_t pid_ = -1;
  int out_ = -1;
  std::string pending_;  // read, not yet returned by ReadLine
  bool reaped_ = false;
  int status_ = -1;
};

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TOOLS_RUN_TOOL_H_
