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

class Context {
 public:
  explicit Context(GlobalOptions options) : options_(std::move(options)) {}

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
  // category, else the generic JSON fold.
  absl::StatusOr<const plugin::Fold*> FoldFor(const std::string& stream,
                                              const std::string& fold_name);

  // Prints "annals: message" on stderr and returns the exit code for it.
  int Fail(const absl::Status& status) const;
  int Usage(const std::string& problem) const;

 private:
  absl::Status RequireStore() const;
  absl::StatusOr<EventStore*> Open(bool read_only, bool create_if_missing);

  GlobalOptions options_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<PayloadDecoder> decoder_;
  std::unique_ptr<Plugins> plugins_;
  std::unique_ptr<plugin::Fold> generic_fold_;
};

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_CONTEXT_H_
