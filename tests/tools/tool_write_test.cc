// The `annals` tool writing and tracing events: `append` (expected
// revisions, payload checks, a busy store), `event ID` and `trace
// CORRELATION_ID`.
#include <fstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/run_tool.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

class WriteToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.Sub("store");
    auto s = EventStore::Open(store_, {.create_if_missing = true});
    ASSERT_OK(s.status());
  }
  Result Tool(std::vector<std::string> args) {
    args.insert(args.begin(), {"--store", store_});
    return RunTool(args);
  }
  Position Head() {
    auto s = EventStore::Open(store_, {.read_only = true});
    EXPECT_OK(s.status());
    return s.ok() ? (*s)->head() : Position();
  }
  TempDir dir_;
  std::string store_;
};

TEST_F(WriteToolTest, AppendWritesThroughTheApiAndPrintsPositionAndRevision) {
  Result first = Tool({"--json", "append", "acct-1", "--type", "Opened", "--data",
                       R"({"owner":"bob"})", "--expected", "no-stream", "--meta", "user=alice",
                       "--id", "0190d7a2-0000-7000-8000-0000000000aa"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(first.json()["position"], 1);
  EXPECT_EQ(first.json()["revision"], 0);
  Result second =
      Tool({"append", "acct-1", "--type", "Deposited", "--data", R"({"n":5})", "--expected", "0"});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("position  2"));
  auto s = EventStore::Open(store_, {.read_only = true});
  ASSERT_OK(s.status());
  auto found = (*s)->FindEvent("acct-1", *EventId::Parse("0190d7a2-0000-7000-8000-0000000000aa"));
  ASSERT_OK(found.status());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->data, R"({"owner":"bob"})");
  EXPECT_EQ((*found)->metadata.at("user"), "alice");
  // A binary payload from a file.
  std::ofstream(dir_.Sub("blob.bin"), std::ios::binary) << std::string("\x00\xff", 2);
  Result blob = Tool({"append", "blob-1", "--type", "Blob", "--data", "@" + dir_.Sub("blob.bin"),
                      "--content-type", "application/octet-stream"});
  EXPECT_EQ(blob.code, 0) << blob.err;
}

TEST_F(WriteToolTest, AppendRefusalsUseTheDocumentedExitCodesAndWriteNothing) {
  ASSERT_EQ(Tool({"append", "acct-1", "--type", "Opened", "--data", "{}"}).code, 0);
  Result stale = Tool({"append", "acct-1", "--type", "X", "--data", "{}", "--expected", "5"});
  EXPECT_EQ(stale.code, 1);
  EXPECT_THAT(stale.err, HasSubstr("expected 5, actual 0"));
  Result missing =
      Tool({"append", "acct-2", "--type", "X", "--data", "{}", "--expected", "exists"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("actual no stream"));
  Result bad_json = Tool({"append", "acct-1", "--type", "X", "--data", "{bad"});
  EXPECT_EQ(bad_json.code, 2);
  EXPECT_THAT(bad_json.err, HasSubstr("not JSON"));
  EXPECT_EQ(Tool({"append", "acct-1", "--type", "X", "--data", "{}", "--expected", "soon"}).code,
            2);
  EXPECT_EQ(Tool({"append", "acct-1", "--type", "X", "--data", "{}", "--id", "nope"}).code, 2);
  EXPECT_EQ(Tool({"append", "acct-1", "--type", "X", "--data", "{}", "--meta", "novalue"}).code, 2);
  Result no_file = Tool({"append", "acct-1", "--type", "X", "--data", "@" + dir_.Sub("none")});
  EXPECT_EQ(no_file.code, 3);
  EXPECT_EQ(Head(), Position(1));
  // The application holds the store: busy.
  auto held = EventStore::Open(store_, {});
  ASSERT_OK(held.status());
  EXPECT_EQ(Tool({"append", "acct-1", "--type", "X", "--data", "{}"}).code, 4);
}

TEST_F(WriteToolTest, EventShowsOneEventByItsIdAndTraceItsCausationTree) {
  const std::string placed = "0190d7a2-0000-7000-8000-000000000001";
  const std::string reserved = "0190d7a2-0000-7000-8000-000000000002";
  ASSERT_EQ(Tool({"append", "order-1", "--type", "Placed", "--data", R"({"sku":"B-1"})", "--id",
                  placed, "--correlation", "checkout-1", "--causation", "cmd-place-1"})
                .code,
            0);
  ASSERT_EQ(Tool({"append", "stock-1", "--type", "Reserved", "--data", "{}", "--id", reserved,
                  "--correlation", "checkout-1", "--causation", placed})
                .code,
            0);
  ASSERT_EQ(Tool({"append", "mail-1", "--type", "Sent", "--data", "{}", "--correlation",
                  "checkout-1", "--causation", reserved})
                .code,
            0);
  Result event = Tool({"--json", "event", placed});
  ASSERT_EQ(event.code, 0) << event.err;
  EXPECT_EQ(event.json()["position"], 1);
  EXPECT_EQ(event.json()["stream"], "order-1");
  EXPECT_EQ(event.json()["type"], "Placed");
  EXPECT_EQ(event.json()["data"]["sku"], "B-1");
  EXPECT_EQ(Tool({"--json", "event", placed, "--stream", "order-1"}).json()["revision"], 0);
  EXPECT_EQ(Tool({"event", "0190d7a2-0000-7000-8000-0000000000ff"}).code, 3);
  EXPECT_EQ(Tool({"event", "not-a-uuid"}).code, 2);

  Result trace = Tool({"trace", "checkout-1"});
  ASSERT_EQ(trace.code, 0) << trace.err;
  EXPECT_THAT(trace.out, HasSubstr("command cmd-place-1\n  1  order-1@0  Placed"));
  EXPECT_THAT(trace.out, HasSubstr("\n    2  stock-1@0  Reserved"));
  EXPECT_THAT(trace.out, HasSubstr("\n      3  mail-1@0  Sent"));
  Result tree = Tool({"--json", "trace", "checkout-1"});
  ASSERT_EQ(tree.code, 0) << tree.err;
  const nlohmann::ordered_json nested = tree.json();
  const nlohmann::ordered_json& root = nested["roots"][0];
  EXPECT_EQ(root["command"], "cmd-place-1");
  EXPECT_EQ(root["children"][0]["type"], "Placed");
  EXPECT_EQ(root["children"][0]["children"][0]["type"], "Reserved");
  EXPECT_EQ(root["children"][0]["children"][0]["children"][0]["type"], "Sent");
  EXPECT_EQ(Tool({"trace", "checkout-none"}).code, 3);
}

}  // namespace
}  // namespace annals::testing
