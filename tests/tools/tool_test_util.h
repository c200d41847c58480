// What the tests of the `annals` tool (tool_*_test.cc) share: the example
// store they run the tool against (ToolTest, made once per test suite) and
// the helpers that run the tool on it. The store stays open for writing in
// the test process while the read-only commands run, as an application's
// would.
#ifndef ANNALS_TESTS_TOOLS_TOOL_TEST_UTIL_H_
#define ANNALS_TESTS_TOOLS_TOOL_TEST_UTIL_H_

#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/run_tool.h"

namespace annals::testing {

using Json = nlohmann::ordered_json;

inline const std::string kPlugin = ANNALS_ORDERS_PLUGIN_PATH;

// The example store: two orders through the command layer (protobuf
// payloads, schemas registered, snapshots every 3 events), a JSON account,
// a binary blob, a deleted stream, and two projections that ran to the head.
class ToolTest : public ::testing::Test {
 protected:
  // Makes the example store (tool_test_util.cc).
  static void SetUpTestSuite();
  static void TearDownTestSuite() {
    delete store_;
    delete dir_;
  }

  static std::string StorePath() { return dir_->Sub("store"); }
  // A store of its own (a backup of the example store) for commands that
  // write, which need the store to themselves.
  static std::string PrivateCopy(const std::string& name) {
    const std::string path = dir_->Sub(name);
    EXPECT_OK(Backup(*store_, path));
    return path;
  }
  static Result Tool(std::vector<std::string> args) {
    args.insert(args.begin(), {"--store", StorePath()});
    return RunTool(args);
  }
  static Result ToolWithPlugin(std::vector<std::string> args) {
    args.insert(args.begin(), {"--store", StorePath(), "--plugin", kPlugin});
    return RunTool(args);
  }

  static TempDir* dir_;
  static EventStore* store_;
};

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TOOLS_TOOL_TEST_UTIL_H_
