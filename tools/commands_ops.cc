// Operations on the whole store: export, import, verify, backup, restore,
// compact, repair. Commands that only read open the store read-only; import
// and compact open it for writing (the application must not have it open:
// exit code 4 if it does); repair works on the files of a closed store.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "annals/maintenance.h"
#include "commands.h"
#include "context.h"

namespace annals::tool {
namespace {

constexpr size_t kImportChunkEvents = 1000;
constexpr size_t kImportChunkBytes = 8 << 20;

struct ExportArgs {
  std::string output;  // "" or "-": standard output
};
struct ImportArgs {
  std::string input;
};
struct VerifyArgs {
  std::string expect_head;  // POSITION:HASH
};
struct BackupArgs {
  std::string directory;
};
struct RestoreArgs {
  std::string backup;
};
struct RepairArgs {
  std::string backup;  // "": STORE.damaged-TIME
};

int RunExport(Context& ctx, const ExportArgs& args) {
  const std::string& output = args.output;
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  std::ofstream file;
  if (!output.empty() && output != "-") {
    file.open(output, std::ios::out | std::ios::trunc);
    if (!file)
      return ctx.Fail(absl::FailedPreconditionError(absl::StrCat("cannot write '", output, "'")));
  }
  std::ostream& out = file.is_open() ? file : std::cout;
  // The log in position order, one line per event: bounded memory
  // whatever the store's size.
  auto it = (*store)->ReadAll();
  if (!it.ok()) return ctx.Fail(it.status());
  Progress progress("export");
  uint64_t count = 0;
  std::string buffer;
  for (; (*it)->Valid(); (*it)->Next()) {
    AppendExportLine((*it)->record(), &buffer);
    if (buffer.size() >= (1 << 20)) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
    progress.Tick(++count);
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  if (!(*it)->status().ok()) return ctx.Fail((*it)->status());
  out.flush();
  if (!out) return ctx.Fail(absl::DataLossError("writing the export failed"));
  progress.Done(count);
  if (file.is_open()) std::cerr << "exported " << count << " events to " << output << "\n";
  return kExitOk;
}

// Pass 1 of import checks every line before anything is written: each
// event as Import will check it, and their order. Returns how many events
// `file` holds; InvalidArgument naming the first bad line.
absl::StatusOr<uint64_t> CheckExportFile(std::istream& file, const std::string& input) {
  std::string line;
  uint64_t line_number = 0, checked = 0;
  ImportChecker checker;
  while (std::getline(file, line)) {
    ++line_number;
    if (line.empty()) continue;
    Json json = Json::parse(line, nullptr, false);
    absl::StatusOr<EventRecord> event =
        json.is_discarded() ? absl::InvalidArgumentError("not JSON") : EventFromExport(json);
    if (event.ok()) {
      if (absl::Status valid = checker.Check(*event); !valid.ok()) event = valid;
    }
    if (!event.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          input, ":", line_number, ": ", event.status().message(), "; nothing imported"));
    }
    ++checked;
  }
  return checked;
}

// Pass 2 imports in chunks, each atomic and durable.
class ChunkedImporter {
 public:
  explicit ChunkedImporter(EventStore& store) : store_(store) {}

  absl::Status Add(EventRecord event, size_t line_bytes) {
    chunk_bytes_ += line_bytes;
    chunk_.push_back(std::move(event));
    if (chunk_.size() < kImportChunkEvents && chunk_bytes_ < kImportChunkBytes)
      return absl::OkStatus();
    return Flush();
  }

  absl::Status Flush() {
    if (chunk_.empty()) return absl::OkStatus();
    const Position first = chunk_.front().position;
    const size_t size = chunk_.size();
    if (absl::Status s = Import(store_, std::move(chunk_)); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(s.message(), "; imported ", imported_,
                                 " events before it (the store's head is ", store_.head().value(),
                                 ", this chunk began at position ", first.value(), ")"));
    }
    imported_ += size;
    chunk_.clear();
    chunk_bytes_ = 0;
    return absl::OkStatus();
  }

 private:
  EventStore& store_;
  std::vector<EventRecord> chunk_;
  size_t chunk_bytes_ = 0;
  uint64_t imported_ = 0;
};

// Imports every line of `file` (checked by CheckExportFile); returns how
// many events it held.
absl::StatusOr<uint64_t> ImportExportFile(EventStore& store, std::istream& file) {
  ChunkedImporter importer(store);
  Progress progress("import");
  uint64_t count = 0;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    absl::StatusOr<EventRecord> event = EventFromExport(Json::parse(line, nullptr, false));
    if (!event.ok()) return event.status();
    const size_t bytes = line.size();
    if (absl::Status s = importer.Add(*std::move(event), bytes); !s.ok()) return s;
    progress.Tick(++count);
  }
  if (absl::Status s = importer.Flush(); !s.ok()) return s;
  progress.Done(count);
  return count;
}

int RunImport(Context& ctx, const ImportArgs& args) {
  const std::string& input = args.input;
  std::ifstream file(input);
  if (!file) return ctx.Fail(absl::NotFoundError(absl::StrCat("cannot read '", input, "'")));
  absl::StatusOr<uint64_t> checked = CheckExportFile(file, input);
  if (!checked.ok()) return ctx.Fail(checked.status());
  file.clear();
  file.seekg(0);
  if (!file) {
    return ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
        "'", input,
        "' cannot be read twice (a pipe?): import checks every line before writing, so it needs "
        "a file; save the export to one first")));
  }
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting(/*create_if_missing=*/true);
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<uint64_t> count = ImportExportFile(**store, file);
  if (!count.ok()) return ctx.Fail(count.status());
  if (*count != *checked) {
    return ctx.Fail(
        absl::DataLossError(absl::StrCat("'", input, "' changed while importing: ", *checked,
                                         " events checked, ", *count, " imported")));
  }
  Json result = Json::object();
  result["imported_events"] = *count;
  result["head_position"] = (*store)->head().value();
  PrintObject(std::cout, ctx.format(), result);
  return kExitOk;
}

int RunVerify(Context& ctx, const VerifyArgs& args) {
  const std::string& expect_head = args.expect_head;
  VerifyOptions options;
  if (!expect_head.empty()) {
    options.expect_head = ChainHead::Parse(expect_head);
    if (!options.expect_head) {
      return ctx.Usage(
          "--expect-head needs POSITION:HASH (64 hex digits), as `annals info` prints it; got '" +
          expect_head + "'");
    }
  }
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  if (::isatty(2)) std::cerr << "verifying up to position " << (*store)->head().value() << "...\n";
  auto report = Verify(**store, options);
  if (!report.ok()) return ctx.Fail(report.status());
  Json out = Json::object();
  out["result"] = report->ok() ? "ok" : "corrupt";
  out["events_checked"] = report->events_checked;
  out["index_entries_checked"] = report->index_entries_checked;
  out["gaps"] = report->gaps;
  if (report->unbridged_gaps > 0) out["unbridged_gaps"] = report->unbridged_gaps;
  if (report->lost > 0) out["lost_in_repair"] = report->lost;
  if (report->ok()) out["chain_head"] = report->head.ToString();
  if (options.expect_head)
    out["expected_head"] = report->expected_head_matched ? "matched" : "not matched";
  out["files_checked"] = report->files_checked;
  out["file_bytes_checked"] = report->file_bytes_checked;
  Json families = Json::object();
  for (const auto& [family, count] : report->entries_checked) families[family] = count;
  if (ctx.format() == Format::kTable) {
    std::string covered;
    for (const auto& [family, count] : report->entries_checked) {
      absl::StrAppend(&covered, covered.empty() ? "" : ", ", family, " ", count);
    }
    out["entries_checked"] = covered;
  } else {
    out["entries_checked"] = families;
  }
  if (report->first_bad_position) out["first_bad_position"] = report->first_bad_position->value();
  if (!report->problem.empty()) out["problem"] = report->problem;
  PrintObject(std::cout, ctx.format(), out);
  return report->ok() ? kExitOk : kExitFailed;
}

int RunBackup(Context& ctx, const BackupArgs& args) {
  const std::string& directory = args.directory;
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  const Position head = (*store)->head();
  if (absl::Status s = Backup(**store, directory); !s.ok()) return ctx.Fail(s);
  Json out = Json::object();
  out["backup"] = directory;
  out["head_position"] = head.value();
  PrintObject(std::cout, ctx.format(), out);
  return kExitOk;
}

int RunRestore(Context& ctx, const RestoreArgs& args) {
  const std::string& backup = args.backup;
  const std::string& target = ctx.options().store;
  if (target.empty())
    return ctx.Usage("restore needs --store: the new store directory to restore into");
  std::error_code ec;
  if (!std::filesystem::is_directory(backup, ec)) {
    return ctx.Fail(absl::NotFoundError(absl::StrCat("no backup directory '", backup, "'")));
  }
  if (std::filesystem::exists(target, ec)) {
    return ctx.Fail(absl::FailedPreconditionError(
        absl::StrCat("'", target, "' exists; restore into a new directory (never over a store)")));
  }
  // Check the backup before copying it.
  {
    StoreOptions options;
    options.read_only = true;
    auto source = EventStore::Open(backup, options);
    if (!source.ok()) return ctx.Fail(source.status());
    auto report = Verify(**source);
    if (!report.ok()) return ctx.Fail(report.status());
    if (!report->ok()) {
      return ctx.Fail(
          absl::DataLossError(absl::StrCat("the backup does not verify: ", report->problem)));
    }
  }
  std::filesystem::copy(backup, target, std::filesystem::copy_options::recursive, ec);
  if (ec)
    return ctx.Fail(absl::InternalError(absl::StrCat("copy to '", target, "': ", ec.message())));
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting();
  if (!store.ok()) return ctx.Fail(store.status());
  Json out = Json::object();
  out["restored"] = target;
  out["from"] = backup;
  out["head_position"] = (*store)->head().value();
  PrintObject(std::cout, ctx.format(), out);
  return kExitOk;
}

int RunCompact(Context& ctx) {
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting();
  if (!store.ok()) return ctx.Fail(store.status());
  if (::isatty(2)) std::cerr << "scavenging deleted, tombstoned and expired events...\n";
  auto result = Scavenge(**store);
  if (!result.ok()) return ctx.Fail(result.status());
  Json out = Json::object();
  out["streams_scavenged"] = result->streams_scavenged;
  out["events_removed"] = result->events_removed;
  out["index_entries_removed"] = result->index_entries_removed;
  out["bytes_before"] = result->bytes_before;
  out["bytes_after"] = result->bytes_after;
  PrintObject(std::cout, ctx.format(), out);
  return kExitOk;
}

int RunRepair(Context& ctx, const RepairArgs& args) {
  if (ctx.options().store.empty()) return ctx.Usage("repair needs --store (or ANNALS_STORE)");
  if (::isatty(2))
    std::cerr << "checking the write-ahead log of '" << ctx.options().store << "'...\n";
  absl::StatusOr<RepairReport> report =
      RepairStore(ctx.options().store, {.backup_directory = args.backup});
  if (!report.ok()) return ctx.Fail(report.status());
  Json out = Json::object();
  out["result"] = report->repaired ? "repaired" : "intact";
  if (report->repaired) {
    out["damaged_file"] = report->damaged_file;
    out["damaged_offset"] = report->damaged_offset;
    out["bytes_dropped"] = report->bytes_dropped;
    out["backup"] = report->backup_directory;
    if (report->lost_last.value() > 0) {
      out["lost_positions"] =
          absl::StrCat(report->lost_first.value(), "-", report->lost_last.value());
    }
  }
  out["events"] = report->events;
  out["head_position"] = report->head.value();
  out["chain_head"] = report->chain_head.ToString();
  out["verify"] = report->verify.ok() ? "ok" : report->verify.problem;
  PrintObject(std::cout, ctx.format(), out);
  if (report->repaired && ctx.format() == Format::kTable) {
    std::cerr << "kept " << report->events << " events up to position " << report->head.value();
    if (report->lost_last.value() > 0) {
      std::cerr << "; positions " << report->lost_first.value() << " to "
                << report->lost_last.value()
                << " were written after the damage and are lost (never reused: consumers that saw "
                   "them must "
                   "reconcile)";
    }
    std::cerr << "; the damaged files are in " << report->backup_directory << "\n";
  }
  return report->verify.ok() ? kExitOk : kExitFailed;
}

}  // namespace

void AddOpsCommands(CLI::App& app, Action& chosen) {
  auto [exporter, export_args] =
      AddCommand(app, chosen, "export", "Every event as JSON lines, exactly (import restores them)",
                 RunExport);
  exporter->add_option("-o,--output", export_args->output,
                       "Write to this file (default: standard output)");

  auto [importer, import_args] = AddCommand(
      app, chosen, "import", "Restore an export into --store (created if missing)", RunImport);
  importer->add_option("file", import_args->input, "The export (JSON lines)")->required();

  auto [verify, verify_args] = AddCommand(
      app, chosen, "verify",
      "Check every file's checksums, the hash chain and every index entry; exit 1 if corrupt",
      RunVerify);
  verify->add_option(
      "--expect-head", verify_args->expect_head,
      "POSITION:HASH, a chain head recorded earlier (annals info): prove nothing up to it changed");

  auto [backup, backup_args] = AddCommand(
      app, chosen, "backup", "Copy the store, consistently, while it is in use", RunBackup);
  backup->add_option("directory", backup_args->directory, "A new directory for the copy")
      ->required();

  auto [restore, restore_args] = AddCommand(
      app, chosen, "restore", "Restore a backup into --store (a new directory)", RunRestore);
  restore->add_option("backup", restore_args->backup, "The backup directory")->required();

  AddCommand(app, chosen, "compact",
             "Remove deleted, tombstoned and expired events; return disk space", RunCompact);

  auto [repair, repair_args] = AddCommand(
      app, chosen, "repair",
      "Recover a store whose write-ahead log is damaged: back up its files, keep the intact prefix",
      RunRepair);
  repair->add_option(
      "--backup", repair_args->backup,
      "A new directory for the backup of the damaged files (default: STORE.damaged-TIME)");
}

}  // namespace annals::tool
