// The `annals` tool end to end on time travel: replay, state, diff and
// bisect, with the example domain's plugin fold and with the generic JSON
// fold.
#include <map>
#include <string>
#include <vector>

#include "annals/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(ToolTest, ReplayShowsEachEventWithStateAndDiff) {
  Result run = ToolWithPlugin({"--jsonl", "replay", "order-1"});
  ASSERT_EQ(run.code, 0) << run.err;
  std::vector<Json> steps = run.lines();
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0]["event"]["type"], "OrderPlaced");
  EXPECT_EQ(steps[0]["state"]["status"], "OPEN");
  EXPECT_EQ(steps[1]["state"]["total_cents"], "2500");
  EXPECT_EQ(steps[3]["state"]["status"], "SHIPPED");
  const Json& shipped = steps[3]["changes"];
  ASSERT_EQ(shipped.size(), 1u);
  EXPECT_EQ(shipped[0]["path"], "/status");
  EXPECT_EQ(shipped[0]["op"], "changed");
  EXPECT_EQ(shipped[0]["before"], "OPEN");
  EXPECT_EQ(shipped[0]["after"], "SHIPPED");
  // A range by revision, by position and by time.
  std::vector<Json> middle =
      ToolWithPlugin({"--jsonl", "replay", "order-1", "--from", "1", "--to", "2"}).lines();
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0]["changes"][0]["path"], "/items/0");  // state before revision 1 came first
  const uint64_t position2 = steps[2]["event"]["position"];
  std::vector<Json> by_position =
      ToolWithPlugin({"--jsonl", "replay", "order-1", "--from", "@" + std::to_string(position2)})
          .lines();
  ASSERT_EQ(by_position.size(), 2u);
  EXPECT_EQ(by_position[0]["event"]["revision"], 2);
  const std::string time1 = steps[1]["event"]["recorded_at"];
  std::vector<Json> by_time =
      ToolWithPlugin({"--jsonl", "replay", "order-1", "--to", time1}).lines();
  ASSERT_EQ(by_time.size(), 2u);
  // The table: headline, then the diff lines.
  Result table = ToolWithPlugin({"--no-color", "replay", "order-1"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("order-1@3"));
  EXPECT_THAT(table.out, HasSubstr("~ /status: \"OPEN\" -> \"SHIPPED\""));
  EXPECT_THAT(table.out, Not(HasSubstr("\033[")));
  // Without a plugin: the generic JSON fold merges JSON payloads.
  std::vector<Json> generic = Tool({"--jsonl", "replay", "account-7"}).lines();
  ASSERT_EQ(generic.size(), 3u);
  EXPECT_EQ(generic[2]["state"], Json::parse(R"({"owner":"ann","balance":-20,"overdrawn":true})"));
  EXPECT_EQ(generic[2]["changes"].size(), 2u);
  EXPECT_EQ(Tool({"replay", "order-1", "--from", "soon"}).code, 2);
  EXPECT_EQ(ToolWithPlugin({"replay", "order-1", "--fold", "nope"}).code, 2);
  EXPECT_EQ(Tool({"replay", "order-404"}).code, 3);
  Result missing_plugin =
      RunTool({"--store", StorePath(), "--plugin", dir_->Sub("nope.so"), "replay", "order-1"});
  EXPECT_EQ(missing_plugin.code, 3);
  EXPECT_THAT(missing_plugin.err, HasSubstr("not found"));
  // A file that is no shared library.
  Result bad_plugin =
      RunTool({"--store", StorePath(), "--plugin", StorePath() + "/CURRENT", "replay", "order-1"});
  EXPECT_EQ(bad_plugin.code, 2);
  EXPECT_THAT(bad_plugin.err, HasSubstr("cannot load plugin"));
  // The entry point is versioned: a plugin of another API version is refused.
  Result other_version = RunTool(
      {"--store", StorePath(), "--plugin", ANNALS_OTHER_VERSION_PLUGIN_PATH, "replay", "order-1"});
  EXPECT_EQ(other_version.code, 2);
  EXPECT_THAT(other_version.err, HasSubstr("plugin API version 999"));
}

TEST_F(ToolTest, StateAtRevisionPositionAndTime) {
  Json at1 = ToolWithPlugin({"--json", "state", "order-1", "--at-revision", "1"}).json();
  EXPECT_EQ(at1["revision"], 1);
  EXPECT_EQ(at1["state"]["total_cents"], "2500");
  EXPECT_EQ(at1["state"]["items"].size(), 1u);
  // The head, from the snapshot plus its tail; the same without snapshots.
  auto snapshots = ListSnapshots(*store_, "order-1");
  ASSERT_OK(snapshots.status());
  ASSERT_FALSE(snapshots->empty());
  Json head = ToolWithPlugin({"--json", "state", "order-1"}).json();
  EXPECT_EQ(head["revision"], 3);
  EXPECT_EQ(head["snapshot_revision"], snapshots->back().revision.value());
  EXPECT_EQ(head["events_folded"], 3 - snapshots->back().revision.value());
  Json folded = ToolWithPlugin({"--json", "state", "order-1", "--no-snapshots"}).json();
  EXPECT_EQ(folded["events_folded"], 4);
  EXPECT_TRUE(folded["snapshot_revision"].is_null());
  EXPECT_EQ(folded["state"], head["state"]);
  EXPECT_EQ(folded["state"]["status"], "SHIPPED");
  // Position and time select the same point as the revision.
  const uint64_t position1 = at1["position"];
  Json by_position =
      ToolWithPlugin({"--json", "state", "order-1", "--at-position", std::to_string(position1)})
          .json();
  EXPECT_EQ(by_position["revision"], 1);
  Json by_time =
      ToolWithPlugin({"--json", "state", "order-1", "--as-of", at1["recorded_at"]}).json();
  EXPECT_EQ(by_time["revision"], 1);
  EXPECT_EQ(by_time["state"], at1["state"]);
  // Before the first event the stream did not exist (tool_cli_test.cc).
  EXPECT_EQ(ToolWithPlugin({"state", "order-1", "--as-of", "2000-01-01T00:00:00Z"}).code, 3);
  Result table = ToolWithPlugin({"state", "order-1", "--at-revision", "1"});
  EXPECT_THAT(table.out, HasSubstr("\"total_cents\": \"2500\""));
  Result beyond = ToolWithPlugin({"state", "order-1", "--at-revision", "9"});
  EXPECT_EQ(beyond.code, 3);
  EXPECT_THAT(beyond.err, HasSubstr("has no revision 9 (the nearest before it is 3)"));
  EXPECT_EQ(
      Tool({"state", "order-1", "--at-revision", "1", "--as-of", "2000-01-01T00:00:00Z"}).code, 2);
  EXPECT_EQ(Tool({"state", "order-1", "--as-of", "noon"}).code, 2);
}

TEST_F(ToolTest, DiffBetweenTwoPoints) {
  Json diff = ToolWithPlugin({"--json", "diff", "order-1", "0", "3"}).json();
  EXPECT_EQ(diff["from"]["revision"], 0);
  EXPECT_EQ(diff["to"]["revision"], 3);
  std::map<std::string, Json> changes;
  for (const Json& c : diff["changes"]) changes[c["path"]] = c;
  EXPECT_EQ(changes["/status"]["before"], "OPEN");
  EXPECT_EQ(changes["/status"]["after"], "SHIPPED");
  EXPECT_EQ(changes["/items/1"]["op"], "added");
  EXPECT_EQ(changes["/total_cents"]["after"], "3495");
  Result table = ToolWithPlugin({"--no-color", "diff", "order-1", "0", "3"});
  EXPECT_THAT(table.out, HasSubstr("revision 0 -> revision 3"));
  EXPECT_THAT(table.out, HasSubstr("+ /items/1"));
  EXPECT_EQ(Tool({"diff", "order-1", "0"}).code, 2);
  EXPECT_EQ(Tool({"diff", "order-1", "0", "later"}).code, 2);
}

TEST_F(ToolTest, BisectFindsTheFirstEventWhereAPredicateHolds) {
  Json found =
      ToolWithPlugin({"--json", "bisect", "order-1", "--until", "/total_cents > 3000"}).json();
  EXPECT_EQ(found["found"], true);
  EXPECT_EQ(found["event"]["revision"], 2);
  EXPECT_EQ(found["before"]["total_cents"], "2500");
  EXPECT_EQ(found["after"]["total_cents"], "3495");
  Result table =
      ToolWithPlugin({"--no-color", "bisect", "order-1", "--until", "/status == \"SHIPPED\""});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("order-1@3"));
  // The generic fold: the first withdrawal below zero.
  Json overdrawn = Tool({"--json", "bisect", "account-7", "--until", "/balance < 0"}).json();
  EXPECT_EQ(overdrawn["event"]["revision"], 2);
  Result never = ToolWithPlugin({"bisect", "order-1", "--until", "/total_cents > 999999"});
  EXPECT_EQ(never.code, 3);
  EXPECT_THAT(never.err, HasSubstr("never holds"));
  EXPECT_EQ(Tool({"bisect", "order-1", "--until", "total > 3"}).code, 2);
  EXPECT_EQ(Tool({"bisect", "order-1", "--until", "/total ~ 3"}).code, 2);
  EXPECT_EQ(Tool({"bisect", "order-1"}).code, 2);
}

}  // namespace
}  // namespace annals::testing
