// Operations on the whole store: export, import, verify, backup, restore,
// compact, repair. Commands that only read open the store read-only; import
// and compact open it for writing (the application must not have it open:
// exit code 4 if it does); repair works on the files of a closed store.
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "annals/maintenance.h"
#include "commands.h"
#include "context.h"

namespace annals::tool {
namespace {

constexpr size_t kImportChunkEvents = 1000;
constexpr size_t kImportChunkBytes = 8 << 20;
// 128 + SIGINT, as shells report a command stopped by Ctrl-C.
constexpr int kExitInterrupted = 130;

struct ExportArgs {
  std::string output;  // "" or "-": standard output
};
struct ImportArgs {
  std::string input;  // "-": standard input
  bool resume = false;
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
  // Progress by position: the head is the total (fewer events after compact).
  Progress progress("export", (*store)->head().value(), "positions");
  uint64_t count = 0;
  std::string buffer;
  for (; (*it)->Valid(); (*it)->Next()) {
    AppendExportLine((*it)->record(), &buffer);
    if (buffer.size() >= (1 << 20)) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
    ++count;
    progress.Tick((*it)->record().position.value());
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  if (!(*it)->status().ok()) return ctx.Fail((*it)->status());
  out.flush();
  if (!out) return ctx.Fail(absl::DataLossError("writing the export failed"));
  progress.Done((*store)->head().value());
  if (file.is_open()) std::cerr << "exported " << count << " events to " << output << "\n";
  return kExitOk;
}

// Set by SIGINT during an import; the import stops at the next chunk
// boundary (what is written stays written: each chunk is atomic).
volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void OnImportInterrupt(int) { g_interrupted = 1; }

// SIGINT sets g_interrupted while it lives. A second Ctrl-C kills the
// process as usual (SA_RESETHAND), for an import stuck in a write.
class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction action = {};
    action.sa_handler = OnImportInterrupt;
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptGuard() { ::sigaction(SIGINT, &previous_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_ = {};
};

// Reads an export line by line: each line parsed and checked as Import
// will check it, and against the lines before it (ImportChecker). With
// --resume, lines at or below the store's head at the start must be what
// the store holds there (they are skipped); any difference is refused.
class ExportReader {
 public:
  ExportReader(std::istream& in, std::string name, EventStore* resume_store)
      : in_(in), name_(std::move(name)), resume_store_(resume_store) {
    if (resume_store_ != nullptr) held_head_ = resume_store_->head();
  }

  // The next event to import; nullopt at the end of the input. Errors are
  // FailedPrecondition (exit 1: the input is at fault, the store is fine)
  // naming the line and what the store holds.
  absl::StatusOr<std::optional<EventRecord>> Next() {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_number_;
      if (line.empty()) continue;
      bytes_ = line.size();
      Json json = Json::parse(line, nullptr, false);
      absl::StatusOr<EventRecord> event =
          json.is_discarded() ? absl::InvalidArgumentError("not JSON") : EventFromExport(json);
      if (event.ok()) {
        if (absl::Status valid = checker_.Check(*event); !valid.ok()) event = valid;
      }
      if (!event.ok()) return Refuse(std::string(event.status().message()));
      if (resume_store_ != nullptr && event->position <= held_head_) {
        if (absl::Status held = CheckHeld(*event); !held.ok()) return held;
        ++skipped_;
        continue;
      }
      return std::optional<EventRecord>(*std::move(event));
    }
    return std::optional<EventRecord>();
  }

  size_t line_bytes() const { return bytes_; }
  uint64_t skipped() const { return skipped_; }
  // What an error says of the store; "nothing imported" until set.
  void set_written_note(std::string note) { written_note_ = std::move(note); }
  // FailedPrecondition naming the line last read.
  absl::Status Refuse(const std::string& problem) const {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, ":", line_number_, ": ", problem, "; ", written_note_));
  }

 private:
  // The store's event at the line's position must be the line's event.
  absl::Status CheckHeld(const EventRecord& event) {
    if (held_ == nullptr) {
      auto it = resume_store_->ReadAll({.from = event.position});
      if (!it.ok()) return it.status();
      held_ = *std::move(it);
    }
    while (held_->Valid() && held_->record().position < event.position) held_->Next();
    if (!held_->status().ok()) return held_->status();
    std::string want, have;
    AppendExportLine(event, &want);
    if (held_->Valid() && held_->record().position == event.position) {
      AppendExportLine(held_->record(), &have);
      if (have == want) return absl::OkStatus();
      return Refuse(absl::StrCat("the store's event at position ", event.position.value(), " (",
                                 held_->record().stream, "@", held_->record().revision.value(), " ",
                                 held_->record().type,
                                 ") differs from this line: --resume continues an import of the "
                                 "same export only"));
    }
    return Refuse(absl::StrCat("the store holds no event at position ", event.position.value(),
                               " (its head is ", held_head_.value(),
                               "): --resume continues an import of the same export only"));
  }

  std::istream& in_;
  const std::string name_;
  EventStore* const resume_store_;  // null: not resuming
  Position held_head_;
  std::unique_ptr<EventIterator> held_;
  ImportChecker checker_;
  uint64_t line_number_ = 0;
  uint64_t skipped_ = 0;
  size_t bytes_ = 0;
  std::string written_note_ = "nothing imported";
};

// Imports in chunks, each atomic and durable.
class ChunkedImporter {
 public:
  explicit ChunkedImporter(EventStore& store) : store_(store) {}

  // Adds `event`; writes the chunk when it is full. A failed write keeps
  // the chunks before it.
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
      // The store refused the input (exit 1), or could not write.
      return absl::Status(
          s.code() == absl::StatusCode::kInvalidArgument ? absl::StatusCode::kFailedPrecondition
                                                         : s.code(),
          absl::StrCat(s.message(), "; imported ", imported_,
                       " events before it (the store's head is ", store_.head().value(),
                       ", this chunk began at position ", first.value(), ")"));
    }
    imported_ += size;
    chunk_.clear();
    chunk_bytes_ = 0;
    return absl::OkStatus();
  }
  uint64_t imported() const { return imported_; }

 private:
  EventStore& store_;
  std::vector<EventRecord> chunk_;
  size_t chunk_bytes_ = 0;
  uint64_t imported_ = 0;
};

// Pass 1 for a file: every line checked (and, resuming, compared with the
// store) before anything is written. Returns how many events to import.
absl::StatusOr<uint64_t> CheckExport(std::istream& in, const std::string& name,
                                     EventStore* resume_store) {
  ExportReader reader(in, name, resume_store);
  uint64_t count = 0;
  while (!g_interrupted) {
    absl::StatusOr<std::optional<EventRecord>> event = reader.Next();
    if (!event.ok()) return event.status();
    if (!event->has_value()) break;
    ++count;
  }
  return count;
}

struct ImportOutcome {
  uint64_t imported = 0;
  uint64_t skipped = 0;
  bool interrupted = false;
};

// Reads `in` to the end and imports it in chunks, each chunk's lines
// checked before it is written; stops before the next chunk once
// interrupted. `total` (0: unknown) is for progress.
absl::StatusOr<ImportOutcome> ImportLines(EventStore& store, std::istream& in,
                                          const std::string& name, bool resume, uint64_t total) {
  ExportReader reader(in, name, resume ? &store : nullptr);
  ChunkedImporter importer(store);
  Progress progress("import", total);
  const Position start = store.head();
  uint64_t read = 0;
  while (!g_interrupted) {
    if (importer.imported() > 0) {
      reader.set_written_note(absl::StrCat("the store holds the import up to position ",
                                           store.head().value(), ", the lines before this one"));
    }
    absl::StatusOr<std::optional<EventRecord>> event = reader.Next();
    if (!event.ok()) return event.status();
    if (!event->has_value()) break;
    if (!resume && (*event)->position <= start) {
      return reader.Refuse(absl::StrCat(
          "the store already holds positions up to ", start.value(), " and this event is at ",
          (*event)->position.value(),
          ": import into a new store, or continue an interrupted import with --resume"));
    }
    if (absl::Status s = importer.Add(**std::move(event), reader.line_bytes()); !s.ok()) return s;
    progress.Tick(++read);
  }
  ImportOutcome outcome;
  // Interrupted: the chunk not yet written is dropped.
  outcome.interrupted = g_interrupted != 0;
  if (!outcome.interrupted) {
    if (absl::Status s = importer.Flush(); !s.ok()) return s;
  }
  outcome.imported = importer.imported();
  outcome.skipped = reader.skipped();
  progress.Done(outcome.imported);
  return outcome;
}

int ReportInterrupted(const EventStore* store, const std::string& input) {
  std::cerr << "annals: interrupted: ";
  if (store == nullptr) {
    std::cerr << "nothing imported\n";
  } else {
    std::cerr << "the store holds the import up to position " << store->head().value()
              << "; run 'annals import --resume " << input << "' to continue\n";
  }
  return kExitInterrupted;
}

int RunImport(Context& ctx, const ImportArgs& args) {
  const std::string& input = args.input;
  const bool from_stdin = input == "-";
  std::ifstream file;
  if (!from_stdin) {
    file.open(input);
    if (!file) return ctx.Fail(absl::NotFoundError(absl::StrCat("cannot read '", input, "'")));
  }
  std::istream& in = from_stdin ? std::cin : file;
  std::error_code ec;
  // A regular file is checked whole before anything is written; standard
  // input or a pipe in one pass, each chunk's lines before the chunk.
  const bool two_pass = !from_stdin && std::filesystem::is_regular_file(input, ec);
  InterruptGuard guard;
  EventStore* store = nullptr;
  auto open = [&]() -> absl::Status {
    absl::StatusOr<EventStore*> opened = ctx.OpenForWriting(/*create_if_missing=*/true);
    if (!opened.ok()) return opened.status();
    store = *opened;
    return absl::OkStatus();
  };
  // Resuming compares with the store in pass 1; otherwise a refused file
  // creates no store.
  if (args.resume || !two_pass) {
    if (absl::Status s = open(); !s.ok()) return ctx.Fail(s);
  }
  uint64_t total = 0;
  if (two_pass) {
    absl::StatusOr<uint64_t> checked = CheckExport(file, input, store);
    if (!checked.ok()) return ctx.Fail(checked.status());
    if (g_interrupted) return ReportInterrupted(nullptr, input);
    total = *checked;
    file.clear();
    file.seekg(0);
    if (!file) return ctx.Fail(absl::DataLossError(absl::StrCat("cannot rewind '", input, "'")));
    if (store == nullptr) {
      if (absl::Status s = open(); !s.ok()) return ctx.Fail(s);
    }
  }
  const Position head_before = store->head();
  absl::StatusOr<ImportOutcome> outcome = ImportLines(*store, in, input, args.resume, total);
  if (!outcome.ok()) return ctx.Fail(outcome.status());
  if (outcome->interrupted) {
    return ReportInterrupted(store->head() > head_before || args.resume ? store : nullptr, input);
  }
  if (two_pass && outcome->imported != total) {
    return ctx.Fail(
        absl::DataLossError(absl::StrCat("'", input, "' changed while importing: ", total,
                                         " events checked, ", outcome->imported, " imported")));
  }
  Json result = Json::object();
  result["imported_events"] = outcome->imported;
  if (args.resume) result["skipped_events"] = outcome->skipped;
  result["head_position"] = store->head().value();
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
  // The log by position out of the head, then the other families' entries.
  StepProgress progress("verify", {{"log", "positions"}, {"entries", "entries"}});
  options.progress = std::ref(progress);
  auto report = Verify(**store, options);
  progress.Done();
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
  // What the counts mean, and why a copy made by export and import counts
  // differently: these families are not in an export, or not the same.
  const Json notes = {
      "index_entries_checked: each event's category, type, correlation and causation entries "
      "(the same for an imported copy)",
      "event_ids: ids appends gave (a store-generated id is not indexed); an import indexes every "
      "imported event's id, so a copy counts one per event",
      "meta, snapshots, checkpoints, projections, read_models: not exported (schemas, snapshots "
      "and the read side are registered, taken and rebuilt anew in a copy)"};
  if (ctx.format() == Format::kTable) {
    std::string joined;
    for (const Json& note : notes)
      absl::StrAppend(&joined, joined.empty() ? "" : "; ", note.get<std::string>());
    out["counted"] = joined;
  } else {
    out["counted"] = notes;
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
  // Streams with a delete, tombstone or retention, then the compaction.
  StepProgress progress("compact", {{"streams", "streams"}, {"compact", "column families"}});
  auto result = Scavenge(**store, {.progress = std::ref(progress)});
  progress.Done();
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
  importer->add_option("file", import_args->input, "The export (JSON lines); - for standard input")
      ->required();
  importer->add_flag("--resume", import_args->resume,
                     "Continue an interrupted import of FILE: skip the lines the store holds "
                     "(refused if they differ)");

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
