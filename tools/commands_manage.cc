// The store's registries: `schema` (add, list: the protobuf schema
// registry) and `projections` (list, status, lag, parked; retry, skip,
// rebuild). Listings open the store read-only; schema add and the
// projection repairs open it for writing (exit code 4 if the application
// has it open).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "annals/errors.h"
#include "annals/projection.h"
#include "annals/schemas.h"
#include "commands.h"
#include "context.h"
#include "google/protobuf/descriptor.pb.h"

namespace annals::tool {
namespace {

struct SchemaAddArgs {
  std::string file;
  std::vector<std::string> bindings;  // TYPE=MESSAGE
  bool allow_breaking = false;
  std::string reason;
  std::string actor;
};

struct ProjectionArgs {
  std::string action;  // the subcommand: list, status, lag, parked, retry, skip, rebuild
  std::string name;
  std::string stream;
  double timeout_seconds = 600;
};

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

// --bind TYPE=MESSAGE pairs; InvalidArgument with the usage problem.
absl::StatusOr<std::map<std::string, std::string>> ParseBindings(
    const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> bindings;
  for (const std::string& kv : pairs) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size()) {
      return absl::InvalidArgumentError("--bind needs EVENT_TYPE=full.message.Name, got '" + kv +
                                        "'");
    }
    bindings[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return bindings;
}

// Without --bind: every message of the set's last file (the one named on
// protoc's command line) under its own name, unless names repeat.
std::map<std::string, std::string> DefaultBindings(const google::protobuf::FileDescriptorSet& set) {
  std::map<std::string, std::vector<std::string>> by_name;
  if (set.file_size() > 0) {
    const auto& main = set.file(set.file_size() - 1);
    for (const auto& message : main.message_type()) {
      by_name[message.name()].push_back(
          main.package().empty() ? message.name() : main.package() + "." + message.name());
    }
  }
  std::map<std::string, std::string> bindings;
  for (const auto& [name, full] : by_name) {
    if (full.size() == 1) bindings[name] = full.front();
  }
  return bindings;
}

// Registers `bytes` with `bindings`. Checked first without permission, so
// that the breaking changes are known (and printed) either way; the tool
// has the store to itself. Returns the breaking changes registered (with
// --allow-breaking); FailedPrecondition, after printing them, without it.
absl::StatusOr<std::vector<std::string>> RegisterChecked(
    EventStore& store, const std::string& bytes, const std::map<std::string, std::string>& bindings,
    const SchemaAddArgs& args) {
  std::vector<std::string> breaking;
  absl::Status registered = RegisterSchemas(store, bytes, bindings);
  if (IsBreakingSchemaChange(registered)) {
    breaking = GetBreakingSchemaChanges(registered);
    if (!args.allow_breaking) {
      for (const std::string& change : breaking) std::cerr << "annals: " << change << "\n";
      return absl::FailedPreconditionError(absl::StrCat(
          breaking.size(), breaking.size() == 1 ? " breaking change" : " breaking changes",
          " to messages of stored events; nothing registered (--allow-breaking --reason TEXT "
          "registers anyway)"));
    }
    registered =
        RegisterSchemas(store, bytes, bindings,
                        {.allow_breaking = true, .actor = args.actor, .reason = args.reason});
  }
  if (!registered.ok()) return registered;
  return breaking;
}

int RunSchemaAdd(Context& ctx, const SchemaAddArgs& args) {
  std::ifstream file(args.file, std::ios::binary);
  if (!file) return ctx.Fail(absl::NotFoundError(absl::StrCat("cannot read '", args.file, "'")));
  std::stringstream bytes;
  bytes << file.rdbuf();
  absl::StatusOr<std::map<std::string, std::string>> bindings = ParseBindings(args.bindings);
  if (!bindings.ok()) return ctx.Usage(std::string(bindings.status().message()));
  google::protobuf::FileDescriptorSet set;
  const bool parsed = set.ParseFromString(bytes.str());  // RegisterSchemas reports a bad set
  if (bindings->empty() && parsed) *bindings = DefaultBindings(set);
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting();
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<std::vector<std::string>> breaking =
      RegisterChecked(**store, bytes.str(), *bindings, args);
  if (!breaking.ok()) return ctx.Fail(breaking.status());
  Json out = Json::object();
  Json files = Json::array();
  for (const auto& f : set.file()) files.push_back(f.name());
  out["files"] = files;
  out["bindings"] = *bindings;
  if (!breaking->empty()) {
    out["breaking_changes"] = *breaking;
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
      row["message"] =
          file.package().empty() ? message.name() : file.package() + "." + message.name();
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

// list and lag: every stored projection, with lag's columns or list's.
int RunProjectionsList(Context& ctx, const ProjectionArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  auto stored = ProjectionRunner::ListStored(**store);
  if (!stored.ok()) return ctx.Fail(stored.status());
  const std::vector<std::string> columns =
      args.action == "lag"
          ? std::vector<std::string>{"name", "checkpoint", "lag", "seconds_behind"}
          : std::vector<std::string>{"name", "version", "checkpoint", "lag", "parked"};
  RowWriter rows(std::cout, ctx.format(), columns);
  for (const ProjectionStatus& s : *stored) rows.Add(ProjectionRow(s));
  return kExitOk;
}

int RunProjectionStatus(Context& ctx, const ProjectionArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  auto stored = ProjectionRunner::ListStored(**store);
  if (!stored.ok()) return ctx.Fail(stored.status());
  for (const ProjectionStatus& s : *stored) {
    if (s.name != args.name) continue;
    PrintObject(std::cout, ctx.format(), ProjectionRow(s));
    return kExitOk;
  }
  return ctx.Fail(
      absl::NotFoundError(absl::StrCat("no projection '", args.name, "' in this store")));
}

int RunProjectionParked(Context& ctx, const ProjectionArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
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

// Waits for the projection to reach `head`, drawing its checkpoint out of
// the head as it goes (on a terminal): polls Status between short waits.
absl::Status WaitShowingProgress(const ProjectionRunner& runner, const ProjectionArgs& args,
                                 Position head) {
  const absl::Time deadline = absl::Now() + absl::Seconds(args.timeout_seconds);
  Progress progress(args.action, head.value(), "positions");
  uint64_t checkpoint = 0;
  for (;;) {
    if (auto status = runner.Status(args.name); status.ok()) {
      checkpoint = status->checkpoint.value();
      progress.Update(checkpoint);
    }
    const absl::Duration left = deadline - absl::Now();
    absl::Status s = runner.WaitForPosition(
        args.name, head, std::max(std::min(left, absl::Milliseconds(200)), absl::ZeroDuration()));
    if (s.ok()) {
      progress.Done(head.value());
      return s;
    }
    if (!absl::IsDeadlineExceeded(s) || left <= absl::Milliseconds(200)) {
      progress.Done(checkpoint);
      return s;
    }
  }
}

// retry, skip, rebuild run the projection's code: from a plugin.
int RunProjectionRepair(Context& ctx, const ProjectionArgs& args) {
  absl::StatusOr<Plugins*> plugins = ctx.LoadPlugins();
  if (!plugins.ok()) return ctx.Fail(plugins.status());
  const ProjectionSpec* spec = nullptr;
  for (const ProjectionSpec& p : (*plugins)->projections()) {
    if (p.name == args.name) spec = &p;
  }
  if (spec == nullptr) {
    return ctx.Fail(
        absl::NotFoundError(absl::StrCat("no projection '", args.name, "' in the loaded plugins (",
                                         args.action, " runs its code: pass --plugin)")));
  }
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting();
  if (!store.ok()) return ctx.Fail(store.status());
  ProjectionRunner runner(**store);
  if (absl::Status s = runner.Register(*spec); !s.ok()) return ctx.Fail(s);
  absl::Status done;
  if (args.action == "retry") {
    done = runner.RetryParked(args.name, args.stream);
  } else if (args.action == "skip") {
    done = runner.SkipParked(args.name, args.stream);
  } else {
    done = runner.Reset(args.name);
  }
  if (done.ok()) done = WaitShowingProgress(runner, args, (*store)->head());
  auto status = runner.Status(args.name);
  runner.Stop();
  if (!done.ok()) return ctx.Fail(done);
  if (!status.ok()) return ctx.Fail(status.status());
  PrintObject(std::cout, ctx.format(), ProjectionRow(*status));
  return kExitOk;
}

void AddSchemaCommands(CLI::App& app, Action& chosen) {
  CLI::App* schema = app.add_subcommand("schema", "The store's protobuf schema registry");
  schema->require_subcommand(1);
  auto [add, args] =
      AddCommand(*schema, chosen, "add",
                 "Register a FileDescriptorSet (protoc --include_imports -o FILE)", RunSchemaAdd);
  add->add_option("file", args->file, "The descriptor set")->required();
  add->add_option("--bind", args->bindings,
                  "EVENT_TYPE=full.message.Name (repeatable; default: message names)");
  auto* allow_breaking = add->add_flag(
      "--allow-breaking", args->allow_breaking,
      "Register even if it changes a message of stored events incompatibly; recorded in $schemas");
  auto* reason = add->add_option("--reason", args->reason, "Why (required with --allow-breaking)");
  allow_breaking->needs(reason);
  reason->needs(allow_breaking);
  add->add_option("--actor", args->actor, "Who registers (default: $USER)")->envname("USER");
  AddCommand(*schema, chosen, "list", "Registered messages and type bindings", RunSchemaList);
}

// `projections NAME`: with the projection's name and the parked stream if
// it needs them; retry, skip and rebuild wait for it to catch up.
void AddProjectionCommand(CLI::App& projections, Action& chosen, const std::string& name,
                          const std::string& help, int (*run)(Context&, const ProjectionArgs&),
                          bool needs_name, bool needs_stream) {
  auto [command, args] = AddCommand(projections, chosen, name, help, run);
  args->action = name;
  if (needs_name) command->add_option("name", args->name, "The projection")->required();
  if (needs_stream) command->add_option("stream", args->stream, "The parked stream")->required();
  if (run == RunProjectionRepair) {
    command
        ->add_option("--timeout", args->timeout_seconds,
                     "Seconds to wait for it to catch up (default 600)")
        ->check(SecondsCheck());
  }
}

void AddProjectionsCommands(CLI::App& app, Action& chosen) {
  CLI::App* projections = app.add_subcommand(
      "projections", "Projections: list, status, lag, parked, retry, skip, rebuild");
  projections->require_subcommand(1);
  auto add = [&](const char* name, const char* help, auto run, bool needs_name, bool needs_stream) {
    AddProjectionCommand(*projections, chosen, name, help, run, needs_name, needs_stream);
  };
  add("list", "Every projection with its checkpoint, lag and parked count", RunProjectionsList,
      false, false);
  add("status", "One projection's status", RunProjectionStatus, true, false);
  add("lag", "How far behind the head each projection is", RunProjectionsList, false, false);
  add("parked", "A projection's parked events", RunProjectionParked, true, false);
  add("retry", "Re-apply a stream's parked events (needs the plugin)", RunProjectionRepair, true,
      true);
  add("skip", "Drop a stream's parked events (needs the plugin)", RunProjectionRepair, true, true);
  add("rebuild", "Drop the read model and replay the log into it (needs the plugin)",
      RunProjectionRepair, true, false);
}

}  // namespace

void AddManageCommands(CLI::App& app, Action& chosen) {
  AddSchemaCommands(app, chosen);
  AddProjectionsCommands(app, chosen);
}

}  // namespace annals::tool
