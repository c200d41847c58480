// Test-only: runs the built `annals` binary (ANNALS_TOOL_PATH) as a child
// process and collects its exit code, standard output and standard error.
#ifndef ANNALS_TESTS_TOOLS_RUN_TOOL_H_
#define ANNALS_TESTS_TOOLS_RUN_TOOL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

inline std::string Quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs the tool with `args` (and `env` assignments such as "NAME=value").
inline Result RunTool(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  static std::atomic<int> counter{0};
  const std::string err_file = (std::filesystem::temp_directory_path() /
                                ("annals-tool-test-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(counter++) + ".err")).string();
  std::string command;
  for (const std::string& e : env) command += e.substr(0, e.find('=') + 1) + Quote(e.substr(e.find('=') + 1)) + " ";
  command += ANNALS_TOOL_PATH;
  for (const std::string& arg : args) command += " " + Quote(arg);
  command += " 2>" + err_file;
  Result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_file);
  std::stringstream text;
  text << err.rdbuf();
  result.err = text.str();
  std::filesystem::remove(err_file);
  return result;
}

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TOOLS_RUN_TOOL_H_
