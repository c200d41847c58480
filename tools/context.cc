#include "context.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace annals::tool {
namespace {

constexpr size_t kToolBlockCacheBytes = 16 << 20;

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kFailedPrecondition:
      // "already open in another process" is a busy store, "no store at" a
      // missing one; other preconditions (tombstoned stream, existing
      // directory) are failures.
      if (absl::StrContains(status.message(), "already open")) return kExitBusy;
      if (absl::StartsWith(status.message(), "no store at")) return kExitNotFound;
      return kExitFailed;
    default:
      return kExitFailed;
  }
}

}  // namespace

bool Context::color() const {
  return !options_.no_color && format() == Format::kTable && ::isatty(STDOUT_FILENO) &&
         ::getenv("NO_COLOR") == nullptr;
}

absl::Status Context::RequireStore() const {
  if (options_.store.empty()) {
    return absl::InvalidArgumentError("no store given: pass --store DIR or set ANNALS_STORE");
  }
  return absl::OkStatus();
}

absl::StatusOr<EventStore*> Context::OpenReadOnly() { return Open(/*read_only=*/true, false); }

absl::StatusOr<EventStore*> Context::OpenForWriting(bool create_if_missing) {
  return Open(/*read_only=*/false, create_if_missing);
}

absl::StatusOr<EventStore*> Context::Open(bool read_only, bool create_if_missing) {
  if (store_ != nullptr) return store_.get();
  if (absl::Status s = RequireStore(); !s.ok()) return s;
  StoreOptions options;
  options.read_only = read_only;
  options.create_if_missing = create_if_missing;
  // Full scans (export, verify, replay of $all) would otherwise fill the
  // default 128 MiB block cache: memory stays small whatever the store size.
  options.tuning.block_cache_bytes = kToolBlockCacheBytes;
  // A store `annals serve` ran on holds its `$settings` event: read,
  // export and import it like any stream (docs/SERVER.md, "System events").
  options.system_streams = {"$settings"};
  auto store = EventStore::Open(options_.store, options);
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  return store_.get();
}

absl::StatusOr<const PayloadDecoder*> Context::Decoder() {
  if (decoder_ != nullptr) return decoder_.get();
  absl::StatusOr<EventStore*> store = OpenReadOnly();
  if (!store.ok()) return store.status();
  auto decoder = PayloadDecoder::Load(**store);
  if (!decoder.ok()) return decoder.status();
  decoder_ = *std::move(decoder);
  return decoder_.get();
}

absl::StatusOr<Plugins*> Context::LoadPlugins() {
  if (plugins_ != nullptr) return plugins_.get();
  auto plugins = std::make_unique<Plugins>();
  for (const std::string& path : options_.plugins) {
    if (path.empty()) continue;
    if (absl::Status s = plugins->Load(path); !s.ok()) return s;
  }
  plugins_ = std::move(plugins);
  return plugins_.get();
}

absl::StatusOr<const plugin::Fold*> Context::FoldFor(const std::string& stream,
                                                     const std::string& fold_name) {
  absl::StatusOr<Plugins*> plugins = LoadPlugins();
  if (!plugins.ok()) return plugins.status();
  if (!fold_name.empty() && fold_name != "json") {
    const plugin::Fold* fold = (*plugins)->FindFold(fold_name);
    if (fold == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("no fold named '", fold_name,
                       "' (load its plugin with --plugin; 'json' is the generic fold)"));
    }
    return fold;
  }
  if (fold_name.empty()) {
    if (const plugin::Fold* fold = (*plugins)->FoldForStream(stream)) return fold;
    // Say it: a state folded generically can look plausible and be wrong
    // for the domain. On stderr, so JSON on stdout stays clean.
    if (!generic_fold_noted_) {
      generic_fold_noted_ = true;
      std::cerr << "annals: no domain plugin for " << stream
                << ": folding with the generic JSON merge\n";
    }
  }
  absl::StatusOr<const PayloadDecoder*> decoder = Decoder();
  if (!decoder.ok()) return decoder.status();
  if (generic_fold_ == nullptr) generic_fold_ = GenericJsonFold(**decoder);
  return generic_fold_.get();
}

int PrintError(bool json, const std::string& message, const std::string& code, int exit_code,
               const std::string& help) {
  if (json) {
    Json error = Json::object();
    error["error"] = message;
    error["code"] = code;
    error["exit"] = exit_code;
    if (!help.empty()) error["help"] = help;
    std::cerr << Dump(error) << "\n";
  } else if (code == "usage") {
    std::cerr << "annals: " << message << "\n";
    if (!help.empty()) std::cerr << "Run '" << help << "' for more information.\n";
  } else {
    std::cerr << "annals: " << message << " (" << code << ")\n";
  }
  return exit_code;
}

absl::Status Context::CheckPlugins() const {
  for (const std::string& path : options_.plugins) {
    std::error_code ec;
    if (path.empty() || std::filesystem::is_regular_file(path, ec)) continue;
    return absl::NotFoundError(absl::StrCat(
        "plugin '", path, "' ", std::filesystem::exists(path, ec) ? "is not a file" : "not found",
        " (--plugin or ANNALS_PLUGIN)"));
  }
  return absl::OkStatus();
}

int Context::Fail(const absl::Status& status) const {
  return PrintError(format() != Format::kTable, std::string(status.message()),
                    absl::StatusCodeToString(status.code()), ExitCodeFor(status));
}

int Context::Usage(const std::string& problem) const {
  return PrintError(format() != Format::kTable, problem, "usage", kExitUsage, command_ + " --help");
}

}  // namespace annals::tool
