// The `annals` tool end to end, each subcommand run as a process against
// the example store (tool_test_util.h): the command line itself (help,
// usage errors, exit codes) and the store-level views, info and streams.
#include <sstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/subscription.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ToolTest, HelpAndUsageErrors) {
  Result help = RunTool({"--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* sub :
       {"info", "streams", "read", "tail", "audit", "replay", "state", "diff", "bisect", "export",
        "import", "verify", "backup", "restore", "compact", "schema", "projections"}) {
    EXPECT_THAT(help.out, HasSubstr(sub));
  }
  EXPECT_THAT(help.out, HasSubstr("Exit codes"));
  EXPECT_EQ(RunTool({"replay", "--help"}).code, 0);

  Result unknown = RunTool({"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("annals: "));
  Result no_store = RunTool({"info"});
  EXPECT_EQ(no_store.code, 2);
  EXPECT_THAT(no_store.err, HasSubstr("--store"));
  Result missing = RunTool({"--store", dir_->Sub("nowhere"), "info"});
  EXPECT_EQ(missing.code, 3);
  EXPECT_THAT(missing.err, HasSubstr("no store at"));
  EXPECT_THAT(missing.err, HasSubstr("annals: "));
  EXPECT_EQ(RunTool({"--json", "--jsonl", "--store", StorePath(), "info"}).code, 2);
  EXPECT_EQ(Tool({"state"}).code, 2);  // STREAM is required
  // The store also comes from the environment.
  Result from_env = RunTool({"info"}, {"ANNALS_STORE=" + StorePath()});
  EXPECT_EQ(from_env.code, 0) << from_env.err;
}

TEST_F(ToolTest, InfoDescribesTheStore) {
  Result table = Tool({"info"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("format_version"));
  Result json = Tool({"--json", "info"});
  ASSERT_EQ(json.code, 0) << json.err;
  Json info = json.json();
  EXPECT_EQ(info["head_position"], store_->head().value());
  EXPECT_EQ(info["events_written"], store_->head().value());
  EXPECT_EQ(info["format_version"], kFormatVersion);
  EXPECT_EQ(info["streams"], 5);  // order-1, order-2, account-7, blob-1, temp-9
  EXPECT_EQ(info["deleted_streams"], 1);
  EXPECT_EQ(info["schema_bindings"], 4);
  EXPECT_EQ(info["projections"], 2);
  EXPECT_GT(info["disk_bytes"].get<uint64_t>(), 0u);
}

TEST_F(ToolTest, StreamsListsNamesSizesAndStates) {
  Result table = Tool({"streams", "--prefix", "order-"});
  ASSERT_EQ(table.code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header, first, second, extra;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_THAT(header, HasSubstr("stream"));
  EXPECT_THAT(header, HasSubstr("events"));
  EXPECT_THAT(first, HasSubstr("order-1"));
  EXPECT_THAT(second, HasSubstr("order-2"));
  EXPECT_FALSE(std::getline(lines, extra));

  Json all = Tool({"--json", "streams"}).json();
  std::vector<std::string> names;
  for (const Json& s : all) names.push_back(s["stream"]);
  EXPECT_THAT(names, ::testing::ElementsAre("$$temp-9", "account-7", "blob-1", "order-1", "order-2",
                                            "temp-9"));
  EXPECT_EQ(all[3]["events"], 4);
  EXPECT_EQ(all[3]["last_revision"], 3);
  EXPECT_EQ(all[5]["state"], "deleted");
  EXPECT_EQ(Tool({"--json", "streams", "--limit", "2"}).json().size(), 2u);
  EXPECT_EQ(Tool({"streams", "--limit", "x"}).code, 2);
}

TEST_F(ToolTest, StatsShowsFamiliesSubscribersAndProjectionsWithTheirLag) {
  // A copy with a durable subscriber one event in.
  const std::string path = PrivateCopy("stats-store");
  Position head;
  {
    ASSERT_OK_AND_ASSIGN(auto copy, EventStore::Open(path, TestOptions()));
    ASSERT_OK_AND_ASSIGN(auto sub, copy->Subscribe({.durable_name = "mailer"}));
    ASSERT_OK(sub->Next(absl::Seconds(5)).status());
    ASSERT_OK(sub->SaveCheckpoint());
    sub.reset();
    head = copy->head();
    ASSERT_OK(copy->Close());
  }
  Result table = RunTool({"--store", path, "stats"});
  ASSERT_EQ(table.code, 0) << table.err;
  for (const char* text : {"head_position", "column families", "live_sst_bytes", "estimated_keys",
                           "stream_events", "durable subscribers", "mailer", "$all", "projections",
                           "orders-per-customer", "seconds_behind"}) {
    EXPECT_THAT(table.out, HasSubstr(text));
  }

  Result json = RunTool({"--store", path, "--json", "stats"});
  ASSERT_EQ(json.code, 0) << json.err;
  Json stats = json.json();
  EXPECT_EQ(stats["head_position"], head.value());
  ASSERT_EQ(stats["column_families"].size(), 14u);
  EXPECT_EQ(stats["column_families"][0]["name"], "log");
  EXPECT_GT(stats["estimated_keys"].get<uint64_t>(), 0u);
  ASSERT_EQ(stats["subscribers"].size(), 1u);
  EXPECT_EQ(stats["subscribers"][0]["name"], "mailer");
  EXPECT_EQ(stats["subscribers"][0]["lag"].get<uint64_t>(),
            head.value() - stats["subscribers"][0]["checkpoint"].get<uint64_t>());
  EXPECT_GT(stats["subscribers"][0]["lag"].get<uint64_t>(), 0u);
  ASSERT_EQ(stats["projections"].size(), 2u);
  for (const Json& projection : stats["projections"]) {
    EXPECT_EQ(projection["lag"].get<uint64_t>(),
              head.value() - projection["checkpoint"].get<uint64_t>());
  }
  // The example store itself, open for writing in this process: read-only
  // beside it, as `annals stats` runs beside an application.
  Result beside = Tool({"--json", "stats"});
  ASSERT_EQ(beside.code, 0) << beside.err;
  EXPECT_EQ(beside.json()["head_position"], store_->head().value());
}

}  // namespace
}  // namespace annals::testing
