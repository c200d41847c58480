// annals: the command-line tool. Inspect a store, travel through an
// aggregate's history, run audit queries, export/import, verify, back up,
// manage projections. Every subcommand is a client of the public library
// API and declares its own options (commands_*.cc, commands.h); docs/CLI.md
// documents them with examples.
#include <iostream>

#include "CLI/CLI.hpp"
#include "commands.h"
#include "context.h"

int main(int argc, char** argv) {
  using namespace annals::tool;
  CLI::App app{"annals: inspect, debug and operate an annals event store.", "annals"};
  app.footer(
      "Exit codes: 0 ok; 1 failed (or verify found a problem); 2 bad arguments; 3 not found "
      "(store, stream, "
      "projection; bisect: the predicate never holds); 4 the store is in use by a writer (commands "
      "that "
      "write).\nSee docs/CLI.md.");
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  AddGlobalOptions(app, global);
  Action chosen;
  AddInspectCommands(app, chosen);
  AddHistoryCommands(app, chosen);
  AddOpsCommands(app, chosen);
  AddManageCommands(app, chosen);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "annals: " << e.what()
              << "\nRun 'annals --help' (or 'annals SUBCOMMAND --help') for more information.\n";
    return kExitUsage;
  }
  Context ctx(global);
  return chosen ? chosen(ctx) : kExitUsage;
}
