// The `annals` command line behaving as git and sqlite3 do, through the
// built binary: --version and help, git's "is not a command", usage errors
// pointing to the subcommand's help, errors as JSON with --json, `$all`,
// the time forms, refused negative numbers, the generic-fold notice, tables
// aligned by display width, the man page and the bash completion.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/version.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class ToolCliTest : public ToolTest {};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The subcommands `annals [COMMAND...] --help` lists (the words after
// "Subcommands:").
std::vector<std::string> ListedSubcommands(std::vector<std::string> command = {}) {
  std::vector<std::string> names;
  bool in_list = false;
  command.push_back("--help");
  for (const std::string& line : Lines(RunTool(command).out)) {
    if (line == "Subcommands:") {
      in_list = true;
    } else if (in_list && line.size() > 2 && line.substr(0, 2) == "  " && line[2] != ' ') {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (in_list && line.empty()) {
      break;
    }
  }
  return names;
}

TEST_F(ToolCliTest, VersionFlagAndSubcommandPrintTheLibraryVersion) {
  const std::string expected = "annals " + std::string(annals::Version()) + "\n";
  EXPECT_EQ(std::string(annals::Version()), ANNALS_VERSION_STRING);
  for (auto args : {std::vector<std::string>{"--version"}, std::vector<std::string>{"version"}}) {
    Result run = RunTool(args);
    EXPECT_EQ(run.code, 0) << args[0];
    EXPECT_EQ(run.out, expected) << args[0];
    EXPECT_EQ(run.err, "") << args[0];
  }
}

TEST_F(ToolCliTest, HelpSubcommandIsTheHelpFlag) {
  Result top = RunTool({"--help"});
  ASSERT_EQ(top.code, 0);
  EXPECT_EQ(RunTool({"help"}).out, top.out);
  EXPECT_THAT(top.out, HasSubstr("help"));
  EXPECT_THAT(top.out, HasSubstr("version"));
  Result read = RunTool({"read", "--help"});
  EXPECT_THAT(read.out, HasSubstr("Usage: annals read"));
  EXPECT_EQ(RunTool({"help", "read"}).out, read.out);
  Result rebuild = RunTool({"projections", "rebuild", "--help"});
  EXPECT_THAT(rebuild.out, HasSubstr("Usage: annals projections rebuild"));
  Result nested = RunTool({"help", "projections", "rebuild"});
  EXPECT_EQ(nested.code, 0);
  EXPECT_EQ(nested.out, rebuild.out);
  Result unknown = RunTool({"help", "frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err, "annals: 'frobnicate' is not an annals command. See 'annals --help'.\n");
}

TEST_F(ToolCliTest, UnknownSubcommandIsRefusedInGitsWords) {
  Result run = RunTool({"frobnicate"});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "annals: 'frobnicate' is not an annals command. See 'annals --help'.\n");
  // After global options too, and one level down.
  EXPECT_EQ(Tool({"--no-color", "frobnicate"}).err,
            "annals: 'frobnicate' is not an annals command. See 'annals --help'.\n");
  Result nested = Tool({"projections", "frob"});
  EXPECT_EQ(nested.code, 2);
  EXPECT_EQ(nested.err,
            "annals: 'frob' is not an annals projections command. See 'annals projections "
            "--help'.\n");
}

TEST_F(ToolCliTest, UsageErrorsPointToTheSubcommandsOwnHelp) {
  struct Case {
    std::vector<std::string> args;
    std::string help;
  };
  for (const Case& c : std::vector<Case>{
           {{"read", "--limit", "-1"}, "annals read --help"},
           {{"read", "--bogus"}, "annals read --help"},
           {{"state"}, "annals state --help"},
           {{"audit", "--since", "noon"}, "annals audit --help"},
           {{"replay", "order-1", "--from", "soon"}, "annals replay --help"},
           {{"projections", "status"}, "annals projections status --help"},
           {{"--bogus", "info"}, "annals info --help"},
           {{}, "annals --help"},  // no subcommand
       }) {
    Result run = Tool(c.args);
    EXPECT_EQ(run.code, 2) << c.help;
    EXPECT_THAT(run.err, HasSubstr("Run '" + c.help + "' for more information.")) << c.help;
    EXPECT_THAT(run.err, StartsWith("annals: ")) << c.help;
  }
}

TEST_F(ToolCliTest, ErrorsWithJsonAreOneJsonObjectOnStderr) {
  struct Case {
    std::vector<std::string> args;
    int exit;
    std::string code;
  };
  for (const char* form : {"--json", "--jsonl"}) {
    for (const Case& c : std::vector<Case>{
             {{"frobnicate"}, 2, "usage"},
             {{"read", "--bogus"}, 2, "usage"},
             {{"read", "--limit", "-1"}, 2, "usage"},
             {{"audit", "--since", "noon"}, 2, "usage"},
             {{"read", "order-404"}, 3, "NOT_FOUND"},
             {{"state", "order-1", "--fold", "json", "--at-revision", "9"}, 3, "NOT_FOUND"},
             {{"bisect", "account-7", "--fold", "json", "--until", "/balance > 1000"},
              3,
              "NOT_FOUND"},
         }) {
      std::vector<std::string> args = c.args;
      args.insert(args.begin(), form);
      Result run = Tool(args);
      const std::string what = std::string(form) + " " + c.args[0] + " " + c.args.back();
      EXPECT_EQ(run.code, c.exit) << what;
      std::vector<std::string> lines = Lines(run.err);
      ASSERT_EQ(lines.size(), 1u) << what << ": " << run.err;
      Json error = Json::parse(lines[0], nullptr, false);
      ASSERT_TRUE(error.is_object()) << what << ": " << run.err;
      EXPECT_EQ(error["code"], c.code) << what;
      EXPECT_EQ(error["exit"], c.exit) << what;
      EXPECT_TRUE(error["error"].is_string()) << what;
      EXPECT_THAT(error["error"].get<std::string>(), Not(StartsWith("annals:"))) << what;
    }
  }
  Json usage = Json::parse(Tool({"--json", "read", "--limit", "-1"}).err);
  EXPECT_EQ(usage["help"], "annals read --help");
  Json missing = Json::parse(RunTool({"--json", "--store", dir_->Sub("nowhere"), "info"}).err);
  EXPECT_EQ(missing["exit"], 3);
  EXPECT_THAT(missing["error"].get<std::string>(), HasSubstr("no store at"));
}

TEST_F(ToolCliTest, DollarAllNamesTheGlobalLog) {
  Result all = Tool({"--jsonl", "read", "$all"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out, Tool({"--jsonl", "read"}).out);
  EXPECT_EQ(all.lines().size(), store_->head().value());
  EXPECT_EQ(Tool({"--jsonl", "read", "$all", "--backward", "--limit", "2"}).out,
            Tool({"--jsonl", "read", "--backward", "--limit", "2"}).out);
  Result tail = Tool({"--jsonl", "tail", "$all", "-n", "3"});
  ASSERT_EQ(tail.code, 0) << tail.err;
  EXPECT_EQ(tail.out, Tool({"--jsonl", "tail", "-n", "3"}).out);
  EXPECT_EQ(tail.lines().size(), 3u);
  Result audit = Tool({"--jsonl", "audit", "--stream", "$all", "--meta", "user=bob"});
  ASSERT_EQ(audit.code, 0) << audit.err;
  EXPECT_EQ(audit.out, Tool({"--jsonl", "audit", "--meta", "user=bob"}).out);
  EXPECT_EQ(audit.lines().size(), 1u);
}

TEST_F(ToolCliTest, TimesAreAcceptedInEveryForm) {
  const size_t all = Tool({"--jsonl", "read"}).lines().size();
  // The store was written moments ago: after the start of 2000, within the
  // last week, before now.
  for (const char* since : {"2000-01-01", "2000-01-01 00:00:00", "2000-01-01 00:00:00Z",
                            "2000-01-01T00:00:00Z", "2000-01-01T01:00:00.5+01:00", "-1w", "-3d"}) {
    Result run = Tool({"--jsonl", "audit", "--since", since});
    ASSERT_EQ(run.code, 0) << since << ": " << run.err;
    EXPECT_EQ(run.lines().size(), all) << since;
  }
  for (const char* until : {"2000-01-01", "-1w", "-2h"}) {
    Result run = Tool({"--jsonl", "audit", "--until", until});
    ASSERT_EQ(run.code, 0) << until << ": " << run.err;
    EXPECT_EQ(run.out, "") << until;
  }
  EXPECT_EQ(Tool({"--jsonl", "audit", "--since", "now"}).out, "");
  EXPECT_EQ(Tool({"--jsonl", "audit", "--until", "now"}).lines().size(), all);
  // The history commands take the same forms.
  Json now = ToolWithPlugin({"--json", "state", "order-1", "--as-of", "now"}).json();
  EXPECT_EQ(now["revision"], 3);
  EXPECT_EQ(ToolWithPlugin({"state", "order-1", "--as-of=-1w"}).code, 3);  // none a week ago
  Result replay = ToolWithPlugin({"--jsonl", "replay", "order-1", "--from", "2000-01-01"});
  EXPECT_EQ(replay.lines().size(), 4u) << replay.err;
  Result diff = ToolWithPlugin({"--json", "diff", "order-1", "0", "now"});
  ASSERT_EQ(diff.code, 0) << diff.err;
  EXPECT_EQ(diff.json()["to"]["revision"], 3);
}

TEST_F(ToolCliTest, BadTimesAndRangesAreUsageErrors) {
  Result garbage = Tool({"audit", "--since", "noon"});
  EXPECT_EQ(garbage.code, 2);
  EXPECT_THAT(garbage.err, HasSubstr("--since: 'noon' is not a time: give RFC 3339"));
  EXPECT_THAT(garbage.err, HasSubstr("-2h"));
  Result as_of = Tool({"state", "order-1", "--as-of", "tomorrow"});
  EXPECT_EQ(as_of.code, 2);
  EXPECT_THAT(as_of.err, HasSubstr("--as-of: 'tomorrow' is not a time"));
  Result point = Tool({"diff", "order-1", "0", "soon"});
  EXPECT_EQ(point.code, 2);
  EXPECT_THAT(point.err, HasSubstr("'soon' is no point"));
  Result reversed = Tool({"audit", "--since", "2026-12-02", "--until", "2026-12-01"});
  EXPECT_EQ(reversed.code, 2);
  EXPECT_THAT(reversed.err, HasSubstr("--since (2026-12-02T00:00:00.000000Z) is after --until"));
}

TEST_F(ToolCliTest, NegativeAndMalformedNumbersAreRefused) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"streams", "--limit", "-1"},
           {"read", "--limit", "-1"},
           {"read", "--from", "-1"},
           {"read", "order-1", "--from", "-1"},
           {"tail", "-n", "-1"},
           {"tail", "-f", "--for", "-1"},
           {"audit", "--limit", "-1"},
           {"state", "order-1", "--at-revision", "-1"},
           {"state", "order-1", "--at-position", "-1"},
           {"replay", "order-1", "--from", "-1"},
           {"replay", "order-1", "--to", "@-1"},
           {"diff", "order-1", "-1", "2"},
           {"streams", "--limit", "1.5"},
           {"tail", "-n", "x"},
       }) {
    Result run = Tool(args);
    EXPECT_EQ(run.code, 2) << args[0] << " " << args[1] << " " << args.back() << ": " << run.err;
    EXPECT_EQ(run.out, "") << args[0];
  }
}

TEST_F(ToolCliTest, GenericFoldIsAnnouncedOnceOnStderr) {
  const std::string notice =
      "annals: no domain plugin for account-7: folding with the generic JSON merge\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"replay", "account-7"},
           {"state", "account-7"},
           {"diff", "account-7", "0", "2"},
           {"bisect", "account-7", "--until", "/overdrawn"},
       }) {
    Result run = Tool(args);
    EXPECT_EQ(run.code, 0) << args[0] << ": " << run.err;
    EXPECT_EQ(run.err, notice) << args[0];
    // With JSON output it stays on stderr: stdout remains JSON.
    std::vector<std::string> json_args = args;
    json_args.insert(json_args.begin(), "--jsonl");
    Result json = Tool(json_args);
    EXPECT_EQ(json.err, notice) << args[0];
    for (const std::string& line : Lines(json.out)) {
      EXPECT_FALSE(Json::parse(line, nullptr, false).is_discarded()) << line;
    }
  }
  // Not when a plugin folds the category, nor when --fold json asks for it.
  EXPECT_EQ(ToolWithPlugin({"state", "order-1"}).err, "");
  EXPECT_EQ(Tool({"state", "account-7", "--fold", "json"}).err, "");
  // A plugin that folds another category: the notice names the stream.
  EXPECT_EQ(ToolWithPlugin({"state", "account-7"}).err, notice);
}

TEST_F(ToolCliTest, MissingPluginFileIsNotFound) {
  const std::string nope = dir_->Sub("nope.so");
  // Every command checks, also one that folds nothing: never ignored.
  for (const char* command : {"read", "replay", "info"}) {
    std::vector<std::string> args = {"--store", StorePath(), "--plugin", nope, command};
    if (std::string(command) == "replay") args.push_back("order-1");
    Result run = RunTool(args);
    EXPECT_EQ(run.code, 3) << command;
    EXPECT_EQ(run.out, "") << command;
    EXPECT_THAT(run.err, HasSubstr("plugin '" + nope + "' not found")) << command;
  }
  Result from_env = RunTool({"--store", StorePath(), "info"}, {"ANNALS_PLUGIN=" + nope});
  EXPECT_EQ(from_env.code, 3);
  EXPECT_THAT(from_env.err, HasSubstr("ANNALS_PLUGIN"));
}

TEST_F(ToolCliTest, StateBeforeTheFirstEventIsNotFound) {
  Result as_of = ToolWithPlugin({"state", "order-1", "--as-of", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(as_of.code, 3);
  EXPECT_EQ(as_of.out, "");
  EXPECT_THAT(as_of.err,
              HasSubstr("no event of order-1 existed at time 2000-01-01T00:00:00.000000Z"));
  Result json = ToolWithPlugin({"--json", "state", "order-1", "--as-of", "2000-01-01"});
  EXPECT_EQ(json.code, 3);
  EXPECT_EQ(json.out, "");
  EXPECT_EQ(Json::parse(json.err)["code"], "NOT_FOUND");
  Result position = ToolWithPlugin({"state", "order-2", "--at-position", "1"});
  EXPECT_EQ(position.code, 3);
  EXPECT_THAT(position.err, HasSubstr("no event of order-2 existed at position 1"));
  // A diff may still start before the first event.
  EXPECT_EQ(ToolWithPlugin({"diff", "order-1", "2000-01-01", "0"}).code, 0);
}

// The display width of the test's own strings: ASCII one column, the CJK
// and emoji used here two, U+0301 none.
size_t TestWidth(const std::string& s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      width += 1, i += 1;
    } else if (s.compare(i, 2, "\xcc\x81") == 0) {
      i += 2;  // COMBINING ACUTE ACCENT
    } else if (c >= 0xF0) {
      width += 2, i += 4;  // emoji
    } else {
      width += 2, i += 3;  // CJK ideographs
    }
  }
  return width;
}

// The display column at which each line's `n`th column starts (columns are
// separated by two spaces or more; cells here have no double spaces).
std::vector<size_t> ColumnStarts(const std::string& table, int n) {
  std::vector<size_t> starts;
  for (const std::string& line : Lines(table)) {
    size_t at = 0;
    for (int k = 0; k < n; ++k) {
      at = line.find("  ", at);
      if (at == std::string::npos) break;
      at = line.find_first_not_of(' ', at);
    }
    starts.push_back(at == std::string::npos ? 0 : TestWidth(line.substr(0, at)));
  }
  return starts;
}

TEST(ToolTableTest, WideAndCombiningCharactersAlign) {
  TempDir dir;
  const std::vector<std::string> streams = {"注文-1", "😀-2", "cafe\xcc\x81-3", "plain-4",
                                            "注文注文注文-5"};
  {
    auto store = EventStore::Open(dir.Sub("store"), TestOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    for (const std::string& stream : streams) {
      ASSERT_TRUE(
          (*store)
              ->Append(
                  {stream, ExpectedRevision::Any(), {Event("Noted", R"({"note":"日本語 é 😀"})")}})
              .ok());
    }
  }
  Result listed = RunTool({"--store", dir.Sub("store"), "streams"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  ASSERT_EQ(Lines(listed.out).size(), streams.size() + 1) << listed.out;
  // Widest name: 注文注文注文-5, 14 columns; then two spaces.
  for (size_t start : ColumnStarts(listed.out, 1)) EXPECT_EQ(start, 16u) << listed.out;
  for (size_t start : ColumnStarts(listed.out, 2)) EXPECT_EQ(start, 24u) << listed.out;
  Result read = RunTool({"--store", dir.Sub("store"), "read"});
  ASSERT_EQ(read.code, 0) << read.err;
  std::vector<size_t> revision = ColumnStarts(read.out, 2);
  ASSERT_EQ(revision.size(), streams.size() + 1);
  for (size_t start : revision) EXPECT_EQ(start, revision[0]) << read.out;
  EXPECT_EQ(revision[0], 10u + 14 + 2);  // "position  " then the widest stream
}

// The man page's section of `command` ("annals verify"), from its heading
// to the next; "" if it has none.
std::string ManSection(const std::string& page, const std::string& command) {
  const std::string heading = ".SS \"" + command + "\"\n";
  const size_t start = page.find(heading);
  if (start == std::string::npos) return "";
  return page.substr(start, page.find("\n.S", start + heading.size()) - start);
}

TEST_F(ToolCliTest, ManPageDescribesEverySubcommand) {
#if ANNALS_HAVE_MAN_PAGE
  const std::string page = ReadFile(ANNALS_MAN_PAGE_PATH);
  ASSERT_FALSE(page.empty()) << ANNALS_MAN_PAGE_PATH;
  EXPECT_THAT(page, StartsWith(".\\\" DO NOT MODIFY THIS FILE!"));  // help2man's banner
  EXPECT_THAT(page, HasSubstr(".TH ANNALS \"1\""));
  EXPECT_THAT(page, HasSubstr(std::string(annals::Version())));
  const std::vector<std::string> subcommands = ListedSubcommands();
  ASSERT_GE(subcommands.size(), 18u);
  for (const std::string& sub : subcommands) {
    EXPECT_THAT(page, HasSubstr("\n" + sub)) << sub;
  }
  // Every subcommand, nested ones too, has its own section: its help.
  for (const std::string& sub : subcommands) {
    EXPECT_THAT(ManSection(page, "annals " + sub), HasSubstr("\nUsage: annals " + sub + " "))
        << sub;
    if (sub == "help") continue;  // `annals help --help` is `annals --help`
    for (const std::string& nested : ListedSubcommands({sub})) {
      const std::string name = sub + " " + nested;
      EXPECT_THAT(ManSection(page, "annals " + name), HasSubstr("\nUsage: annals " + name + " "))
          << name;
    }
  }
  // With the options only that subcommand has.
  EXPECT_THAT(ManSection(page, "annals verify"), HasSubstr("\\fB\\-\\-expect\\-head\\fR TEXT"));
  EXPECT_THAT(ManSection(page, "annals import"), HasSubstr("\\fB\\-\\-resume\\fR"));
  EXPECT_THAT(ManSection(page, "annals state"), HasSubstr("\\fB\\-\\-at\\-revision\\fR"));
  EXPECT_THAT(ManSection(page, "annals import"), Not(HasSubstr("expect\\-head")));
  EXPECT_THAT(ListedSubcommands({"projections"}), ::testing::Contains("rebuild"));
  const std::string rebuild = ManSection(page, "annals projections rebuild");
  EXPECT_THAT(rebuild, HasSubstr("Usage: annals projections rebuild [OPTIONS] name\n"));
  EXPECT_THAT(rebuild, HasSubstr("\\fIname\\fR TEXT REQUIRED\nThe projection\n"));
  EXPECT_THAT(rebuild, HasSubstr("\\fB\\-\\-timeout\\fR FLOAT:SECONDS\n"));
  EXPECT_THAT(ManSection(page, "annals schema add"), HasSubstr("Usage: annals schema add "));
  // The section is what the tool prints, and the hidden subcommand stays hidden.
  Result commands = RunTool({"completion", "man"});
  ASSERT_EQ(commands.code, 0) << commands.err;
  EXPECT_THAT(commands.out, StartsWith("[COMMANDS]\n"));
  EXPECT_THAT(commands.out, HasSubstr(rebuild));
  EXPECT_EQ(ManSection(page, "annals completion"), "");
  Result unknown = RunTool({"completion", "zsh"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("zsh"));
#else
  GTEST_SKIP() << "help2man was not found when configuring: no man page";
#endif
}

// What the completion script offers for `words` (the last is the one being
// completed), run in bash.
std::vector<std::string> Complete(const std::vector<std::string>& words) {
  std::string array;
  for (const std::string& word : words) array += " " + Quote(word);
  const std::string script = std::string("source ") + Quote(ANNALS_BASH_COMPLETION_PATH) +
                             " && COMP_WORDS=(" + array +
                             ") && COMP_CWORD=" + std::to_string(words.size() - 1) +
                             " && _annals && printf '%s\\n' \"${COMPREPLY[@]}\"";
  FILE* pipe = ::popen(("bash -c " + Quote(script) + " 2>&1").c_str(), "r");
  std::string out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  ::pclose(pipe);
  std::vector<std::string> offered;
  for (const std::string& line : Lines(out)) {
    if (!line.empty()) offered.push_back(line);
  }
  std::sort(offered.begin(), offered.end());
  return offered;
}

TEST_F(ToolCliTest, BashCompletionCompletesSubcommandsAndOptions) {
  // The installed script is what the tool prints.
  Result printed = RunTool({"completion", "bash"});
  ASSERT_EQ(printed.code, 0) << printed.err;
  EXPECT_EQ(ReadFile(ANNALS_BASH_COMPLETION_PATH), printed.out);
  // Hidden from the listing, not from the completion's own author.
  EXPECT_THAT(ListedSubcommands(), Not(::testing::Contains("completion")));
  FILE* pipe =
      ::popen(("bash -c " + Quote(std::string("source ") + Quote(ANNALS_BASH_COMPLETION_PATH) +
                                  " && complete -p annals"))
                  .c_str(),
              "r");
  char buffer[256] = {};
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, pipe);
  ::pclose(pipe);
  EXPECT_THAT(std::string(buffer, n), HasSubstr("-F _annals annals"));

  // ("rep", not "re": `relay` is there only when libnats was found.)
  EXPECT_THAT(Complete({"annals", "rep"}), ElementsAre("repair", "replay"));
  EXPECT_THAT(Complete({"annals", "--store", "/tmp/s", "--json", "ver"}),
              ElementsAre("verify", "version"));
  EXPECT_THAT(Complete({"annals", "help", "res"}), ElementsAre("restore"));
  EXPECT_THAT(Complete({"annals", "projections", "re"}), ElementsAre("rebuild", "retry"));
  EXPECT_THAT(Complete({"annals", "read", "--l"}), ElementsAre("--limit"));
  EXPECT_THAT(Complete({"annals", "tail", "-"}),
              ::testing::IsSupersetOf({"-n", "--follow", "--for", "--store"}));
  // An option's value: nothing from the tool (bash completes file names).
  EXPECT_THAT(Complete({"annals", "--store", "re"}), ElementsAre());
  // Every listed subcommand completes.
  for (const std::string& sub : ListedSubcommands()) {
    EXPECT_THAT(Complete({"annals", sub}), ::testing::Contains(sub)) << sub;
  }
}

}  // namespace
}  // namespace annals::testing
