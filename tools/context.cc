#include "context.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace annals::tool {
namespace {

constexpr size_t kToolBlockCacheBytes = 16 << 20;

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
  }
  absl::StatusOr<const PayloadDecoder*> decoder = Decoder();
  if (!decoder.ok()) return decoder.status();
  if (generic_fold_ == nullptr) generic_fold_ = GenericJsonFold(**decoder);
  return generic_fold_.get();
}

int Context::Fail(const absl::Status& status) const {
  std::cerr << "annals: " << status.message() << " (" << absl::StatusCodeToString(status.code())
            << ")\n";
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

int Context::Usage(const std::string& problem) const {
  std::cerr << "annals: " << problem << "\nRun 'annals --help' for more information.\n";
  return kExitUsage;
}

}  // namespace annals::tool
