#include "commands.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "annals/version.h"
#include "command_line.h"

namespace annals::tool {
namespace {

std::string VersionLine() { return "annals " + std::string(annals::Version()); }

// `text` as roff: backslashes and hyphens escaped, and no line that starts
// with a control character ('.' or "'").
std::string Roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

// CLI11's text without its trailing newlines (roff lines add their own).
std::string Trimmed(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The subcommands CLI11's help lists: a subcommand of no group is hidden.
std::vector<const CLI::App*> VisibleSubcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); });
}

// One `.TP` item: the option as CLI11's help spells it (its names in bold,
// or a positional's in italics), then its description.
void ManOption(const CLI::Formatter& formatter, const CLI::Option& option, bool positional,
               std::ostringstream& out) {
  out << ".TP\n"
      << (positional ? "\\fI" : "\\fB") << Roff(formatter.make_option_name(&option, positional))
      << "\\fR" << Roff(formatter.make_option_opts(&option)) << "\n"
      << Roff(Trimmed(formatter.make_option_desc(&option))) << "\n";
}

// The `.SS` section of `app` (called `path`: "annals projections rebuild"),
// then those of its subcommands, depth first: what `PATH --help` prints
// (description, usage, positionals, options, subcommands) without the footer,
// which the page has once.
void ManSections(const CLI::App& app, const std::string& path, std::ostringstream& out) {
  const CLI::Formatter formatter;
  out << ".SS \"" << Roff(path) << "\"\n"
      << Roff(Trimmed(formatter.make_description(&app))) << "\n.PP\n"
      << Roff(Trimmed(formatter.make_usage(&app, path))) << "\n";
  const auto positionals = app.get_options([](const CLI::Option* option) {
    return option->get_positional() && !option->get_group().empty();
  });
  if (!positionals.empty()) out << ".PP\nPositionals:\n";
  for (const CLI::Option* option : positionals) ManOption(formatter, *option, true, out);
  for (const std::string& group : app.get_groups()) {
    // -h,--help is every subcommand's: the page says so once.
    const auto options = app.get_options([&app, &group](const CLI::Option* option) {
      return option->get_group() == group && option->nonpositional() &&
             option != app.get_help_ptr();
    });
    if (group.empty() || options.empty()) continue;
    out << ".PP\n" << Roff(group) << ":\n";
    for (const CLI::Option* option : options) ManOption(formatter, *option, false, out);
  }
  const std::vector<const CLI::App*> subcommands = VisibleSubcommands(app);
  if (!subcommands.empty()) out << ".PP\nSubcommands:\n";
  for (const CLI::App* sub : subcommands) {
    out << ".TP\n" << Roff(sub->get_name()) << "\n" << Roff(sub->get_description()) << "\n";
  }
  for (const CLI::App* sub : subcommands) ManSections(*sub, path + " " + sub->get_name(), out);
}

// help2man's --include file (`annals completion man`): a COMMANDS section
// with every subcommand's own help, nested ones too, as the binary defines
// them.
std::string ManCommands(const CLI::App& app) {
  std::ostringstream out;
  out << "[COMMANDS]\n"
      << "Each subcommand's own help, as 'annals help COMMAND...' prints it; every one also "
         "takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR.\n";
  for (const CLI::App* sub : VisibleSubcommands(app)) {
    ManSections(*sub, app.get_name() + " " + sub->get_name(), out);
  }
  return out.str();
}

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
  CLI::App* completion = app.add_subcommand(
      "completion",
      "Print the bash completion script (bash) or the man page's COMMANDS section for "
      "help2man --include (man)");
  completion->group("");
  auto what = std::make_shared<std::string>();
  completion->add_option("what", *what, "bash or man")
      ->required()
      ->check(CLI::IsMember({"bash", "man"}));
  completion->callback([&app, &chosen, what] {
    chosen = [&app, what](Context&) {
      std::cout << (*what == "man" ? ManCommands(app) : BashCompletion(app));
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
