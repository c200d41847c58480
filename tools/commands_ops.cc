// Operations: export, import, verify, backup, restore, compact, schema,
// projections. Commands that only read open the store read-only; import,
// compact, schema add and projection repairs open it for writing (the
// application must not have it open: exit code 4 if it does).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "annals/errors.h"
#include "annals/maintenance.h"
#include "annals/projection.h"
#include "annals/schemas.h"
#include "context.h"
#include "google/protobuf/descriptor.pb.h"

namespace annals::tool {
namespace {

constexpr size_t kImportChunkEvents = 1000;
constexpr size_t kImportChunkBytes = 8 << 20;

const char* ProjectionStateName(ProjectionState state) {
  switch (state) {
    case ProjectionState::kCatchingUp:
      return "catching-up";
    case ProjectionState::kLive:
      return "live";
    case ProjectionState::kStopped:
      return "stopped";
    case ProjectionState::kFailed:
      return "failed";
  }
  return "?";
}

Json ProjectionRow(const ProjectionStatus& s) {
  Json row = Json::object();
  row["name"] = s.name;
  row["version"] = s.serving_version;
  row["state"] = ProjectionStateName(s.state);
  row["checkpoint"] = s.checkpoint.value();
  row["lag"] = s.lag;
  row["seconds_behind"] = absl::ToDoubleSeconds(s.time_behind);
  row["parked"] = s.parked;
  if (!s.error.ok()) row["error"] = std::string(s.error.message());
  return row;
}

}  // namespace

int RunExport(Context& ctx, const std::string& output) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  std::ofstream file;
  if (!output.empty() && output != "-") {
    file.open(output, std::ios::out | std::ios::trunc);
    if (!file) return ctx.Fail(absl::FailedPreconditionError(absl::StrCat("cannot write '", output, "'")));
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

int RunImport(Context& ctx, const std::string& input) {
  // Pass 1 checks every line before anything is written: each event as
  // Import will check it, and their order.
  std::ifstream file(input);
  if (!file) return ctx.Fail(absl::NotFoundError(absl::StrCat("cannot read '", input, "'")));
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
      return ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat(input, ":", line_number, ": ", event.status().message(), "; nothing imported")));
    }
    ++checked;
  }
  // Pass 2 imports in chunks, each atomic and durable.
  file.clear();
  file.seekg(0);
  if (!file) {
    return ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
        "'", input, "' cannot be read twice (a pipe?): import checks every line before writing, so it needs "
        "a file; save the export to one first")));
  }
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting(/*create_if_missing=*/true);
  if (!store.ok()) return ctx.Fail(store.status());
  std::vector<EventRecord> chunk;
  size_t chunk_bytes = 0;
  uint64_t imported = 0;
  Progress progress("import");
  auto flush = [&]() -> absl::Status {
    if (chunk.empty()) return absl::OkStatus();
    const Position first = chunk.front().position;
    const size_t size = chunk.size();
    if (absl::Status s = Import(**store, std::move(chunk)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), "; imported ", imported,
                                                 " events before it (the store's head is ",
                                                 (*store)->head().value(), ", this chunk began at position ",
                                                 first.value(), ")"));
    }
    imported += size;
    chunk.clear();
    chunk_bytes = 0;
    return absl::OkStatus();
  };
  uint64_t count = 0;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    absl::StatusOr<EventRecord> event = EventFromExport(Json::parse(line, nullptr, false));
    if (!event.ok()) return ctx.Fail(event.status());
    chunk_bytes += line.size();
    chunk.push_back(*std::move(event));
    progress.Tick(++count);
    if (chunk.size() >= kImportChunkEvents || chunk_bytes >= kImportChunkBytes) {
      if (absl::Status s = flush(); !s.ok()) return ctx.Fail(s);
    }
  }
  if (absl::Status s = flush(); !s.ok()) return ctx.Fail(s);
  progress.Done(count);
  if (count != checked) {
    return ctx.Fail(absl::DataLossError(absl::StrCat("'", input, "' changed while importing: ", checked,
                                                     " events checked, ", count, " imported")));
  }
  Json result = Json::object();
  result["imported_events"] = count;
  result["head_position"] = (*store)->head().value();
  PrintObject(std::cout, ctx.format(), result);
  return kExitOk;
}

int RunVerify(Context& ctx, const std::string& expect_head) {
  VerifyOptions options;
  if (!expect_head.empty()) {
    options.expect_head = ChainHead::Parse(expect_head);
    if (!options.expect_head) {
      return ctx.Usage("--expect-head needs POSITION:HASH (64 hex digits), as `annals info` prints it; got '" +
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
  if (options.expect_head) out["expected_head"] = report->expected_head_matched ? "matched" : "not matched";
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

int RunBackup(Context& ctx, const std::string& directory) {
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

int RunRestore(Context& ctx, const std::string& backup) {
  const std::string& target = ctx.options().store;
  if (target.empty()) return ctx.Usage("restore needs --store: the new store directory to restore into");
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
      return ctx.Fail(absl::DataLossError(absl::StrCat("the backup does not verify: ", report->problem)));
    }
  }
  std::filesystem::copy(backup, target, std::filesystem::copy_options::recursive, ec);
  if (ec) return ctx.Fail(absl::InternalError(absl::StrCat("copy to '", target, "': ", ec.message())));
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

int RunRepair(Context& ctx, const std::string& backup_directory) {
  if (ctx.options().store.empty()) return ctx.Usage("repair needs --store (or ANNALS_STORE)");
  if (::isatty(2)) std::cerr << "checking the write-ahead log of '" << ctx.options().store << "'...\n";
  absl::StatusOr<RepairReport> report = RepairStore(ctx.options().store, {.backup_directory = backup_directory});
  if (!report.ok()) return ctx.Fail(report.status());
  Json out = Json::object();
  out["result"] = report->repaired ? "repaired" : "intact";
  if (report->repaired) {
    out["damaged_file"] = report->damaged_file;
    out["damaged_offset"] = report->damaged_offset;
    out["bytes_dropped"] = report->bytes_dropped;
    out["backup"] = report->backup_directory;
    if (report->lost_last.value() > 0) {
      out["lost_positions"] = absl::StrCat(report->lost_first.value(), "-", report->lost_last.value());
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
      std::cerr << "; positions " << report->lost_first.value() << " to " << report->lost_last.value()
                << " were written after the damage and are lost (never reused: consumers that saw them must "
                   "reconcile)";
    }
    std::cerr << "; the damaged files are in " << report->backup_directory << "\n";
  }
  return report->verify.ok() ? kExitOk : kExitFailed;
}

int RunSchemaAdd(Context& ctx, const SchemaAddArgs& args) {
  std::ifstream file(args.file, std::ios::binary);
  if (!file) return ctx.Fail(absl::NotFoundError(absl::StrCat("cannot read '", args.file, "'")));
  std::stringstream bytes;
  bytes << file.rdbuf();
  std::map<std::string, std::string> bindings;
  for (const std::string& kv : args.bindings) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size()) {
      return ctx.Usage("--bind needs EVENT_TYPE=full.message.Name, got '" + kv + "'");
    }
    bindings[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  google::protobuf::FileDescriptorSet set;
  const bool parsed = set.ParseFromString(bytes.str());  // RegisterSchemas reports a bad set
  if (bindings.empty() && parsed) {
    // Without --bind: every message of the set's last file (the one named on
    // protoc's command line) under its own name, unless names repeat.
    std::map<std::string, std::vector<std::string>> by_name;
    if (set.file_size() > 0) {
      const auto& main = set.file(set.file_size() - 1);
      for (const auto& message : main.message_type()) {
        by_name[message.name()].push_back(main.package().empty() ? message.name()
                                                                 : main.package() + "." + message.name());
      }
    }
    for (const auto& [name, full] : by_name) {
      if (full.size() == 1) bindings[name] = full.front();
    }
  }
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting();
  if (!store.ok()) return ctx.Fail(store.status());
  // Checked first without permission, so that the breaking changes are
  // known (and printed) either way; the tool has the store to itself.
  std::vector<std::string> breaking;
  absl::Status registered = RegisterSchemas(**store, bytes.str(), bindings);
  if (IsBreakingSchemaChange(registered)) {
    breaking = GetBreakingSchemaChanges(registered);
    if (!args.allow_breaking) {
      for (const std::string& change : breaking) std::cerr << "annals: " << change << "\n";
      return ctx.Fail(absl::FailedPreconditionError(absl::StrCat(
          breaking.size(), breaking.size() == 1 ? " breaking change" : " breaking changes",
          " to messages of stored events; nothing registered (--allow-breaking --reason TEXT registers anyway)")));
    }
    registered = RegisterSchemas(**store, 
        bytes.str(), bindings, {.allow_breaking = true, .actor = args.actor, .reason = args.reason});
  }
  if (!registered.ok()) return ctx.Fail(registered);
  Json out = Json::object();
  Json files = Json::array();
  for (const auto& f : set.file()) files.push_back(f.name());
  out["files"] = files;
  out["bindings"] = bindings;
  if (!breaking.empty()) {
    out["breaking_changes"] = breaking;
    out["recorded_in"] = std::string(kSchemasStream);
  }
  PrintObject(std::cout, ctx.format(), out);
  return kExitOk;
}

int RunSchemaList(Context& ctx) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  auto schemas = ReadSchemas(**store);
  if (!schemas.ok()) return ctx.Fail(schemas.status());
  RowWriter rows(std::cout, ctx.format(), {"kind", "name", "message"});
  for (const auto& [name, bytes] : schemas->files) {
    google::protobuf::FileDescriptorProto file;
    file.ParseFromString(bytes);
    for (const auto& message : file.message_type()) {
      Json row = Json::object();
      row["kind"] = "message";
      row["name"] = name;
      row["message"] = file.package().empty() ? message.name() : file.package() + "." + message.name();
      rows.Add(std::move(row));
    }
  }
  for (const auto& [type, message] : schemas->bindings) {
    Json row = Json::object();
    row["kind"] = "binding";
    row["name"] = type;
    row["message"] = message;
    rows.Add(std::move(row));
  }
  return kExitOk;
}

int RunProjections(Context& ctx, const ProjectionArgs& args) {
  const std::string& action = args.action;
  if (action == "list" || action == "lag" || action == "status" || action == "parked") {
    absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
    if (!store.ok()) return ctx.Fail(store.status());
    if (action == "parked") {
      auto parked = ProjectionRunner::StoredParked(**store, args.name);
      if (!parked.ok()) return ctx.Fail(parked.status());
      RowWriter rows(std::cout, ctx.format(), {"position", "stream", "revision", "type", "error"});
      for (const ParkedEvent& p : *parked) {
        Json row = Json::object();
        row["position"] = p.event.position.value();
        row["stream"] = p.event.stream;
        row["revision"] = p.event.revision.value();
        row["type"] = p.event.type;
        row["error"] = p.error;
        rows.Add(std::move(row));
      }
      return kExitOk;
    }
    auto stored = ProjectionRunner::ListStored(**store);
    if (!stored.ok()) return ctx.Fail(stored.status());
    if (action == "status") {
      for (const ProjectionStatus& s : *stored) {
        if (s.name != args.name) continue;
        PrintObject(std::cout, ctx.format(), ProjectionRow(s));
        return kExitOk;
      }
      return ctx.Fail(absl::NotFoundError(absl::StrCat("no projection '", args.name, "' in this store")));
    }
    const std::vector<std::string> columns =
        action == "lag" ? std::vector<std::string>{"name", "checkpoint", "lag", "seconds_behind"}
                        : std::vector<std::string>{"name", "version", "checkpoint", "lag", "parked"};
    RowWriter rows(std::cout, ctx.format(), columns);
    for (const ProjectionStatus& s : *stored) rows.Add(ProjectionRow(s));
    return kExitOk;
  }
  // retry, skip, rebuild run the projection's code: from a plugin.
  absl::StatusOr<Plugins*> plugins = ctx.LoadPlugins();
  if (!plugins.ok()) return ctx.Fail(plugins.status());
  const ProjectionSpec* spec = nullptr;
  for (const ProjectionSpec& p : (*plugins)->projections()) {
    if (p.name == args.name) spec = &p;
  }
  if (spec == nullptr) {
    return ctx.Fail(absl::NotFoundError(absl::StrCat(
        "no projection '", args.name, "' in the loaded plugins (", action, " runs its code: pass --plugin)")));
  }
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting();
  if (!store.ok()) return ctx.Fail(store.status());
  ProjectionRunner runner(**store);
  if (absl::Status s = runner.Register(*spec); !s.ok()) return ctx.Fail(s);
  absl::Status done;
  if (action == "retry") {
    done = runner.RetryParked(args.name, args.stream);
  } else if (action == "skip") {
    done = runner.SkipParked(args.name, args.stream);
  } else {
    done = runner.Reset(args.name);
  }
  if (done.ok()) {
    done = runner.WaitForPosition(args.name, (*store)->head(), absl::Seconds(args.timeout_seconds));
  }
  auto status = runner.Status(args.name);
  runner.Stop();
  if (!done.ok()) return ctx.Fail(done);
  if (!status.ok()) return ctx.Fail(status.status());
  PrintObject(std::cout, ctx.format(), ProjectionRow(*status));
  return kExitOk;
}

}  // namespace annals::tool
