// The subcommands of the `annals` tool. Each commands_*.cc declares its own
// on the command line with one Args struct per subcommand (what its options
// parse into) and the function that runs it; annals_main.cc only calls the
// Add*Commands below.
#ifndef ANNALS_TOOLS_COMMANDS_H_
#define ANNALS_TOOLS_COMMANDS_H_

#include <functional>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "context.h"

namespace annals::tool {

// The subcommand the command line chose, bound to its parsed arguments; run
// once parsing is done.
using Action = std::function<int(Context&)>;

// Subcommands in the order `annals --help` lists them.
void AddInspectCommands(CLI::App& app, Action& chosen);  // info, streams, read, tail, audit
void AddHistoryCommands(CLI::App& app, Action& chosen);  // replay, state, diff, bisect
void AddOpsCommands(CLI::App& app,
                    Action& chosen);  // export, import, verify, backup, restore, compact, repair
void AddManageCommands(CLI::App& app, Action& chosen);  // schema, projections
void AddWriteCommands(CLI::App& app, Action& chosen);   // append
void AddEventCommands(CLI::App& app, Action& chosen);   // event, trace
void AddStatsCommands(CLI::App& app, Action& chosen);   // stats
// serve (built with the server, ANNALS_BUILD_SERVER).
void AddServeCommands(CLI::App& app, Action& chosen);
// relay (built with the relay, ANNALS_BUILD_RELAY).
void AddRelayCommands(CLI::App& app, Action& chosen);
// help, version, and the hidden `completion bash`.
void AddToolCommands(CLI::App& app, Action& chosen);

// --store, --json, --jsonl, --no-color, --plugin, --version.
void AddGlobalOptions(CLI::App& app, GlobalOptions& global);

// Checks of numeric option values: CLI11 alone would turn "-1" into
// 2^64 - 1 for an unsigned option and take "nan" or "inf" as seconds.
const CLI::Validator& CountCheck();    // a whole number >= 0
const CLI::Validator& SecondsCheck();  // seconds > 0, at most 1e9

// Adds subcommand `name` to `parent` with a fresh Args (owned by the
// subcommand) for its options to parse into: when the command line chooses
// it, `chosen` becomes run(ctx, args). Returns the subcommand and its Args.
template <typename Args>
std::pair<CLI::App*, Args*> AddCommand(CLI::App& parent, Action& chosen, const std::string& name,
                                       const std::string& help, int (*run)(Context&, const Args&)) {
  CLI::App* command = parent.add_subcommand(name, help);
  auto args = std::make_shared<Args>();
  command->callback(
      [&chosen, args, run] { chosen = [args, run](Context& ctx) { return run(ctx, *args); }; });
  return {command, args.get()};
}

// The same for a subcommand without options of its own.
CLI::App* AddCommand(CLI::App& parent, Action& chosen, const std::string& name,
                     const std::string& help, int (*run)(Context&));

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_COMMANDS_H_
