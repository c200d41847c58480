// annals: the command-line tool. Inspect a store, travel through an
// aggregate's history, run audit queries, export/import, verify, back up,
// manage projections. Every subcommand is a client of the public library
// API (commands_*.cc); docs/CLI.md documents them with examples.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "CLI/CLI.hpp"
#include "context.h"

using annals::tool::Context;

namespace {

// Every number on the command line is checked: CLI11 alone would turn "-1"
// into 2^64 - 1 for an unsigned option and take "nan" or "inf" as seconds.
const CLI::Validator kCount(
    [](std::string& text) -> std::string {
      if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
        return "needs a whole number >= 0, got '" + text + "'";
      }
      return "";
    },
    "COUNT");

const CLI::Validator kSeconds(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      const double seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(seconds) || seconds <= 0 ||
          seconds > 1e9) {
        return "needs a number of seconds > 0, got '" + text + "'";
      }
      return "";
    },
    "SECONDS");

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"annals: inspect, debug and operate an annals event store.", "annals"};
  app.footer(
      "Exit codes: 0 ok; 1 failed (or verify found a problem); 2 bad arguments; 3 not found (store, stream, "
      "projection; bisect: the predicate never holds); 4 the store is in use by a writer (commands that "
      "write).\nSee docs/CLI.md.");
  app.require_subcommand(1);
  app.fallthrough();
  annals::tool::GlobalOptions global;
  app.add_option("--store,-s", global.store, "The store directory")->envname("ANNALS_STORE");
  auto* json = app.add_flag("--json", global.json, "Print JSON (one array or object)");
  app.add_flag("--jsonl", global.jsonl, "Print one JSON object per line")->excludes(json);
  app.add_flag("--no-color", global.no_color, "No colors in diffs (also: NO_COLOR set, or not a terminal)");
  app.add_option("--plugin", global.plugins, "A domain plugin (shared library) with folds and projections")
      ->envname("ANNALS_PLUGIN");

  std::function<int(Context&)> action;

  auto* info = app.add_subcommand("info", "Store statistics: head, streams, disk size, format");
  info->callback([&] { action = [](Context& ctx) { return annals::tool::RunInfo(ctx); }; });

  std::string prefix;
  uint64_t streams_limit = UINT64_MAX;
  auto* streams = app.add_subcommand("streams", "List streams with their size, last revision and time");
  streams->add_option("--prefix", prefix, "Only streams whose names start with this");
  streams->add_option("--limit", streams_limit, "At most this many")->check(kCount);
  streams->callback([&] { action = [&](Context& ctx) { return annals::tool::RunStreams(ctx, prefix, streams_limit); }; });

  annals::tool::ReadArgs read_args;
  auto* read = app.add_subcommand("read", "Read a stream, or the global log ($all) without STREAM");
  read->add_option("stream", read_args.stream, "The stream (default: $all)");
  read->add_flag("--backward", read_args.backward, "Newest first");
  read->add_option("--from", read_args.from, "First revision (stream) or position ($all)");
  read->add_option("--limit", read_args.limit, "At most this many events")->check(kCount);
  read->callback([&] { action = [&](Context& ctx) { return annals::tool::RunRead(ctx, read_args); }; });

  std::string tail_stream;
  uint64_t tail_count = 10;
  bool follow = false;
  double follow_seconds = 0;
  auto* tail = app.add_subcommand("tail", "The last events of a stream or $all; -f follows new ones live");
  tail->add_option("stream", tail_stream, "The stream (default: $all)");
  tail->add_option("-n,--lines", tail_count, "How many past events to show (default 10)")->check(kCount);
  tail->add_flag("-f,--follow", follow, "Keep printing events as they are committed");
  tail->add_option("--for", follow_seconds, "With -f: stop after this many seconds (default: never)")
      ->check(kSeconds);
  tail->callback([&] {
    action = [&](Context& ctx) { return annals::tool::RunTail(ctx, tail_stream, tail_count, follow, follow_seconds); };
  });

  annals::tool::AuditArgs audit_args;
  auto* audit = app.add_subcommand("audit", "Who did what when: events matching every given filter, via the indexes");
  audit->add_option("--stream", audit_args.stream, "Events of this stream");
  audit->add_option("--category", audit_args.category, "Events of streams `CATEGORY-...`");
  audit->add_option("--type", audit_args.type, "Events of this type");
  audit->add_option("--correlation", audit_args.correlation, "Events with this correlation id");
  audit->add_option("--causation", audit_args.causation, "Events with this causation id");
  audit->add_option("--since", audit_args.since, "Recorded at or after this RFC 3339 time");
  audit->add_option("--until", audit_args.until, "Recorded before this RFC 3339 time");
  audit->add_option("--meta", audit_args.meta, "Metadata KEY=VALUE (repeatable), e.g. user=alice");
  audit->add_option("--limit", audit_args.limit, "At most this many events")->check(kCount);
  audit->add_flag("--explain", audit_args.explain, "Print on stderr which index answered and how many events it read");
  audit->callback([&] { action = [&](Context& ctx) { return annals::tool::RunAudit(ctx, audit_args); }; });

  annals::tool::HistoryArgs history;
  auto add_history = [&](CLI::App* sub) {
    sub->add_option("stream", history.stream, "The stream")->required();
    sub->add_option("--fold", history.fold, "The fold to use: a plugin's fold name, or 'json' (generic)");
    sub->add_flag("--no-snapshots", history.no_snapshots, "Fold every event, ignoring snapshots");
  };
  std::string replay_from, replay_to;
  bool replay_full = false;
  auto* replay = app.add_subcommand("replay", "Each event of a stream with the state after it and the diff");
  add_history(replay);
  replay->add_option("--from", replay_from, "Start: revision (3), position (@120) or RFC 3339 time");
  replay->add_option("--to", replay_to, "End (inclusive): revision, @position or time");
  replay->add_flag("--full", replay_full, "Also print the whole state after each event");
  replay->callback([&] {
    action = [&](Context& ctx) { return annals::tool::RunReplay(ctx, history, replay_from, replay_to, replay_full); };
  });

  std::string at_revision, at_position, as_of;
  auto* state = app.add_subcommand("state", "An aggregate's state at a revision, position or time (default: now)");
  add_history(state);
  state->add_option("--at-revision", at_revision, "After this revision");
  state->add_option("--at-position", at_position, "After the stream's last event at or before this position");
  state->add_option("--as-of", as_of, "As of this RFC 3339 time");
  state->callback([&] {
    action = [&](Context& ctx) { return annals::tool::RunState(ctx, history, at_revision, at_position, as_of); };
  });

  std::string diff_a, diff_b;
  auto* diff = app.add_subcommand("diff", "The state difference between two points of a stream");
  add_history(diff);
  diff->add_option("a", diff_a, "From: revision (3), position (@120) or RFC 3339 time")->required();
  diff->add_option("b", diff_b, "To: revision, @position or time")->required();
  diff->callback([&] { action = [&](Context& ctx) { return annals::tool::RunDiff(ctx, history, diff_a, diff_b); }; });

  std::string until;
  auto* bisect = app.add_subcommand("bisect", "The first event after which a predicate on the state holds");
  add_history(bisect);
  bisect->add_option("--until", until, "Predicate: JSON pointer [op value], e.g. '/total_cents > 5000'")->required();
  bisect->callback([&] { action = [&](Context& ctx) { return annals::tool::RunBisect(ctx, history, until); }; });

  std::string export_output;
  auto* exporter = app.add_subcommand("export", "Every event as JSON lines, exactly (import restores them)");
  exporter->add_option("-o,--output", export_output, "Write to this file (default: standard output)");
  exporter->callback([&] { action = [&](Context& ctx) { return annals::tool::RunExport(ctx, export_output); }; });

  std::string import_input;
  auto* importer = app.add_subcommand("import", "Restore an export into --store (created if missing)");
  importer->add_option("file", import_input, "The export (JSON lines)")->required();
  importer->callback([&] { action = [&](Context& ctx) { return annals::tool::RunImport(ctx, import_input); }; });

  std::string expect_head;
  auto* verify = app.add_subcommand(
      "verify", "Check every file's checksums, the hash chain and every index entry; exit 1 if corrupt");
  verify->add_option("--expect-head", expect_head,
                     "POSITION:HASH, a chain head recorded earlier (annals info): prove nothing up to it changed");
  verify->callback([&] { action = [&](Context& ctx) { return annals::tool::RunVerify(ctx, expect_head); }; });

  std::string backup_dir;
  auto* backup = app.add_subcommand("backup", "Copy the store, consistently, while it is in use");
  backup->add_option("directory", backup_dir, "A new directory for the copy")->required();
  backup->callback([&] { action = [&](Context& ctx) { return annals::tool::RunBackup(ctx, backup_dir); }; });

  std::string restore_from;
  auto* restore = app.add_subcommand("restore", "Restore a backup into --store (a new directory)");
  restore->add_option("backup", restore_from, "The backup directory")->required();
  restore->callback([&] { action = [&](Context& ctx) { return annals::tool::RunRestore(ctx, restore_from); }; });

  auto* compact = app.add_subcommand("compact", "Remove deleted, tombstoned and expired events; return disk space");
  compact->callback([&] { action = [](Context& ctx) { return annals::tool::RunCompact(ctx); }; });

  std::string repair_backup;
  auto* repair = app.add_subcommand(
      "repair", "Recover a store whose write-ahead log is damaged: back up its files, keep the intact prefix");
  repair->add_option("--backup", repair_backup,
                     "A new directory for the backup of the damaged files (default: STORE.damaged-TIME)");
  repair->callback([&] { action = [&](Context& ctx) { return annals::tool::RunRepair(ctx, repair_backup); }; });

  auto* schema = app.add_subcommand("schema", "The store's protobuf schema registry");
  schema->require_subcommand(1);
  annals::tool::SchemaAddArgs schema_args;
  auto* schema_add = schema->add_subcommand("add", "Register a FileDescriptorSet (protoc --include_imports -o FILE)");
  schema_add->add_option("file", schema_args.file, "The descriptor set")->required();
  schema_add->add_option("--bind", schema_args.bindings,
                         "EVENT_TYPE=full.message.Name (repeatable; default: message names)");
  auto* allow_breaking = schema_add->add_flag(
      "--allow-breaking", schema_args.allow_breaking,
      "Register even if it changes a message of stored events incompatibly; recorded in $schemas");
  auto* reason = schema_add->add_option("--reason", schema_args.reason, "Why (required with --allow-breaking)");
  allow_breaking->needs(reason);
  reason->needs(allow_breaking);
  schema_add->add_option("--actor", schema_args.actor, "Who registers (default: $USER)")->envname("USER");
  schema_add->callback([&] { action = [&](Context& ctx) { return annals::tool::RunSchemaAdd(ctx, schema_args); }; });
  auto* schema_list = schema->add_subcommand("list", "Registered messages and type bindings");
  schema_list->callback([&] { action = [](Context& ctx) { return annals::tool::RunSchemaList(ctx); }; });

  annals::tool::ProjectionArgs projection;
  auto* projections = app.add_subcommand("projections", "Projections: list, status, lag, parked, retry, skip, rebuild");
  projections->require_subcommand(1);
  auto add_projection = [&](const std::string& name, const std::string& help, bool needs_name, bool needs_stream) {
    auto* sub = projections->add_subcommand(name, help);
    if (needs_name) sub->add_option("name", projection.name, "The projection")->required();
    if (needs_stream) sub->add_option("stream", projection.stream, "The parked stream")->required();
    if (name == "retry" || name == "skip" || name == "rebuild") {
      sub->add_option("--timeout", projection.timeout_seconds, "Seconds to wait for it to catch up (default 600)")
          ->check(kSeconds);
    }
    sub->callback([&, name] {
      projection.action = name;
      action = [&](Context& ctx) { return annals::tool::RunProjections(ctx, projection); };
    });
  };
  add_projection("list", "Every projection with its checkpoint, lag and parked count", false, false);
  add_projection("status", "One projection's status", true, false);
  add_projection("lag", "How far behind the head each projection is", false, false);
  add_projection("parked", "A projection's parked events", true, false);
  add_projection("retry", "Re-apply a stream's parked events (needs the plugin)", true, true);
  add_projection("skip", "Drop a stream's parked events (needs the plugin)", true, true);
  add_projection("rebuild", "Drop the read model and replay the log into it (needs the plugin)", true, false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "annals: " << e.what() << "\nRun 'annals --help' (or 'annals SUBCOMMAND --help') for more information.\n";
    return annals::tool::kExitUsage;
  }
  Context ctx(global);
  return action ? action(ctx) : annals::tool::kExitUsage;
}
