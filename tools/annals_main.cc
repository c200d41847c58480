// annals: the command-line tool. Inspect a store, travel through an
// aggregate's history, run audit queries, export/import, verify, back up,
// manage projections. Every subcommand is a client of the public library
// API and declares its own options (commands_*.cc, commands.h); docs/CLI.md
// documents them with examples.
#include <algorithm>
#include <iostream>

#include "CLI/CLI.hpp"
#include "command_line.h"
#include "commands.h"
#include "context.h"

int main(int argc, char** argv) {
  using namespace annals::tool;
  CLI::App app{"annals: inspect, debug and operate an annals event store.", "annals"};
  app.footer(
      "Exit codes: 0 ok; 1 failed (or verify found a problem); 2 bad arguments; 3 not found "
      "(store, stream, projection; bisect: the predicate never holds); 4 the store is in use by "
      "a writer (commands that write).\nSee docs/CLI.md and 'annals help COMMAND'.");
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  AddGlobalOptions(app, global);
  Action chosen;
  AddInspectCommands(app, chosen);
  AddHistoryCommands(app, chosen);
  AddWriteCommands(app, chosen);
  AddEventCommands(app, chosen);
  AddOpsCommands(app, chosen);
  AddManageCommands(app, chosen);
  AddStatsCommands(app, chosen);
#ifdef ANNALS_WITH_SERVER
  AddServeCommands(app, chosen);
#endif
#ifdef ANNALS_WITH_RELAY
  AddRelayCommands(app, chosen);
#endif
  AddToolCommands(app, chosen);
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  CommandWords words = ScanCommandLine(app, args);
  if (words.help_word) {  // `annals help CMD...` is `annals CMD... --help`
    args = HelpAsFlag(std::move(args), *words.help_word);
    words = ScanCommandLine(app, args);
  }
  const std::string command = CommandName(words.path);
  if (!words.unknown.empty()) {  // git's wording
    return PrintError(
        words.json,
        "'" + words.unknown + "' is not an " + command + " command. See '" + command + " --help'.",
        "usage", kExitUsage);
  }
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app.parse(std::move(args));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return PrintError(words.json, e.what(), "usage", kExitUsage, command + " --help");
  }
  Context ctx(global, command);
  if (absl::Status s = ctx.CheckPlugins(); !s.ok()) return ctx.Fail(s);
  return chosen ? chosen(ctx) : kExitUsage;
}
