// The `annals` tool end to end on operations: export and import (and the
// exact export line), verify, backup and restore during writes, compact,
// and the projections commands.
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"
#include "annals/projection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "payload.h"
#include "storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

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
  // Importing the same export again is refused (exit 1), and writes nothing.
  Result again = RunTool({"--store", imported, "import", first});
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.err, HasSubstr("--resume"));
  // A malformed line: nothing imported, not even a store created; exit 1
  // (the input is at fault).
  const std::string bad = dir_->Sub("bad.jsonl");
  {
    std::ofstream out(bad);
    std::ifstream in(first);
    std::string line;
    std::getline(in, line);
    out << line << "\n{\"position\": \"x\"}\n";
  }
  Result malformed = RunTool({"--store", dir_->Sub("never-created"), "import", bad});
  EXPECT_EQ(malformed.code, 1);
  EXPECT_THAT(malformed.err, HasSubstr("bad.jsonl:2"));
  EXPECT_FALSE(std::filesystem::exists(dir_->Sub("never-created")));
  EXPECT_EQ(RunTool({"--store", dir_->Sub("x"), "import", dir_->Sub("missing.jsonl")}).code, 3);
  // A pipe is read in one pass (as `import -`): the same store.
  const std::string piped = "cat " + Quote(first) + " | " + ANNALS_TOOL_PATH + " --store " +
                            Quote(dir_->Sub("from-pipe")) + " import /dev/stdin >/dev/null 2>" +
                            Quote(dir_->Sub("pipe.err"));
  const int status = std::system(piped.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  Result piped_export = RunTool({"--store", dir_->Sub("from-pipe"), "export"});
  EXPECT_EQ(piped_export.out, ta.str());
}

TEST(ExportLineTest, EveryByteRoundTrips) {
  EventRecord e;
  e.stream = "order-\"quoted\"\\";
  e.revision = Revision(7);
  e.position = Position(42);
  e.recorded_at = absl::FromUnixMicros(1795000000123456);
  e.type = "Typed\u00e9";
  e.data =
      "{\"a\":\"line\nbreak\ttab" + std::string(1, '\x01') + "\"}";  // escapes and a control byte
  e.content_type = "application/json";
  e.metadata = {{"user", "al\"ice"}, {"note", "ctl\x1f"}};
  e.event_id = EventId::Generate();
  e.correlation_id = "c-1";
  e.causation_id = std::string("\xff\xfe", 2);  // not UTF-8
  for (std::string data : {e.data, std::string("\0\xff\x80"
                                               "binary",
                                               9)}) {
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
  EXPECT_THAT(tool::EventFromExport(Json::parse(R"({"position":1})")).status().message(),
              HasSubstr("revision"));
  EXPECT_THAT(tool::EventFromExport(
                  Json::parse(R"({"position":1,"revision":0,"stream":"s","type":"T",)"
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
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), (*storage)->cf(internal::Cf::kLog),
                        internal::LogKey(victim), &value)
                    .ok());
    const size_t at = value.find("BOOK-1");
    ASSERT_NE(at, std::string::npos);
    value[at] = 'C';  // same length, still decodes: only the hash chain can tell
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), (*storage)->cf(internal::Cf::kLog),
                        internal::LogKey(victim), value)
                    .ok());
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
      auto r = store_->Append(
          {"busy-" + std::to_string(i % 3), ExpectedRevision::Any(), {Event("Busy")}});
      ASSERT_OK(r.status());
      acknowledged = r->last_position.value();
    }
  });
  while (acknowledged.load() < store_->head().value() - 10 || acknowledged.load() == 0)
    std::this_thread::yield();
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
  EXPECT_EQ(restore.json()["head_position"],
            RunTool({"--store", backup, "--json", "info"}).json()["head_position"]);
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
  EXPECT_EQ(ToolWithPlugin({"projections", "rebuild", "revenue-per-day"}).code,
            4);  // the writer holds it
  const std::string copy = PrivateCopy("projections-copy");
  Result rebuilt = RunTool({"--store", copy, "--plugin", kPlugin, "--json", "projections",
                            "rebuild", "revenue-per-day"});
  ASSERT_EQ(rebuilt.code, 0) << rebuilt.err;
  EXPECT_EQ(rebuilt.json()["lag"], 0);
  EXPECT_EQ(rebuilt.json()["checkpoint"],
            RunTool({"--store", copy, "--json", "info"}).json()["head_position"]);
  Result retry = RunTool(
      {"--store", copy, "--plugin", kPlugin, "projections", "retry", "revenue-per-day", "order-1"});
  EXPECT_EQ(retry.code, 0) << retry.err;
  Result skip = RunTool(
      {"--store", copy, "--plugin", kPlugin, "projections", "skip", "revenue-per-day", "order-1"});
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
                               .apply =
                                   [](const EventRecord& e, ReadModelWriter&) {
                                     return e.type == "Blob"
                                                ? absl::InvalidArgumentError("cannot read blobs")
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
  EXPECT_EQ(RunTool({"--store", copy, "--json", "projections", "status", "picky"}).json()["parked"],
            1);
}

TEST_F(ToolTest, CompactRemovesDeletedEvents) {
  const std::string copy = PrivateCopy("compact-copy");
  Result run = RunTool({"--store", copy, "--json", "compact"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_GE(run.json()["events_removed"].get<uint64_t>(), 1u);  // temp-9's event
  EXPECT_EQ(RunTool({"--store", copy, "verify"}).code, 0);
  EXPECT_EQ(Tool({"compact"}).code, 4);  // the application has the store open
}

}  // namespace
}  // namespace annals::testing
