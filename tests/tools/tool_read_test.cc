// The `annals` tool end to end on events: read (protobuf through the
// schema registry, JSON, base64), tail and tail -f beside the running
// writer, and audit through the indexes.
#include <sys/wait.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/run_tool.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// How long a test waits for a line from a tool it runs in the background.
constexpr std::chrono::milliseconds kChildTimeout{30000};

TEST_F(ToolTest, ReadPrintsProtobufAsJsonThroughTheRegistry) {
  Result json = Tool({"--json", "read", "order-1"});
  ASSERT_EQ(json.code, 0) << json.err;
  Json events = json.json();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["type"], "OrderPlaced");
  EXPECT_EQ(events[0]["data"]["customer"], "c-1");
  EXPECT_EQ(events[0]["metadata"]["user"], "alice");
  EXPECT_EQ(events[0]["correlation_id"], "checkout-1");
  EXPECT_EQ(events[1]["data"]["item"]["sku"], "BOOK-1");
  EXPECT_EQ(events[3]["data"]["carrier"], "DHL");
  // JSON payloads as they are; unknown bytes as base64 with the content type.
  Json account = Tool({"--json", "read", "account-7"}).json();
  EXPECT_EQ(account[2]["data"]["overdrawn"], true);
  Json blob = Tool({"--json", "read", "blob-1"}).json();
  EXPECT_EQ(blob[0]["data"]["base64"], "AP8Q");
  EXPECT_EQ(blob[0]["data"]["content_type"], "application/octet-stream");
  // Tables: one line per event under a header.
  Result table = Tool({"read", "order-1", "--from", "2"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("PEN-9"));
  EXPECT_THAT(table.out, Not(HasSubstr("BOOK-1")));
  // $all, newest first.
  std::vector<Json> last_two = Tool({"--jsonl", "read", "--backward", "--limit", "2"}).lines();
  ASSERT_EQ(last_two.size(), 2u);
  EXPECT_EQ(last_two[0]["position"], store_->head().value());
  EXPECT_EQ(last_two[1]["position"], store_->head().value() - 1);
  Result missing = Tool({"read", "order-404"});
  EXPECT_EQ(missing.code, 3);
  EXPECT_THAT(missing.err, HasSubstr("order-404"));
  EXPECT_EQ(Tool({"read", "order-1", "--from", "x"}).code, 2);
}

TEST_F(ToolTest, TailFollowsAppendsOfTheRunningApplication) {
  std::vector<Json> last = Tool({"--jsonl", "tail", "order-1", "-n", "2"}).lines();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0]["revision"], 2);
  EXPECT_EQ(last[1]["revision"], 3);

  // -f: events appended by this process (the writer) while the tool runs,
  // each as soon as the tool has printed the one before (so it follows).
  auto tick = [&](int i) {
    return store_
        ->Append({"live-1",
                  ExpectedRevision::Any(),
                  {Event("Tick", "{\"i\":" + std::to_string(i) + "}")}})
        .status();
  };
  ASSERT_OK(tick(0));
  ToolProcess follow(
      {"--store", StorePath(), "--jsonl", "tail", "live-1", "-n", "1", "-f", "--for", "3"});
  std::string out;
  for (int i = 1; i <= 5; ++i) {
    std::optional<std::string> line = follow.ReadLine(kChildTimeout);
    if (!line) break;  // --for ran out
    out += *line + "\n";
    ASSERT_OK(tick(i));
  }
  const int follow_status = follow.Wait();
  const Result followed{.code = WIFEXITED(follow_status) ? WEXITSTATUS(follow_status) : -1,
                        .out = out + follow.rest(),
                        .err = follow.err()};
  ASSERT_EQ(followed.code, 0) << followed.err;
  std::vector<Json> events = followed.lines();
  // More than the one past event: the rest arrived live, in order, no gaps.
  ASSERT_GT(events.size(), 2u);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["revision"].get<uint64_t>(), events[i - 1]["revision"].get<uint64_t>() + 1);
  }
  // Interrupted (Ctrl-C) once it follows, it stops cleanly: exit 0, not
  // killed by the signal.
  ToolProcess interrupted({"--store", StorePath(), "tail", "-f", "-n", "1"});
  ASSERT_TRUE(interrupted.ReadLine(kChildTimeout).has_value()) << interrupted.err();
  interrupted.Signal(SIGINT);
  const int status = interrupted.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ToolTest, AuditCombinesFiltersThroughTheIndexes) {
  Result table = Tool({"audit", "--correlation", "checkout-1"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("user"));
  EXPECT_THAT(table.out, HasSubstr("alice"));
  Json by_correlation = Tool({"--json", "audit", "--correlation", "checkout-1"}).json();
  EXPECT_EQ(by_correlation.size(), 4u);
  Json bob = Tool({"--json", "audit", "--correlation", "checkout-1", "--meta", "user=bob"}).json();
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0]["type"], "ItemAdded");
  EXPECT_EQ(bob[0]["user"], "bob");
  Json carol_cancels =
      Tool({"--json", "audit", "--type", "OrderCancelled", "--meta", "user=carol"}).json();
  ASSERT_EQ(carol_cancels.size(), 1u);
  EXPECT_EQ(carol_cancels[0]["stream"], "order-2");
  Json placed_in_orders =
      Tool({"--json", "audit", "--category", "order", "--type", "OrderPlaced"}).json();
  EXPECT_EQ(placed_in_orders.size(), 2u);
  Json stream_and_user =
      Tool({"--json", "audit", "--stream", "order-1", "--meta", "user=alice"}).json();
  EXPECT_EQ(stream_and_user.size(), 3u);
  EXPECT_EQ(Tool({"--json", "audit", "--since", "2099-01-01T00:00:00Z"}).json().size(), 0u);
  Json lifecycle = Tool({"--json", "audit", "--stream", "$$temp-9"}).json();
  ASSERT_EQ(lifecycle.size(), 1u);
  EXPECT_EQ(lifecycle[0]["metadata"]["actor"], "ops");
  std::vector<Json> jsonl = Tool({"--jsonl", "audit", "--causation", "cmd-1"}).lines();
  EXPECT_EQ(jsonl.size(), 1u);
  EXPECT_EQ(Tool({"audit", "--since", "yesterday"}).code, 2);
  EXPECT_EQ(Tool({"audit", "--meta", "novalue"}).code, 2);
}

TEST(ToolAuditScaleTest, AnIndexAnswersWithoutAFullScan) {
  // A larger store: 20,000 events, 25 of them in one conversation.
  TempDir dir;
  {
    auto store = EventStore::Open(dir.Sub("store"), TestOptions());
    ASSERT_OK(store.status());
    for (int batch = 0; batch < 200; ++batch) {
      std::vector<EventData> events;
      for (int i = 0; i < 100; ++i) {
        const int n = batch * 100 + i;
        EventData e = Event(n % 800 == 0 ? "Refunded" : "Paid");
        e.correlation_id = n % 800 == 0 ? "refund-run" : "c-" + std::to_string(n);
        e.metadata["user"] = n % 2 ? "alice" : "bob";
        events.push_back(std::move(e));
      }
      ASSERT_OK((*store)
                    ->Append({"payment-" + std::to_string(batch), ExpectedRevision::Any(), events})
                    .status());
    }
  }
  Result run = RunTool(
      {"--store", dir.Sub("store"), "--json", "audit", "--correlation", "refund-run", "--explain"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.json().size(), 25u);
  EXPECT_THAT(run.err, HasSubstr("by_correlation index"));
  EXPECT_THAT(run.err, HasSubstr("examined 25 events"));
  Result by_type = RunTool({"--store", dir.Sub("store"), "--json", "audit", "--type", "Refunded",
                            "--meta", "user=bob", "--explain"});
  ASSERT_EQ(by_type.code, 0) << by_type.err;
  EXPECT_EQ(by_type.json().size(), 25u);
  EXPECT_THAT(by_type.err, HasSubstr("examined 25 events"));
  // Without an index the log is scanned, and --explain says so.
  Result scan = RunTool(
      {"--store", dir.Sub("store"), "--json", "audit", "--meta", "user=nobody", "--explain"});
  EXPECT_THAT(scan.err, HasSubstr("log scan"));
  EXPECT_THAT(scan.err, HasSubstr("examined 20000 events"));
}

}  // namespace
}  // namespace annals::testing
