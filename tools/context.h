// What every subcommand of the `annals` tool shares: the global options,
// opening the store (read-only unless the command writes), the payload
// decoder and plugins, exit codes and errors (progress on stderr:
// lib/progress.h).
#ifndef ANNALS_TOOLS_CONTEXT_H_
#define ANNALS_TOOLS_CONTEXT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event_store.h"
#include "lib/history.h"
#include "lib/output.h"
#include "lib/payload.h"
#include "lib/progress.h"

namespace annals::tool {

// Exit codes (docs/CLI.md): scripts may rely on them.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,    // the operation failed, or a check found a problem (verify)
  kExitUsage = 2,     // bad arguments
  kExitNotFound = 3,  // no such store, stream, projection; bisect: never holds
  kExitBusy = 4,      // the store is in use by a writer (commands that write)
};

struct GlobalOptions {
  std::string store;
  bool json = false;
  bool jsonl = false;
  bool no_color = false;
  std::vector<std::string> plugins;
};

// Prints an error on stderr and returns `exit_code`: the line "annals:
// <message>", or with --json/--jsonl (`json`) one JSON object {"error",
// "code", "exit"} and, for usage errors, "help" (docs/CLI.md, "Errors").
// `help` names the help that explains the usage ("annals read --help").
int PrintError(bool json, const std::string& message, const std::string& code, int exit_code,
               const std::string& help = "");

class Context {
 public:
  // `command` is the subcommand chosen ("annals read"): usage errors point
  // to its --help.
  explicit Context(GlobalOptions options, std::string command = "annals")
      : options_(std::move(options)), command_(std::move(command)) {}

  Format format() const {
    return options_.jsonl ? Format::kJsonl : options_.json ? Format::kJson : Format::kTable;
  }
  bool color() const;
  const GlobalOptions& options() const { return options_; }

  // Opens --store read-only (beside a running writer) or for writing.
  absl::StatusOr<EventStore*> OpenReadOnly();
  absl::StatusOr<EventStore*> OpenForWriting(bool create_if_missing = false);
  // The payload decoder of the open store's schema registry.
  absl::StatusOr<const PayloadDecoder*> Decoder();
  // Loads --plugin libraries once.
  absl::StatusOr<Plugins*> LoadPlugins();
  // The fold for `stream`: --fold NAME, else the plugin fold of its
  // category, else the generic JSON fold (saying so once on stderr, unless
  // --fold json asked for it).
  absl::StatusOr<const plugin::Fold*> FoldFor(const std::string& stream,
                                              const std::string& fold_name);

  // NotFound naming the first --plugin file that does not exist: checked
  // before any command runs, so that a mistyped path is never ignored.
  absl::Status CheckPlugins() const;

  // Prints the error on stderr (PrintError) and returns the exit code for
  // it: Fail for a status, Usage for bad arguments (exit 2).
  int Fail(const absl::Status& status) const;
  int Usage(const std::string& problem) const;

 private:
  absl::Status RequireStore() const;
  absl::StatusOr<EventStore*> Open(bool read_only, bool create_if_missing);

  GlobalOptions options_;
  const std::string command_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<PayloadDecoder> decoder_;
  std::unique_ptr<Plugins> plugins_;
  std::unique_ptr<plugin::Fold> generic_fold_;
  bool generic_fold_noted_ = false;
};

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_CONTEXT_H_
