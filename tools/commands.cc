#include "commands.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

#include "annals/version.h"
#include "command_line.h"

namespace annals::tool {
namespace {

std::string VersionLine() { return "annals " + std::string(annals::Version()); }

}  // namespace

const CLI::Validator& CountCheck() {
  static const CLI::Validator check(
      [](std::string& text) -> std::string {
        if (text.empty() || text.size() > 19 ||
            text.find_first_not_of("0123456789") != std::string::npos) {
          return "needs a whole number >= 0, got '" + text + "'";
        }
        return "";
      },
      "COUNT");
  return check;
}

const CLI::Validator& SecondsCheck() {
  static const CLI::Validator check(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double seconds = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(seconds) ||
            seconds <= 0 || seconds > 1e9) {
          return "needs a number of seconds > 0, got '" + text + "'";
        }
        return "";
      },
      "SECONDS");
  return check;
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& global) {
  app.add_option("--store,-s", global.store, "The store directory")->envname("ANNALS_STORE");
  auto* json = app.add_flag("--json", global.json, "Print JSON (one array or object)");
  app.add_flag("--jsonl", global.jsonl, "Print one JSON object per line")->excludes(json);
  app.add_flag("--no-color", global.no_color,
               "No colors in diffs (also: NO_COLOR set, or not a terminal)");
  app.add_option("--plugin", global.plugins,
                 "A domain plugin (shared library) with folds and projections")
      ->envname("ANNALS_PLUGIN");
  app.set_version_flag("--version", VersionLine(), "Print the version (annals X.Y.Z) and exit");
}

void AddToolCommands(CLI::App& app, Action& chosen) {
  // `annals help CMD...` is rewritten to `annals CMD... --help` before
  // parsing (annals_main.cc); this one is for the listing and completion.
  CLI::App* help = app.add_subcommand("help",
                                      "Show the help of annals or of a subcommand: "
                                      "annals help [COMMAND...]");
  help->allow_extras();
  help->callback([&app, &chosen] {
    chosen = [&app](Context&) {
      std::cout << app.help();
      return kExitOk;
    };
  });
  AddCommand(app, chosen, "version", "Print the version (annals X.Y.Z)", [](Context&) -> int {
    std::cout << VersionLine() << "\n";
    return kExitOk;
  });
  // Hidden (no group): the packaging installs its output.
  CLI::App* completion =
      app.add_subcommand("completion", "Print a completion script: annals completion bash");
  completion->group("");
  completion->add_option("shell", "The shell (bash)")->required()->check(CLI::IsMember({"bash"}));
  completion->callback([&app, &chosen] {
    chosen = [&app](Context&) {
      std::cout << BashCompletion(app);
      return kExitOk;
    };
  });
}

CLI::App* AddCommand(CLI::App& parent, Action& chosen, const std::string& name,
                     const std::string& help, int (*run)(Context&)) {
  CLI::App* command = parent.add_subcommand(name, help);
  command->callback([&chosen, run] { chosen = run; });
  return command;
}

}  // namespace annals::tool
