// The tool on what must never be silently wrong: import refuses what it does
// not understand and what the API would refuse, compaction + export +
// import keeps the stream listing, verify anchors the chain head, repair
// recovers a damaged write-ahead log, and every number option is checked.
#include <filesystem>
#include <fstream>
#include <sstream>
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

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const std::string& line : lines) out << line << "\n";
}

std::string Line(uint64_t position, const std::string& stream, uint64_t revision,
                 const std::string& type, const std::string& rest = R"("data":"{}")") {
  return "{\"position\":" + std::to_string(position) + ",\"stream\":\"" + stream +
         "\",\"revision\":" + std::to_string(revision) +
         ",\"recorded_at\":\"2026-11-23T10:00:00.000000Z\",\"event_id\":\"0190d7a2-0000-7000-8000-"
         "00000000000" +
         std::to_string(position % 10) + "\",\"type\":\"" + type +
         "\",\"content_type\":\"application/json\"," + rest + "}";
}

class ImportToolTest : public ::testing::Test {
 protected:
  // Imports `lines` into a fresh store; returns the result.
  Result Import(const std::vector<std::string>& lines) {
    const std::string file = dir_.Sub("in-" + std::to_string(++count_) + ".jsonl");
    WriteLines(file, lines);
    store_ = dir_.Sub("store-" + std::to_string(count_));
    Result result = RunTool({"--store", store_, "--json", "import", file});
    // With --json an error is one JSON object: the checks read its message.
    nlohmann::json error = nlohmann::json::parse(result.err, nullptr, false);
    if (error.is_object() && error.contains("error"))
      result.err = error["error"].get<std::string>();
    return result;
  }
  TempDir dir_;
  std::string store_;
  int count_ = 0;
};

TEST_F(ImportToolTest, LifecycleJsonFromAnyWriterIsApplied) {
  Result result = Import({Line(1, "cart-1", 0, "Added"), Line(2, "cart-1", 1, "Added"),
                          Line(3, "$$cart-1", 0, "$metadata", R"("data":"{\"maxCount\": 1}")")});
  ASSERT_EQ(result.code, 0) << result.err;
  Result read = RunTool({"--store", store_, "--json", "read", "cart-1"});
  ASSERT_EQ(read.code, 0) << read.err;
  ASSERT_EQ(read.json().size(), 1u);  // the retention applies
  EXPECT_EQ(read.json()[0]["revision"], 1);
}

TEST_F(ImportToolTest, WhatItDoesNotUnderstandOrTheApiRefusesIsRefusedAndNothingWritten) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Line(1, "cart-1", 0, "Added", R"("data":"{}","colour":"red")"), "unknown member \"colour\""},
      {Line(1, "cart-1", 0, "Added", R"("data":"{}","data_base64":"e30=")"),
       "both \"data\" and \"data_base64\""},
      {Line(1, "cart-1", 0, "Added", R"("metadata":{},"metadata_base64":{})"), "both \"metadata\""},
      {Line(1, "$$cart-1", 0, "$metadata", R"("data":"{\"maxCount\":0}")"), "maxCount is 0"},
      {Line(1, "$$cart-1", 0, "$metadata", R"("data":"{\"maxCount\":-2}")"),
       "not a non-negative integer"},
      {Line(1, "$$cart-1", 0, "$metadata", R"("data":"{\"maxCount\":2,\"maxSize\":9}")"),
       "maxSize"},
      {Line(9223372036854775809ull, "cart-1", 9223372036854775808ull, "Added"),
       "largest importable"},
      {Line(5, "cart-1", 7, "Added"), "below its position"},
      {Line(1, "cart-1", 0, "Added", R"("data":"{}","content_type":"application/json\n")"),
       "content type"},
      {Line(1, "cart-1", 0, "Added", R"("metadata":{"":"x"})"), "metadata key is empty"},
  };
  for (const auto& [line, why] : cases) {
    SCOPED_TRACE(line);
    Result result = Import({Line(1, "ok-1", 0, "Fine"), line});
    // The first line is fine and the second is not: nothing is written, and
    // the exit code is 1 (the input is at fault, not the arguments).
    EXPECT_EQ(result.code, 1) << result.err;
    EXPECT_THAT(result.err, HasSubstr(":2: "));
    EXPECT_THAT(result.err, HasSubstr(why));
    EXPECT_FALSE(std::filesystem::exists(store_));
  }
}

TEST_F(ImportToolTest, RevisionsOfAStreamMustIncreaseAcrossTheFile) {
  Result result = Import({Line(1, "cart-1", 0, "Added"), Line(2, "cart-1", 0, "Added")});
  EXPECT_EQ(result.code, 1);
  EXPECT_THAT(result.err, HasSubstr("does not follow"));
  EXPECT_FALSE(std::filesystem::exists(store_));
}

TEST(CompactExportImportTest, TheStreamListingIsTheSource) {
  TempDir dir;
  {
    auto store = EventStore::Open(dir.Sub("source"), testing::TestOptions());
    ASSERT_OK(store.status());
    EventStore& s = **store;
    for (int i = 0; i < 3; ++i)
      ASSERT_OK(s.Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
    for (int i = 0; i < 2; ++i)
      ASSERT_OK(s.Append({"b-1", ExpectedRevision::Any(), {Event("B")}}).status());
    for (int i = 0; i < 2; ++i)
      ASSERT_OK(s.Append({"c-1", ExpectedRevision::Any(), {Event("C")}}).status());
    ASSERT_OK(s.Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
    ASSERT_OK(s.DeleteStream("b-1").status());
    ASSERT_OK(s.TombstoneStream("c-1").status());
    ASSERT_OK(s.SetStreamMetadata("a-1", {.max_count = 2}).status());
  }
  ASSERT_EQ(RunTool({"--store", dir.Sub("source"), "compact"}).code, 0);
  ASSERT_EQ(RunTool({"--store", dir.Sub("source"), "export", "-o", dir.Sub("e.jsonl")}).code, 0);
  Result imported = RunTool({"--store", dir.Sub("copy"), "import", dir.Sub("e.jsonl")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  Result source = RunTool({"--store", dir.Sub("source"), "--json", "streams"});
  Result copy = RunTool({"--store", dir.Sub("copy"), "--json", "streams"});
  ASSERT_EQ(source.code, 0);
  EXPECT_EQ(copy.json(), source.json());
  EXPECT_THAT(copy.out, HasSubstr("tombstoned"));
  EXPECT_EQ(RunTool({"--store", dir.Sub("copy"), "verify"}).code, 0);
}

TEST(VerifyToolTest, AChainHeadFromInfoIsCheckedLater) {
  TempDir dir;
  {
    auto store = EventStore::Open(dir.Sub("s"), testing::TestOptions());
    ASSERT_OK(store.status());
    for (int i = 0; i < 5; ++i)
      ASSERT_OK((*store)->Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
  }
  Result info = RunTool({"--store", dir.Sub("s"), "--json", "info"});
  ASSERT_EQ(info.code, 0) << info.err;
  const std::string head = info.json()["chain_head"];
  EXPECT_THAT(head, ::testing::StartsWith("5:"));
  Result verify = RunTool({"--store", dir.Sub("s"), "--json", "verify", "--expect-head", head});
  ASSERT_EQ(verify.code, 0) << verify.err;
  EXPECT_EQ(verify.json()["expected_head"], "matched");
  EXPECT_EQ(verify.json()["chain_head"], head);
  EXPECT_TRUE(verify.json()["entries_checked"].contains("by_time"));
  EXPECT_GT(verify.json()["files_checked"].get<int>(), 0);
  std::string other = head;
  other.back() = other.back() == '0' ? '1' : '0';
  Result mismatch = RunTool({"--store", dir.Sub("s"), "verify", "--expect-head", other});
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_THAT(mismatch.out, HasSubstr("expected head"));
  EXPECT_EQ(RunTool({"--store", dir.Sub("s"), "verify", "--expect-head", "5:nothex"}).code, 2);
}

TEST(RepairToolTest, AnIntactStoreIsLeftAsItIs) {
  TempDir dir;
  {
    auto store = EventStore::Open(dir.Sub("s"), testing::TestOptions());
    ASSERT_OK(store.status());
    ASSERT_OK((*store)->Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
  }
  Result repair = RunTool({"--store", dir.Sub("s"), "--json", "repair"});
  ASSERT_EQ(repair.code, 0) << repair.err;
  EXPECT_EQ(repair.json()["result"], "intact");
  EXPECT_EQ(repair.json()["events"], 1);
  EXPECT_EQ(RunTool({"--store", dir.Sub("missing"), "repair"}).code, 3);
}

TEST(OptionsToolTest, EveryNumberIsChecked) {
  TempDir dir;
  {
    auto store = EventStore::Open(dir.Sub("s"), testing::TestOptions());
    ASSERT_OK(store.status());
    ASSERT_OK((*store)->Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
  }
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"tail", "-f", "--for", "nan"},
           {"tail", "-f", "--for", "inf"},
           {"tail", "-f", "--for", "-1"},
           {"tail", "-n", "-3"},
           {"streams", "--limit", "-1"},
           {"read", "--limit", "1e3"},
           {"audit", "--limit", "99999999999999999999"},
           {"projections", "rebuild", "p", "--timeout", "nan"},
       }) {
    std::vector<std::string> full = {"--store", dir.Sub("s")};
    full.insert(full.end(), args.begin(), args.end());
    Result result = RunTool(full);
    EXPECT_EQ(result.code, 2) << ::testing::PrintToString(args) << ": " << result.err;
  }
}

}  // namespace
}  // namespace annals::testing
