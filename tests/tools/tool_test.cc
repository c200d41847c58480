// The `annals` tool end to end: each subcommand runs as a process against a
// store made by the example orders domain, and its tables, JSON and exit
// codes are checked. The store stays open for writing in this process while
// the read-only commands run, as an application's would.
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/projection.h"
#include "annals/proto_codec.h"
#include "annals/schemas.h"
#include "annals/snapshot.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "lib/payload.h"
#include "nlohmann/json.hpp"
#include "orders/orders.h"
#include "orders/projections.h"
#include "storage.h"
#include "tests/testing/descriptors.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/run_tool.h"

namespace annals {
namespace {

namespace orders = examples::orders;
using Json = nlohmann::ordered_json;
using ::annals::testing::Result;
using ::annals::testing::Quote;
using ::annals::testing::RunTool;
using ::annals::testing::Event;
using ::annals::testing::TempDir;
using ::annals::testing::TestOptions;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kPlugin = ANNALS_ORDERS_PLUGIN_PATH;

// The example store: two orders through the command layer (protobuf
// payloads, schemas registered, snapshots every 3 events), a JSON account,
// a binary blob, a deleted stream, and two projections that ran to the head.
class ToolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto store = EventStore::Open(dir_->Sub("store"), TestOptions());
    ASSERT_OK(store.status());
    store_ = store->release();
    EventStore& s = *store_;
    ASSERT_OK((RegisterProtoSchemas<orders::OrderPlaced, orders::ItemAdded, orders::OrderShipped,
                                    orders::OrderCancelled>(s)));
    orders::OrderHandler handler(s, orders::OrderDecider{}, orders::OrderEvents{}, orders::OrderSnapshots{1},
                                 {.snapshots = {.every_events = 3}});
    auto item = [](const std::string& sku, int quantity, int64_t price) {
      orders::AddItem add;
      add.mutable_item()->set_sku(sku);
      add.mutable_item()->set_quantity(quantity);
      add.mutable_item()->set_price_cents(price);
      return add;
    };
    orders::PlaceOrder place;
    place.set_customer("c-1");
    const CommandContext alice_places{.command_id = "cmd-1", .correlation_id = "checkout-1",
                                      .metadata = {{"user", "alice"}}};
    const CommandContext alice{.correlation_id = "checkout-1", .metadata = {{"user", "alice"}}};
    const CommandContext bob{.correlation_id = "checkout-1", .metadata = {{"user", "bob"}}};
    ASSERT_OK(handler.Handle("order-1", place, alice_places).status());
    ASSERT_OK(handler.Handle("order-1", item("BOOK-1", 2, 1250), alice).status());
    ASSERT_OK(handler.Handle("order-1", item("PEN-9", 5, 199), bob).status());
    orders::ShipOrder ship;
    ship.set_carrier("DHL");
    ASSERT_OK(handler.Handle("order-1", ship, alice).status());
    place.set_customer("c-2");
    const CommandContext carol{.correlation_id = "checkout-2", .metadata = {{"user", "carol"}}};
    ASSERT_OK(handler.Handle("order-2", place, carol).status());
    ASSERT_OK(handler.Handle("order-2", item("MUG-3", 1, 900), carol).status());
    orders::CancelOrder cancel;
    cancel.set_reason("changed mind");
    ASSERT_OK(handler.Handle("order-2", cancel, carol).status());
    handler.FlushSnapshots();

    for (const char* data : {R"({"owner":"ann","balance":0})", R"({"balance":100})",
                             R"({"balance":-20,"overdrawn":true})"}) {
      ASSERT_OK(s.Append({"account-7", ExpectedRevision::Any(), {Event("BalanceChanged", data)}}).status());
    }
    EventData blob = Event("Blob", std::string("\0\xff\x10", 3));
    blob.content_type = "application/octet-stream";
    ASSERT_OK(s.Append({"blob-1", ExpectedRevision::Any(), {blob}}).status());
    ASSERT_OK(s.Append({"temp-9", ExpectedRevision::Any(), {Event("Scratch")}}).status());
    ASSERT_OK(s.DeleteStream("temp-9", {.actor = "ops", .reason = "test data"}).status());

    ProjectionRunner runner(s);
    ASSERT_OK(runner.Register(orders::OrdersPerCustomer()));
    ASSERT_OK(runner.Register(orders::RevenuePerDay()));
    for (const char* name : {"orders-per-customer", "revenue-per-day"}) {
      ASSERT_OK(runner.WaitForPosition(name, s.head(), absl::Seconds(30)));
    }
    runner.Stop();
  }
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

TempDir* ToolTest::dir_ = nullptr;
EventStore* ToolTest::store_ = nullptr;

TEST_F(ToolTest, HelpAndUsageErrors) {
  Result help = RunTool({"--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* sub : {"info", "streams", "read", "tail", "audit", "replay", "state", "diff", "bisect", "export",
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
  EXPECT_THAT(names, ::testing::ElementsAre("$$temp-9", "account-7", "blob-1", "order-1", "order-2", "temp-9"));
  EXPECT_EQ(all[3]["events"], 4);
  EXPECT_EQ(all[3]["last_revision"], 3);
  EXPECT_EQ(all[5]["state"], "deleted");
  EXPECT_EQ(Tool({"--json", "streams", "--limit", "2"}).json().size(), 2u);
  EXPECT_EQ(Tool({"streams", "--limit", "x"}).code, 2);
}

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

  // -f: events appended by this process (the writer) while the tool runs.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load() && i < 100; ++i) {
      ASSERT_OK(store_->Append({"live-1", ExpectedRevision::Any(), {Event("Tick", "{\"i\":" + std::to_string(i) + "}")}})
                    .status());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  Result follow = Tool({"--jsonl", "tail", "live-1", "-n", "1", "-f", "--for", "3"});
  stop = true;
  writer.join();
  ASSERT_EQ(follow.code, 0) << follow.err;
  std::vector<Json> events = follow.lines();
  // More than the one past event: the rest arrived live, in order, no gaps.
  ASSERT_GT(events.size(), 2u);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["revision"].get<uint64_t>(), events[i - 1]["revision"].get<uint64_t>() + 1);
  }
  // Interrupted (Ctrl-C), it stops cleanly: exit 0, not killed by the signal.
  const std::string command = std::string("timeout --preserve-status -s INT 3 ") + ANNALS_TOOL_PATH +
                              " --store " + Quote(StorePath()) + " tail -f -n 0 >/dev/null 2>&1";
  const int status = std::system(command.c_str());
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
  Json carol_cancels = Tool({"--json", "audit", "--type", "OrderCancelled", "--meta", "user=carol"}).json();
  ASSERT_EQ(carol_cancels.size(), 1u);
  EXPECT_EQ(carol_cancels[0]["stream"], "order-2");
  Json placed_in_orders = Tool({"--json", "audit", "--category", "order", "--type", "OrderPlaced"}).json();
  EXPECT_EQ(placed_in_orders.size(), 2u);
  Json stream_and_user = Tool({"--json", "audit", "--stream", "order-1", "--meta", "user=alice"}).json();
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
      ASSERT_OK((*store)->Append({"payment-" + std::to_string(batch), ExpectedRevision::Any(), events}).status());
    }
  }
  Result run = RunTool({"--store", dir.Sub("store"), "--json", "audit", "--correlation", "refund-run", "--explain"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.json().size(), 25u);
  EXPECT_THAT(run.err, HasSubstr("by_correlation index"));
  EXPECT_THAT(run.err, HasSubstr("examined 25 events"));
  Result by_type = RunTool({"--store", dir.Sub("store"), "--json", "audit", "--type", "Refunded", "--meta", "user=bob",
                        "--explain"});
  ASSERT_EQ(by_type.code, 0) << by_type.err;
  EXPECT_EQ(by_type.json().size(), 25u);
  EXPECT_THAT(by_type.err, HasSubstr("examined 25 events"));
  // Without an index the log is scanned, and --explain says so.
  Result scan = RunTool({"--store", dir.Sub("store"), "--json", "audit", "--meta", "user=nobody", "--explain"});
  EXPECT_THAT(scan.err, HasSubstr("log scan"));
  EXPECT_THAT(scan.err, HasSubstr("examined 20000 events"));
}

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
  std::vector<Json> middle = ToolWithPlugin({"--jsonl", "replay", "order-1", "--from", "1", "--to", "2"}).lines();
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0]["changes"][0]["path"], "/items/0");  // state before revision 1 came first
  const uint64_t position2 = steps[2]["event"]["position"];
  std::vector<Json> by_position =
      ToolWithPlugin({"--jsonl", "replay", "order-1", "--from", "@" + std::to_string(position2)}).lines();
  ASSERT_EQ(by_position.size(), 2u);
  EXPECT_EQ(by_position[0]["event"]["revision"], 2);
  const std::string time1 = steps[1]["event"]["recorded_at"];
  std::vector<Json> by_time = ToolWithPlugin({"--jsonl", "replay", "order-1", "--to", time1}).lines();
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
  Result bad_plugin = RunTool({"--store", StorePath(), "--plugin", dir_->Sub("nope.so"), "replay", "order-1"});
  EXPECT_EQ(bad_plugin.code, 2);
  EXPECT_THAT(bad_plugin.err, HasSubstr("cannot load plugin"));
  // The entry point is versioned: a plugin of another API version is refused.
  Result other_version =
      RunTool({"--store", StorePath(), "--plugin", ANNALS_OTHER_VERSION_PLUGIN_PATH, "replay", "order-1"});
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
  Json by_position = ToolWithPlugin({"--json", "state", "order-1", "--at-position", std::to_string(position1)}).json();
  EXPECT_EQ(by_position["revision"], 1);
  Json by_time = ToolWithPlugin({"--json", "state", "order-1", "--as-of", at1["recorded_at"]}).json();
  EXPECT_EQ(by_time["revision"], 1);
  EXPECT_EQ(by_time["state"], at1["state"]);
  Json before = ToolWithPlugin({"--json", "state", "order-1", "--as-of", "2000-01-01T00:00:00Z"}).json();
  EXPECT_TRUE(before["revision"].is_null());
  EXPECT_EQ(before["state"]["status"], "NONE");
  Result table = ToolWithPlugin({"state", "order-1", "--at-revision", "1"});
  EXPECT_THAT(table.out, HasSubstr("\"total_cents\": \"2500\""));
  Result beyond = ToolWithPlugin({"state", "order-1", "--at-revision", "9"});
  EXPECT_EQ(beyond.code, 3);
  EXPECT_THAT(beyond.err, HasSubstr("has no revision 9 (the nearest before it is 3)"));
  EXPECT_EQ(Tool({"state", "order-1", "--at-revision", "1", "--as-of", "2000-01-01T00:00:00Z"}).code, 2);
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
  Json found = ToolWithPlugin({"--json", "bisect", "order-1", "--until", "/total_cents > 3000"}).json();
  EXPECT_EQ(found["found"], true);
  EXPECT_EQ(found["event"]["revision"], 2);
  EXPECT_EQ(found["before"]["total_cents"], "2500");
  EXPECT_EQ(found["after"]["total_cents"], "3495");
  Result table = ToolWithPlugin({"--no-color", "bisect", "order-1", "--until", "/status == \"SHIPPED\""});
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

TEST_F(ToolTest, ExportImportExportIsIdentical) {
  const std::string first = dir_->Sub("first.jsonl"), second = dir_->Sub("second.jsonl");
  const std::string source = PrivateCopy("export-source");
  Result exported = RunTool({"--store", source, "export", "-o", first});
  ASSERT_EQ(exported.code, 0) << exported.err;
  const std::string imported = dir_->Sub("imported");
  Result import = RunTool({"--store", imported, "--json", "import", first});
  ASSERT_EQ(import.code, 0) << import.err;
  EXPECT_EQ(import.json()["imported_events"], import.json()["head_position"]);  // a dense log
  ASSERT_EQ(RunTool({"--store", imported, "export", "-o", second}).code, 0);
  std::ifstream a(first), b(second);
  std::stringstream ta, tb;
  ta << a.rdbuf();
  tb << b.rdbuf();
  EXPECT_FALSE(ta.str().empty());
  EXPECT_EQ(ta.str(), tb.str());
  // Binary payloads and lifecycle events survive; the imported store verifies.
  EXPECT_THAT(ta.str(), HasSubstr("\"data_base64\":\"AP8Q\""));
  EXPECT_THAT(ta.str(), HasSubstr("$streamDeleted"));
  EXPECT_EQ(RunTool({"--store", imported, "verify"}).code, 0);
  EXPECT_EQ(RunTool({"--store", imported, "read", "temp-9"}).code, 3);  // still deleted
  // Importing the same export again is refused, and writes nothing.
  Result again = RunTool({"--store", imported, "import", first});
  EXPECT_EQ(again.code, 2);
  EXPECT_THAT(again.err, HasSubstr("positions must increase"));
  // A malformed line: nothing imported, not even a store created.
  const std::string bad = dir_->Sub("bad.jsonl");
  {
    std::ofstream out(bad);
    std::ifstream in(first);
    std::string line;
    std::getline(in, line);
    out << line << "\n{\"position\": \"x\"}\n";
  }
  Result malformed = RunTool({"--store", dir_->Sub("never-created"), "import", bad});
  EXPECT_EQ(malformed.code, 2);
  EXPECT_THAT(malformed.err, HasSubstr("bad.jsonl:2"));
  EXPECT_FALSE(std::filesystem::exists(dir_->Sub("never-created")));
  EXPECT_EQ(RunTool({"--store", dir_->Sub("x"), "import", dir_->Sub("missing.jsonl")}).code, 3);
  // A pipe cannot be checked first and then imported: refused, nothing written.
  const std::string piped = "cat " + Quote(first) + " | " + ANNALS_TOOL_PATH + " --store " +
                           Quote(dir_->Sub("from-pipe")) + " import /dev/stdin >/dev/null 2>" +
                           Quote(dir_->Sub("pipe.err"));
  const int status = std::system(piped.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::stringstream pipe_err;
  pipe_err << std::ifstream(dir_->Sub("pipe.err")).rdbuf();
  EXPECT_THAT(pipe_err.str(), HasSubstr("cannot be read twice"));
  EXPECT_FALSE(std::filesystem::exists(dir_->Sub("from-pipe")));
}

TEST(ExportLineTest, EveryByteRoundTrips) {
  EventRecord e;
  e.stream = "order-\"quoted\"\\";
  e.revision = Revision(7);
  e.position = Position(42);
  e.recorded_at = absl::FromUnixMicros(1795000000123456);
  e.type = "Typed\u00e9";
  e.data = "{\"a\":\"line\nbreak\ttab" + std::string(1, '\x01') + "\"}";  // escapes and a control byte
  e.content_type = "application/json";
  e.metadata = {{"user", "al\"ice"}, {"note", "ctl\x1f"}};
  e.event_id = EventId::Generate();
  e.correlation_id = "c-1";
  e.causation_id = std::string("\xff\xfe", 2);  // not UTF-8
  for (std::string data : {e.data, std::string("\0\xff\x80" "binary", 9)}) {
    e.data = data;
    for (bool utf8_metadata : {true, false}) {
      if (!utf8_metadata) e.metadata["raw"] = std::string("\xc3", 1);
      std::string line;
      tool::AppendExportLine(e, &line);
      ASSERT_EQ(line.back(), '\n');
      EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per event";
      Json parsed = Json::parse(line, nullptr, false);
      ASSERT_FALSE(parsed.is_discarded()) << line;
      ASSERT_OK_AND_ASSIGN(EventRecord back, tool::EventFromExport(parsed));
      EXPECT_EQ(back.stream, e.stream);
      EXPECT_EQ(back.revision, e.revision);
      EXPECT_EQ(back.position, e.position);
      EXPECT_EQ(back.recorded_at, e.recorded_at);
      EXPECT_EQ(back.type, e.type);
      EXPECT_EQ(back.data, e.data);
      EXPECT_EQ(back.content_type, e.content_type);
      EXPECT_EQ(back.metadata, e.metadata);
      EXPECT_EQ(back.event_id, e.event_id);
      EXPECT_EQ(back.correlation_id, e.correlation_id);
      EXPECT_EQ(back.causation_id, e.causation_id);
    }
  }
  // Lines missing what an event needs are refused with the field named.
  EXPECT_THAT(tool::EventFromExport(Json::parse(R"({"position":1})")).status().message(), HasSubstr("revision"));
  EXPECT_THAT(tool::EventFromExport(Json::parse(R"({"position":1,"revision":0,"stream":"s","type":"T",)"
                                                 R"("event_id":"nope","recorded_at":"2026-01-01T00:00:00Z"})"))
                  .status()
                  .message(),
              HasSubstr("event_id"));
}

TEST_F(ToolTest, VerifyReportsTheFirstBadPosition) {
  Result ok = Tool({"--json", "verify"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.json()["result"], "ok");
  EXPECT_GT(ok.json()["events_checked"].get<uint64_t>(), 10u);
  // Flip a byte of one event in a copy of the store.
  const std::string copy = PrivateCopy("tampered");
  const Position victim(2);  // order-1@1, ItemAdded BOOK-1
  {
    bool created = false;
    auto storage = internal::Storage::Open(copy, TestOptions(), &created);
    ASSERT_OK(storage.status());
    rocksdb::DB* db = (*storage)->db();
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), (*storage)->cf(internal::Cf::kLog), internal::LogKey(victim), &value).ok());
    const size_t at = value.find("BOOK-1");
    ASSERT_NE(at, std::string::npos);
    value[at] = 'C';  // same length, still decodes: only the hash chain can tell
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), (*storage)->cf(internal::Cf::kLog), internal::LogKey(victim), value).ok());
  }
  Result bad = RunTool({"--store", copy, "--json", "verify"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.json()["result"], "corrupt");
  EXPECT_EQ(bad.json()["first_bad_position"], victim.value());
  Result table = RunTool({"--store", copy, "verify"});
  EXPECT_EQ(table.code, 1);
  EXPECT_THAT(table.out, HasSubstr("first_bad_position"));
}

TEST_F(ToolTest, BackupDuringWritesOpensAndVerifiesAndRestores) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acknowledged{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto r = store_->Append({"busy-" + std::to_string(i % 3), ExpectedRevision::Any(), {Event("Busy")}});
      ASSERT_OK(r.status());
      acknowledged = r->last_position.value();
    }
  });
  while (acknowledged.load() < store_->head().value() - 10 || acknowledged.load() == 0) std::this_thread::yield();
  const std::string backup = dir_->Sub("online-backup");
  const uint64_t before = acknowledged.load();
  Result run = Tool({"--json", "backup", backup});
  stop = true;
  writer.join();
  ASSERT_EQ(run.code, 0) << run.err;
  Result verify = RunTool({"--store", backup, "--json", "verify"});
  ASSERT_EQ(verify.code, 0) << verify.err << verify.out;
  EXPECT_GE(verify.json()["events_checked"].get<uint64_t>(), before);
  EXPECT_EQ(Tool({"backup", backup}).code, 1);  // never over an existing directory

  const std::string restored = dir_->Sub("restored");
  Result restore = RunTool({"--store", restored, "--json", "restore", backup});
  ASSERT_EQ(restore.code, 0) << restore.err;
  EXPECT_EQ(restore.json()["head_position"], RunTool({"--store", backup, "--json", "info"}).json()["head_position"]);
  EXPECT_EQ(RunTool({"--store", restored, "verify"}).code, 0);
  EXPECT_EQ(RunTool({"--store", restored, "restore", backup}).code, 1);  // target exists
  EXPECT_EQ(RunTool({"--store", dir_->Sub("r2"), "restore", dir_->Sub("no-backup")}).code, 3);
}

TEST_F(ToolTest, ProjectionsListStatusLagParkedAndRebuild) {
  Json list = Tool({"--json", "projections", "list"}).json();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "orders-per-customer");
  EXPECT_EQ(list[1]["name"], "revenue-per-day");
  EXPECT_GT(list[0]["checkpoint"].get<uint64_t>(), 0u);
  EXPECT_EQ(list[0]["parked"], 0);
  Result lag = Tool({"projections", "lag"});
  ASSERT_EQ(lag.code, 0) << lag.err;
  EXPECT_THAT(lag.out, HasSubstr("seconds_behind"));
  Json status = Tool({"--json", "projections", "status", "revenue-per-day"}).json();
  EXPECT_EQ(status["version"], 1);
  EXPECT_EQ(Tool({"--json", "projections", "parked", "revenue-per-day"}).json().size(), 0u);
  EXPECT_EQ(Tool({"projections", "status", "nope"}).code, 3);
  EXPECT_EQ(Tool({"projections"}).code, 2);
  // Repairs run the projection's code: they need the plugin and the store
  // to themselves.
  EXPECT_EQ(Tool({"projections", "rebuild", "revenue-per-day"}).code, 3);
  EXPECT_EQ(ToolWithPlugin({"projections", "rebuild", "revenue-per-day"}).code, 4);  // the writer holds it
  const std::string copy = PrivateCopy("projections-copy");
  Result rebuilt = RunTool({"--store", copy, "--plugin", kPlugin, "--json", "projections", "rebuild", "revenue-per-day"});
  ASSERT_EQ(rebuilt.code, 0) << rebuilt.err;
  EXPECT_EQ(rebuilt.json()["lag"], 0);
  EXPECT_EQ(rebuilt.json()["checkpoint"], RunTool({"--store", copy, "--json", "info"}).json()["head_position"]);
  Result retry = RunTool({"--store", copy, "--plugin", kPlugin, "projections", "retry", "revenue-per-day", "order-1"});
  EXPECT_EQ(retry.code, 0) << retry.err;
  Result skip = RunTool({"--store", copy, "--plugin", kPlugin, "projections", "skip", "revenue-per-day", "order-1"});
  EXPECT_EQ(skip.code, 0) << skip.err;
}

TEST_F(ToolTest, ParkedEventsAreListed) {
  const std::string copy = PrivateCopy("parked-copy");
  {
    StoreOptions options = TestOptions();
    options.create_if_missing = false;
    auto store = EventStore::Open(copy, options);
    ASSERT_OK(store.status());
    ProjectionRunner runner(**store);
    ASSERT_OK(runner.Register({.name = "picky",
                               .apply = [](const EventRecord& e, ReadModelWriter&) {
                                 return e.type == "Blob" ? absl::InvalidArgumentError("cannot read blobs")
                                                         : absl::OkStatus();
                               },
                               .on_failure = OnFailure::kPark,
                               .max_attempts = 1}));
    ASSERT_OK(runner.WaitForPosition("picky", (*store)->head(), absl::Seconds(30)));
    runner.Stop();
  }
  Json parked = RunTool({"--store", copy, "--json", "projections", "parked", "picky"}).json();
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0]["stream"], "blob-1");
  EXPECT_THAT(parked[0]["error"].get<std::string>(), HasSubstr("cannot read blobs"));
  EXPECT_EQ(RunTool({"--store", copy, "--json", "projections", "status", "picky"}).json()["parked"], 1);
}

TEST_F(ToolTest, CompactRemovesDeletedEvents) {
  const std::string copy = PrivateCopy("compact-copy");
  Result run = RunTool({"--store", copy, "--json", "compact"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_GE(run.json()["events_removed"].get<uint64_t>(), 1u);  // temp-9's event
  EXPECT_EQ(RunTool({"--store", copy, "verify"}).code, 0);
  EXPECT_EQ(Tool({"compact"}).code, 4);  // the application has the store open
}

TEST_F(ToolTest, SchemaAddMakesProtobufPayloadsReadable) {
  // A store whose events carry google.protobuf.Duration payloads, with no
  // content type naming the message.
  const std::string path = dir_->Sub("durations");
  {
    auto store = EventStore::Open(path, TestOptions());
    ASSERT_OK(store.status());
    google::protobuf::Duration d;
    d.set_seconds(90);
    EventData e;
    e.type = "Duration";
    e.data = d.SerializeAsString();
    ASSERT_OK((*store)->Append({"timer-1", ExpectedRevision::Any(), {e}}).status());
  }
  Json before = RunTool({"--store", path, "--json", "read", "timer-1"}).json();
  EXPECT_TRUE(before[0]["data"].contains("base64"));
  // protoc --include_imports -o FILE: here made from the linked descriptor.
  google::protobuf::FileDescriptorSet set;
  google::protobuf::Duration::descriptor()->file()->CopyTo(set.add_file());
  const std::string desc = dir_->Sub("duration.desc");
  std::ofstream(desc, std::ios::binary) << set.SerializeAsString();
  Result add = RunTool({"--store", path, "--json", "schema", "add", desc});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.json()["bindings"]["Duration"], "google.protobuf.Duration");
  Result bound = RunTool({"--store", path, "--json", "schema", "add", desc, "--bind", "Timer=google.protobuf.Duration"});
  ASSERT_EQ(bound.code, 0) << bound.err;
  EXPECT_EQ(bound.json()["files"][0], "google/protobuf/duration.proto");
  Json after = RunTool({"--store", path, "--json", "read", "timer-1"}).json();
  EXPECT_EQ(after[0]["data"], "90s");
  Result list = RunTool({"--store", path, "schema", "list"});
  EXPECT_THAT(list.out, HasSubstr("google.protobuf.Duration"));
  // Bad input: not a descriptor set, a binding to nothing, no file.
  const std::string junk = dir_->Sub("junk.desc");
  std::ofstream(junk) << "junk";
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", junk}).code, 2);
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", desc, "--bind", "Timer=no.Such"}).code, 2);
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", desc, "--bind", "novalue"}).code, 2);
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", dir_->Sub("none.desc")}).code, 3);
  // The example store's schemas, registered through the library API.
  Result orders = Tool({"schema", "list"});
  EXPECT_THAT(orders.out, HasSubstr("annals.examples.orders.ItemAdded"));
}

// The schema a store's OrderPlaced events were written with, and a v2 that
// changes the type of field 1 and of the nested Address's field 1.
google::protobuf::FileDescriptorProto ShopSchema(bool v2) {
  std::string text = R"pb(
    name: "shop.proto"
    package: "shop"
    syntax: "proto3"
    message_type {
      name: "OrderPlaced"
      field { name: "customer" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
      field { name: "total" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
      field { name: "address" number: 4 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".shop.Address" }
    }
    message_type {
      name: "Address"
      field { name: "zip" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
  )pb";
  google::protobuf::FileDescriptorProto file = testing::FileProto(text);
  if (v2) {
    file.mutable_message_type(0)->mutable_field(0)->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT64);
    file.mutable_message_type(1)->mutable_field(0)->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT64);
  }
  return file;
}

// A store of OrderPlaced events written with ShopSchema(false): bound by
// type (order-1), named by the content type (order-2), and one whose only
// field is the nested address (order-3); plus a payload of no known message.
std::string MakeShopStore(const std::string& path) {
  auto store = EventStore::Open(path, TestOptions());
  EXPECT_OK(store.status());
  auto placed = [](const std::string& text, const std::string& content_type) {
    EventData e = Event("OrderPlaced", testing::EncodeMessage({ShopSchema(false)}, "shop.OrderPlaced", text));
    e.content_type = content_type;
    return e;
  };
  EXPECT_OK((*store)->Append({"order-1", ExpectedRevision::Any(),
                              {placed(R"pb(customer: "c-17" total: 2500)pb", "application/x-protobuf")}})
                .status());
  EXPECT_OK((*store)->Append({"order-2", ExpectedRevision::Any(),
                              {placed(R"pb(customer: "c-18")pb",
                                      "application/x-protobuf; messageType=shop.OrderPlaced")}})
                .status());
  EXPECT_OK((*store)->Append({"order-3", ExpectedRevision::Any(),
                              {placed(R"pb(address { zip: "10115" })pb", "application/x-protobuf")}})
                .status());
  EventData blob = Event("Blob", "\x01\x02");
  blob.content_type = "application/octet-stream";
  EXPECT_OK((*store)->Append({"blob-1", ExpectedRevision::Any(), {blob}}).status());
  EXPECT_OK(RegisterSchemas(**store, testing::DescriptorSet({ShopSchema(false)}),
                                      {{"OrderPlaced", "shop.OrderPlaced"}}));
  return path;
}

TEST_F(ToolTest, SchemaAddRefusesBreakingChangesUnlessAllowedAndRecorded) {
  const std::string path = MakeShopStore(dir_->Sub("shop-refuse"));
  const std::string v2 = dir_->Sub("shop-v2.desc");
  std::ofstream(v2, std::ios::binary) << testing::DescriptorSet({ShopSchema(true)});
  Result refused = RunTool({"--store", path, "schema", "add", v2});
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("annals: shop.OrderPlaced field 1 'customer': type string -> int64\n"));
  EXPECT_THAT(refused.err, HasSubstr("annals: shop.Address field 1 'zip': type string -> int64\n"));
  EXPECT_THAT(refused.err, HasSubstr("2 breaking changes to messages of stored events; nothing registered"));
  EXPECT_THAT(refused.err, HasSubstr("(FAILED_PRECONDITION)"));
  // Nothing registered: the events still decode with the old schema.
  Json read = RunTool({"--store", path, "--json", "read", "order-1"}).json();
  EXPECT_EQ(read[0]["data"]["customer"], "c-17");
  EXPECT_THAT(RunTool({"--store", path, "read", "$schemas"}).code, 3);
  // --allow-breaking needs a reason.
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", v2, "--allow-breaking"}).code, 2);
  Result allowed = RunTool({"--store", path, "--json", "schema", "add", v2, "--allow-breaking", "--reason",
                            "customer ids are numbers now"},
                           {"USER=ops-bot"});
  ASSERT_EQ(allowed.code, 0) << allowed.err;
  EXPECT_EQ(allowed.json()["breaking_changes"].size(), 2u);
  EXPECT_EQ(allowed.json()["recorded_in"], "$schemas");
  Result audit = RunTool({"--store", path, "--json", "read", "$schemas"});
  ASSERT_EQ(audit.code, 0) << audit.err;
  const Json event = audit.json()[0];
  EXPECT_EQ(event["type"], "$schemasChanged");
  EXPECT_EQ(event["metadata"]["actor"], "ops-bot");
  EXPECT_EQ(event["metadata"]["reason"], "customer ids are numbers now");
  EXPECT_EQ(event["data"]["breakingChanges"][0], "shop.OrderPlaced field 1 'customer': type string -> int64");
  EXPECT_EQ(event["data"]["files"][0], "shop.proto");
  EXPECT_EQ(RunTool({"--store", path, "verify"}).code, 0);
}

TEST_F(ToolTest, PayloadThatDoesNotDecodeIsAnErrorNeverEmpty) {
  const std::string path = MakeShopStore(dir_->Sub("shop-decode"));
  const std::string v2 = dir_->Sub("shop-v2-decode.desc");
  std::ofstream(v2, std::ios::binary) << testing::DescriptorSet({ShopSchema(true)});
  ASSERT_EQ(RunTool({"--store", path, "schema", "add", v2, "--allow-breaking", "--reason", "test"}).code, 0);
  const std::string order1 =
      "event at position 1 (OrderPlaced) does not decode as shop.OrderPlaced: field 1 has another wire type than "
      "the schema says (length-delimited; the schema has 'customer' int64)";
  // Every command that prints or folds payloads fails with the error.
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"read", "order-1"},
                                             {"--json", "read", "order-1"},
                                             {"read"},
                                             {"tail", "order-1"},
                                             {"audit", "--type", "OrderPlaced"},
                                             {"state", "order-1"},
                                             {"replay", "order-1"}}) {
    std::vector<std::string> args = {"--store", path};
    args.insert(args.end(), command.begin(), command.end());
    Result run = RunTool(args);
    EXPECT_EQ(run.code, 1) << command.back();
    EXPECT_THAT(run.err, HasSubstr(order1)) << command.back();
    EXPECT_THAT(run.err, HasSubstr("(DATA_LOSS)")) << command.back();
    EXPECT_THAT(run.out, Not(HasSubstr("{}"))) << command.back();
  }
  // Named by the content type; a nested message.
  EXPECT_THAT(RunTool({"--store", path, "read", "order-2"}).err,
              HasSubstr("event at position 2 (OrderPlaced) does not decode as shop.OrderPlaced: field 1 has"));
  EXPECT_THAT(RunTool({"--store", path, "read", "order-3"}).err,
              HasSubstr("event at position 3 (OrderPlaced) does not decode as shop.OrderPlaced: field 4 "
                        "'address' > field 1 has another wire type than the schema says"));
  // A payload of no known message still shows as base64.
  Result blob = RunTool({"--store", path, "--json", "read", "blob-1"});
  ASSERT_EQ(blob.code, 0) << blob.err;
  EXPECT_EQ(blob.json()[0]["data"]["base64"], "AQI=");
  EXPECT_EQ(blob.json()[0]["data"]["content_type"], "application/octet-stream");
}

}  // namespace
}  // namespace annals
