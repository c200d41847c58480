// The command line as a person types it, before CLI11 parses it: which
// subcommand it names (for the help an error points to), a word that names
// none (git's "is not a command"), `annals help CMD...` as `annals CMD...
// --help`, and whether errors are to be JSON (--json, --jsonl).
#ifndef ANNALS_TOOLS_COMMAND_LINE_H_
#define ANNALS_TOOLS_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace annals::tool {

struct CommandWords {
  // From `app` down to the deepest subcommand the words name.
  std::vector<const CLI::App*> path;
  // A word where a subcommand of path.back() was expected and none matched.
  std::string unknown;
  // Index in the arguments of the top-level word `help`, if it is there.
  std::optional<size_t> help_word;
  bool json = false;  // --json or --jsonl given
};

// Reads `args` (argv without argv[0]) against `app`'s subcommands and
// options, skipping option values.
CommandWords ScanCommandLine(const CLI::App& app, const std::vector<std::string>& args);

// "annals projections rebuild": the words of `path`.
std::string CommandName(const std::vector<const CLI::App*>& path);

// `help [CMD...]` rewritten as `[CMD...] --help`.
std::vector<std::string> HelpAsFlag(std::vector<std::string> args, size_t help_word);

// The bash completion script for `app` (`annals completion bash`): the
// subcommands and options of every level, as the tool defines them, so the
// script cannot drift from the tool.
std::string BashCompletion(const CLI::App& app);

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_COMMAND_LINE_H_
