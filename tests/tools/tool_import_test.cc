// The `annals` tool's data in and out: progress lines (the pure renderer,
// silence off a terminal, the line on a terminal: export, import, verify,
// compact, replay, projections rebuild), `import -` in one pass,
// Ctrl-C during an import and `import --resume`, and the export line's
// payload shape (old lines still import).
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "progress.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/run_tool.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ProgressTest, FormatsCountTotalRateAndEta) {
  EXPECT_EQ(tool::FormatProgress("export", 12345, 50000, absl::Seconds(1.5)),
            "export 12,345 / 50,000 events  8,230/s  ETA 5s");
  EXPECT_EQ(tool::FormatProgress("import", 1000, 0, absl::Seconds(2)),
            "import 1,000 events  500/s");  // total unknown: no ETA
  EXPECT_EQ(tool::FormatProgress("verify", 0, 10, absl::ZeroDuration(), "positions"),
            "verify 0 / 10 positions");  // nothing to measure a rate by yet
  EXPECT_EQ(tool::FormatProgress("import", 100, 100000, absl::Seconds(1)),
            "import 100 / 100,000 events  100/s  ETA 16m39s");
  EXPECT_EQ(tool::FormatProgress("import", 1, 10000, absl::Seconds(1)),
            "import 1 / 10,000 events  1/s  ETA 2h46m");
  EXPECT_EQ(tool::WithThousands(1234567), "1,234,567");
  EXPECT_EQ(tool::WithThousands(999), "999");
}

// One export line (the exporter's own shape), position `p` of stream
// `s-<p % 7>`.
std::string Line(uint64_t p) {
  return absl::StrFormat(
      R"({"position":%d,"stream":"s-%d","revision":%d,"recorded_at":"2026-11-23T10:00:00.000000Z",)"
      R"("event_id":"0190d7a2-0000-7000-8000-%012d","type":"Added","content_type":"application/json",)"
      R"("correlation_id":"","causation_id":"","metadata":{},"data":{"n":%d}})",
      p, p % 7, (p - 1) / 7, p, p);
}

std::string Lines(uint64_t first, uint64_t last) {
  std::string text;
  for (uint64_t p = first; p <= last; ++p) text += Line(p) + "\n";
  return text;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// The tool with `args`, standard input a pipe the test writes, stdout to
// /dev/null and stderr to a file.
class PipedTool {
 public:
  explicit PipedTool(std::vector<std::string> args) : err_file_(ErrFile()) {
    args.insert(args.begin(), "annals");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int in[2];
    if (::pipe(in) != 0) return;
    const int err = ::open(err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      ::close(in[0]);
      ::close(in[1]);
      ::execv(ANNALS_TOOL_PATH, argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(err);
    ::close(null);
    in_ = in[1];
  }
  ~PipedTool() {
    CloseInput();
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    std::remove(err_file_.c_str());
  }

  // Writes all of `text` (blocking while the child does not read).
  bool Write(const std::string& text) {
    for (size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(in_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  void CloseInput() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  void Signal(int signal) { ::kill(pid_, signal); }
  // The exit code; -1 if it did not exit normally.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string err() const { return ReadFile(err_file_); }

 private:
  const std::string err_file_;
  pid_t pid_ = -1;
  int in_ = -1;
  bool reaped_ = false;
};

class ImportStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
  Position HeadOf(const std::string& store) {
    auto opened = EventStore::Open(store, {.read_only = true});
    EXPECT_OK(opened.status());
    return opened.ok() ? (*opened)->head() : Position();
  }
  TempDir dir_;
};

TEST_F(ImportStreamTest, ImportDashReadsStandardInput) {
  PipedTool tool({"--store", dir_.Sub("store"), "import", "-"});
  ASSERT_TRUE(tool.Write(Lines(1, 2500)));
  tool.CloseInput();
  ASSERT_EQ(tool.Wait(), 0) << tool.err();
  EXPECT_EQ(HeadOf(dir_.Sub("store")), Position(2500));
}

TEST_F(ImportStreamTest, ABadLineMidwayOnStandardInputExitsOneAndKeepsTheChunksBefore) {
  PipedTool tool({"--store", dir_.Sub("store"), "import", "-"});
  ASSERT_TRUE(tool.Write(Lines(1, 1500) + "{\"position\": \"x\"}\n" + Lines(1502, 1600)));
  tool.CloseInput();
  EXPECT_EQ(tool.Wait(), 1);
  EXPECT_THAT(tool.err(), HasSubstr("-:1501: "));
  EXPECT_THAT(tool.err(), HasSubstr("the store holds the import up to position 1000"));
  EXPECT_EQ(HeadOf(dir_.Sub("store")), Position(1000));  // the first chunk, whole
}

TEST_F(ImportStreamTest, InterruptStopsAtAChunkBoundaryAndResumeFinishes) {
  const std::string file = dir_.Sub("big.jsonl"), store = dir_.Sub("store");
  const std::string text = Lines(1, 6000);
  WriteFile(file, text);
  {
    PipedTool tool({"--store", store, "import", "-"});
    // Two chunks' lines and ~200 KB more than the pipe and stdio buffers
    // hold: once this write returns, the tool has read past line 2000, so
    // it has written the first two chunks (each when its last line came).
    const size_t two_chunks = Lines(1, 2000).size();
    ASSERT_TRUE(tool.Write(text.substr(0, two_chunks + 200 * 1024)));
    tool.Signal(SIGINT);
    tool.CloseInput();
    EXPECT_EQ(tool.Wait(), 130) << tool.err();
    EXPECT_THAT(tool.err(),
                HasSubstr("interrupted: the store holds the import up to position 2000;"));
    EXPECT_THAT(tool.err(), HasSubstr("annals import --resume"));
  }
  EXPECT_EQ(HeadOf(store), Position(2000));
  Result resumed = RunTool({"--store", store, "--json", "import", "--resume", file});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(resumed.json()["skipped_events"], 2000);
  EXPECT_EQ(resumed.json()["imported_events"], 4000);
  Result exported = RunTool({"--store", store, "export"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_EQ(exported.out, text);  // as if imported in one go
}

TEST_F(ImportStreamTest, InterruptDuringAFileImportLeavesWholeChunks) {
  const std::string file = dir_.Sub("big.jsonl"), store = dir_.Sub("store");
  WriteFile(file, Lines(1, 60000));
  ToolProcess tool({"--store", store, "import", file});
  // Wait (bounded) until the store's write-ahead log shows chunks written.
  bool writing = false;
  for (int i = 0; i < 200000 && !writing; ++i) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(store, ec)) {
      if (entry.path().extension() == ".log" && entry.file_size(ec) > (1 << 20)) writing = true;
    }
    if (!writing) ::poll(nullptr, 0, 1);
  }
  ASSERT_TRUE(writing);
  tool.Signal(SIGINT);
  const int status = tool.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 0) GTEST_SKIP() << "the import finished before the signal";
  EXPECT_EQ(WEXITSTATUS(status), 130) << tool.err();
  const Position head = HeadOf(store);
  EXPECT_EQ(head.value() % 1000, 0u) << "whole chunks only";
  EXPECT_THAT(tool.err(),
              HasSubstr(absl::StrCat("the store holds the import up to position ", head.value(),
                                     "; run 'annals import --resume ", file, "' to continue")));
}

TEST_F(ImportStreamTest, ResumeRefusesALineThatDiffersFromTheStoreAndWritesNothing) {
  const std::string store = dir_.Sub("store");
  WriteFile(dir_.Sub("part.jsonl"), Lines(1, 10));
  ASSERT_EQ(RunTool({"--store", store, "import", dir_.Sub("part.jsonl")}).code, 0);
  std::string other = Lines(1, 20);
  const std::string line4 = Line(4);
  other.replace(other.find(line4), line4.size(),
                std::string(line4).replace(line4.find("\"n\":4"), 5, "\"n\":5"));
  WriteFile(dir_.Sub("other.jsonl"), other);
  for (const std::string& input : {dir_.Sub("other.jsonl")}) {
    Result refused = RunTool({"--store", store, "import", "--resume", input});
    EXPECT_EQ(refused.code, 1) << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("other.jsonl:4: the store's event at position 4"));
    EXPECT_THAT(refused.err, HasSubstr("nothing imported"));
  }
  PipedTool piped({"--store", store, "import", "--resume", "-"});
  ASSERT_TRUE(piped.Write(other));
  piped.CloseInput();
  EXPECT_EQ(piped.Wait(), 1);
  EXPECT_THAT(piped.err(), HasSubstr("-:4: the store's event at position 4"));
  EXPECT_EQ(HeadOf(store), Position(10));
  // Without --resume, a file that overlaps the store is refused with a hint.
  WriteFile(dir_.Sub("all.jsonl"), Lines(1, 20));
  Result overlap = RunTool({"--store", store, "import", dir_.Sub("all.jsonl")});
  EXPECT_EQ(overlap.code, 1);
  EXPECT_THAT(overlap.err, HasSubstr("--resume"));
  EXPECT_EQ(HeadOf(store), Position(10));
}

// Runs the tool with stderr on a pseudo-terminal; returns what it drew there.
std::string StderrOnTerminal(const std::vector<std::string>& args) {
  int master = -1, slave = -1;
  if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return "";
  std::vector<std::string> argv_strings = {"annals"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(slave, STDERR_FILENO);
    ::close(master);
    ::execv(ANNALS_TOOL_PATH, argv.data());
    ::_exit(127);
  }
  ::close(slave);
  std::string drawn;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(master, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO once the child has closed the terminal
    drawn.append(buffer, static_cast<size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return drawn;
}

TEST_F(ImportStreamTest, ProgressOnATerminalOnlyWithTotalAndRate) {
  const std::string store = dir_.Sub("store"), file = dir_.Sub("in.jsonl");
  WriteFile(file, Lines(1, 3000));
  Result quiet = RunTool({"--store", store, "import", file});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");  // not a terminal: silent
  Result quiet_export = RunTool({"--store", store, "export", "-o", dir_.Sub("out.jsonl")});
  EXPECT_THAT(quiet_export.err, Not(HasSubstr("positions")));
  const std::string drawn =
      StderrOnTerminal({"--store", store, "export", "-o", dir_.Sub("tty.jsonl")});
  EXPECT_THAT(drawn, HasSubstr("export 3,000 positions"));
  EXPECT_THAT(drawn, HasSubstr("/s, done"));
  const std::string imported = StderrOnTerminal({"--store", dir_.Sub("store2"), "import", file});
  EXPECT_THAT(imported, HasSubstr("import 3,000 events"));
}

TEST_F(ImportStreamTest, VerifyAndCompactShowProgressWithTotalsOnATerminalOnly) {
  const std::string store = dir_.Sub("store");
  {
    auto s = EventStore::Open(store, {.create_if_missing = true});
    ASSERT_OK(s.status());
    for (int batch = 0; batch < 30; ++batch) {
      std::vector<EventData> events(100, Event("Bulk", R"({"n":1})"));
      ASSERT_OK((*s)->Append({"bulk-1", ExpectedRevision::Any(), std::move(events)}).status());
    }
    ASSERT_OK((*s)->Append({"temp-1", ExpectedRevision::Any(), {Event("Scratch")}}).status());
    ASSERT_OK((*s)->DeleteStream("temp-1").status());
  }
  const std::string head = tool::WithThousands(HeadOf(store).value());
  Result quiet = RunTool({"--store", store, "verify"});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");  // not a terminal: silent
  // The log by position out of the head, then the other families' entries.
  const std::string verified = StderrOnTerminal({"--store", store, "verify"});
  EXPECT_THAT(verified, HasSubstr("verify 1,023 / " + head + " positions  "));
  EXPECT_THAT(verified, HasSubstr("verify " + head + " positions  "));
  EXPECT_THAT(verified, ContainsRegex("verify [0-9,]+ entries  [0-9,]+/s, done"));

  Result quiet_compact = RunTool({"--store", store, "compact"});
  ASSERT_EQ(quiet_compact.code, 0) << quiet_compact.err;
  EXPECT_EQ(quiet_compact.err, "");
  // Something to remove again, so that it compacts too.
  {
    auto s = EventStore::Open(store, {});
    ASSERT_OK(s.status());
    ASSERT_OK((*s)->Append({"temp-2", ExpectedRevision::Any(), {Event("Scratch")}}).status());
    ASSERT_OK((*s)->DeleteStream("temp-2").status());
  }
  const std::string compacted = StderrOnTerminal({"--store", store, "compact"});
  EXPECT_THAT(compacted, ContainsRegex("compact [0-9]+ / [0-9]+ streams"));
  EXPECT_THAT(compacted, ContainsRegex("compact [0-9]+ / [0-9]+ column families"));
  EXPECT_THAT(compacted, HasSubstr("column families  "));
  EXPECT_THAT(compacted, HasSubstr(", done"));
}

TEST_F(ImportStreamTest, ReplayShowsProgressOutOfTheRevisionsItReplays) {
  const std::string store = dir_.Sub("store");
  {
    auto s = EventStore::Open(store, {.create_if_missing = true});
    ASSERT_OK(s.status());
    for (int batch = 0; batch < 15; ++batch) {
      std::vector<EventData> events;
      for (int i = 0; i < 100; ++i) {
        events.push_back(Event("Counted", absl::StrCat(R"({"n":)", batch * 100 + i, "}")));
      }
      ASSERT_OK((*s)->Append({"acct-1", ExpectedRevision::Any(), std::move(events)}).status());
    }
  }
  const std::string notice =
      "annals: no domain plugin for acct-1: folding with the generic JSON merge\n";
  Result quiet = RunTool({"--store", store, "replay", "acct-1"});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, notice);  // not a terminal: no progress
  // To the stream's last revision, or to --to.
  EXPECT_THAT(StderrOnTerminal({"--store", store, "replay", "acct-1"}),
              HasSubstr("replay 1,024 / 1,500 events  "));
  EXPECT_THAT(
      StderrOnTerminal({"--store", store, "replay", "acct-1", "--from", "100", "--to", "1299"}),
      HasSubstr("replay 1,024 / 1,200 events  "));
}

class ProjectionProgressTest : public ToolTest {};

TEST_F(ProjectionProgressTest, RebuildShowsTheCheckpointOutOfTheHeadOnATerminalOnly) {
  const std::string copy = PrivateCopy("rebuild-copy");
  const std::string head = tool::WithThousands(store_->head().value());
  Result quiet =
      RunTool({"--store", copy, "--plugin", kPlugin, "projections", "rebuild", "revenue-per-day"});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");  // not a terminal: silent
  const std::string drawn = StderrOnTerminal(
      {"--store", copy, "--plugin", kPlugin, "projections", "rebuild", "revenue-per-day"});
  EXPECT_THAT(drawn, ContainsRegex("rebuild [0-9,]+ / " + head + " positions"));
  EXPECT_THAT(drawn, HasSubstr("rebuild " + head + " positions"));
  EXPECT_THAT(drawn, HasSubstr(", done"));
}

TEST_F(ImportStreamTest, ExportWritesJsonAsJsonAndEverythingElseAsBase64) {
  const std::string store = dir_.Sub("store");
  {
    auto s = EventStore::Open(store, {.create_if_missing = true});
    ASSERT_OK(s.status());
    ASSERT_OK((*s)->Append({"p-1",
                            ExpectedRevision::Any(),
                            {{.type = "Json",
                              .data = R"({"a":[1,2.5,"x"]})",
                              .content_type = "application/json"},
                             {.type = "Proto",
                              .data = "hello",  // valid UTF-8, yet bytes
                              .content_type = "application/x-protobuf; messageType=x.Y"},
                             {.type = "Spaced",
                              .data = "{ \"a\": 1 }",  // not canonical
                              .content_type = "application/vnd.x+json"},
                             {.type = "Text", .data = "plain", .content_type = "text/plain"}}})
                  .status());
  }
  Result exported = RunTool({"--store", store, "export"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  const std::vector<nlohmann::ordered_json> lines = exported.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["data"], nlohmann::ordered_json::parse(R"({"a":[1,2.5,"x"]})"));
  EXPECT_EQ(lines[1]["data_base64"], "aGVsbG8=");
  EXPECT_FALSE(lines[1].contains("data"));
  EXPECT_EQ(lines[2]["data_base64"], "eyAiYSI6IDEgfQ==");  // exact bytes kept
  EXPECT_EQ(lines[3]["data_base64"], "cGxhaW4=");
  // Round trip: the copy exports the same lines.
  WriteFile(dir_.Sub("e.jsonl"), exported.out);
  ASSERT_EQ(RunTool({"--store", dir_.Sub("copy"), "import", dir_.Sub("e.jsonl")}).code, 0);
  EXPECT_EQ(RunTool({"--store", dir_.Sub("copy"), "export"}).out, exported.out);
}

TEST_F(ImportStreamTest, OldShapeLinesStillImport) {
  // Before: "data" a string holding the payload's UTF-8 text, whatever the
  // content type.
  const std::string old =
      R"({"position":1,"stream":"o-1","revision":0,"recorded_at":"2026-11-23T10:00:00.000000Z",)"
      R"("event_id":"0190d7a2-0000-7000-8000-000000000001","type":"Placed",)"
      R"("content_type":"application/json","correlation_id":"","causation_id":"","metadata":{},)"
      R"("data":"{\"customer\":\"c-17\"}"})"
      "\n"
      R"({"position":2,"stream":"o-1","revision":1,"recorded_at":"2026-11-23T10:00:00.000000Z",)"
      R"("event_id":"0190d7a2-0000-7000-8000-000000000002","type":"Raw",)"
      R"("content_type":"application/octet-stream","correlation_id":"","causation_id":"",)"
      R"("metadata":{},"data":"abc"})"
      "\n";
  WriteFile(dir_.Sub("old.jsonl"), old);
  Result imported = RunTool({"--store", dir_.Sub("store"), "import", dir_.Sub("old.jsonl")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto s = EventStore::Open(dir_.Sub("store"), {.read_only = true});
  ASSERT_OK(s.status());
  auto it = (*s)->ReadStream("o-1");
  ASSERT_OK(it.status());
  ASSERT_TRUE((*it)->Valid());
  EXPECT_EQ((*it)->record().data, R"({"customer":"c-17"})");
  (*it)->Next();
  ASSERT_TRUE((*it)->Valid());
  EXPECT_EQ((*it)->record().data, "abc");
  // A JSON value in "data" needs a JSON content type.
  std::string wrong = Line(1);
  wrong.replace(wrong.find("application/json"), 16, "text/plain");
  WriteFile(dir_.Sub("wrong.jsonl"), wrong + "\n");
  Result refused = RunTool({"--store", dir_.Sub("store3"), "import", dir_.Sub("wrong.jsonl")});
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("is not JSON: use \"data_base64\""));
}

TEST_F(ImportStreamTest, VerifyOfAnImportedCopyCountsTheSameEventsAndSaysWhatDiffers) {
  const std::string store = dir_.Sub("store");
  {
    auto s = EventStore::Open(store, {.create_if_missing = true});
    ASSERT_OK(s.status());
    EventData generated{.type = "T", .data = "{}", .content_type = "application/json"};
    generated.correlation_id = "c-1";
    EventData given = generated;
    given.event_id = *EventId::Parse("0190d7a2-0000-7000-8000-000000000001");
    // Two appends: one that gives an id indexes the ids of all its events.
    ASSERT_OK((*s)->Append({"a-1", ExpectedRevision::Any(), {generated}}).status());
    ASSERT_OK((*s)->Append({"a-1", ExpectedRevision::Any(), {given}}).status());
  }
  ASSERT_EQ(RunTool({"--store", store, "export", "-o", dir_.Sub("e.jsonl")}).code, 0);
  ASSERT_EQ(RunTool({"--store", dir_.Sub("copy"), "import", dir_.Sub("e.jsonl")}).code, 0);
  Result a = RunTool({"--store", store, "--json", "verify"});
  Result b = RunTool({"--store", dir_.Sub("copy"), "--json", "verify"});
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const nlohmann::ordered_json ja = a.json(), jb = b.json();
  EXPECT_EQ(ja["events_checked"], jb["events_checked"]);
  EXPECT_EQ(ja["index_entries_checked"], jb["index_entries_checked"]);
  EXPECT_EQ(ja["chain_head"], jb["chain_head"]);
  for (const char* family : {"log", "stream_events", "by_category", "by_type", "by_correlation",
                             "by_causation", "by_time", "streams"}) {
    EXPECT_EQ(ja["entries_checked"][family], jb["entries_checked"][family]) << family;
  }
  // event_ids differs (1 id given by the append, 2 imported), and verify says why.
  EXPECT_EQ(ja["entries_checked"]["event_ids"], 1);
  EXPECT_EQ(jb["entries_checked"]["event_ids"], 2);
  EXPECT_THAT(jb["counted"].dump(), HasSubstr("an import indexes every imported event's id"));
}

}  // namespace
}  // namespace annals::testing
