// One event and its causes: `annals event ID` (an event by its event id,
// EventStore::FindEvent when the stream is known) and `annals trace
// CORRELATION_ID` (every event of a correlation, arranged by causation).
// Both open the store read-only.
#include <iostream>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "context.h"

namespace annals::tool {
namespace {

struct EventArgs {
  std::string id;
  std::string stream;  // "": search the log
};
struct TraceArgs {
  std::string correlation;
};

int RunEvent(Context& ctx, const EventArgs& args) {
  std::optional<EventId> id = EventId::Parse(args.id);
  if (!id) return ctx.Usage("event takes an event id (a UUID); got '" + args.id + "'");
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  std::optional<EventRecord> found;
  if (!args.stream.empty()) {
    // The event-id index has the ids appends gave; store-generated ones
    // are found by reading the stream.
    auto indexed = (*store)->FindEvent(args.stream, *id);
    if (!indexed.ok()) return ctx.Fail(indexed.status());
    found = *std::move(indexed);
  }
  if (!found) {
    auto it = args.stream.empty() ? (*store)->ReadAll() : (*store)->ReadStream(args.stream);
    if (!it.ok() && !absl::IsNotFound(it.status())) return ctx.Fail(it.status());
    if (it.ok()) {
      Progress progress("searching", (*store)->head().value(), "positions");
      for (; (*it)->Valid(); (*it)->Next()) {
        if ((*it)->record().event_id == *id) {
          found = (*it)->record();
          break;
        }
        progress.Tick((*it)->record().position.value());
      }
      if (!(*it)->status().ok()) return ctx.Fail((*it)->status());
    }
  }
  if (!found) {
    return ctx.Fail(absl::NotFoundError(
        absl::StrCat("no event with id ", id->ToString(),
                     args.stream.empty() ? std::string(" in the log")
                                         : absl::StrCat(" in stream '", args.stream, "'"))));
  }
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  absl::StatusOr<Json> json = EventToJson(*found, **decoder);
  if (!json.ok()) return ctx.Fail(json.status());
  PrintObject(std::cout, ctx.format(), *json);
  return kExitOk;
}

// The causation tree of a correlation: an event is the child of the event
// whose id its causation id names, or of its command (the causation id
// when no event has it as id); roots are what nothing in the correlation
// caused.
struct TraceTree {
  std::vector<EventRecord> events;                  // position order
  std::map<std::string, std::vector<size_t>> kids;  // parent key -> children
  std::vector<std::string> roots;                   // parent keys shown at the top
};

TraceTree BuildTree(std::vector<EventRecord> events) {
  TraceTree tree;
  tree.events = std::move(events);
  std::set<std::string> ids;
  for (const EventRecord& e : tree.events) ids.insert(e.event_id.ToString());
  for (size_t i = 0; i < tree.events.size(); ++i) {
    const EventRecord& e = tree.events[i];
    const std::string& cause = e.causation_id;
    if (cause.empty() || cause == e.event_id.ToString()) {
      tree.roots.push_back("event:" + e.event_id.ToString());
    } else if (ids.count(cause)) {
      tree.kids[cause].push_back(i);
    } else {
      const std::string command = "command:" + cause;
      if (!tree.kids.count(command)) tree.roots.push_back(command);
      tree.kids[command].push_back(i);
    }
  }
  return tree;
}

Json EventNode(const TraceTree& tree, size_t i, int depth);

Json Children(const TraceTree& tree, const std::string& key, int depth) {
  Json children = Json::array();
  if (depth > 1000) return children;  // a causation cycle cannot recurse forever
  if (auto it = tree.kids.find(key); it != tree.kids.end()) {
    for (size_t i : it->second) children.push_back(EventNode(tree, i, depth + 1));
  }
  return children;
}

Json EventNode(const TraceTree& tree, size_t i, int depth) {
  const EventRecord& e = tree.events[i];
  Json node = Json::object();
  node["position"] = e.position.value();
  node["event_id"] = e.event_id.ToString();
  node["stream"] = e.stream;
  node["revision"] = e.revision.value();
  node["type"] = e.type;
  node["recorded_at"] = Rfc3339(e.recorded_at);
  if (!e.causation_id.empty()) node["causation_id"] = e.causation_id;
  node["children"] = Children(tree, e.event_id.ToString(), depth);
  return node;
}

Json TreeJson(const TraceTree& tree) {
  Json roots = Json::array();
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < tree.events.size(); ++i) by_id[tree.events[i].event_id.ToString()] = i;
  for (const std::string& root : tree.roots) {
    if (root.starts_with("event:")) {
      roots.push_back(EventNode(tree, by_id.at(root.substr(6)), 0));
    } else {
      Json command = Json::object();
      command["command"] = root.substr(8);
      command["children"] = Children(tree, root, 0);
      roots.push_back(command);
    }
  }
  return roots;
}

void PrintTree(const Json& nodes, int depth) {
  for (const Json& node : nodes) {
    std::cout << std::string(static_cast<size_t>(depth) * 2, ' ');
    if (node.contains("command")) {
      std::cout << "command " << node["command"].get<std::string>() << "\n";
    } else {
      std::cout << node["position"].get<uint64_t>() << "  " << node["stream"].get<std::string>()
                << "@" << node["revision"].get<uint64_t>() << "  "
                << node["type"].get<std::string>() << "  " << node["recorded_at"].get<std::string>()
                << "\n";
    }
    PrintTree(node["children"], depth + 1);
  }
}

int RunTrace(Context& ctx, const TraceArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  auto it = (*store)->ReadCorrelation(args.correlation);
  if (!it.ok()) return ctx.Fail(it.status());
  std::vector<EventRecord> events;
  for (; (*it)->Valid(); (*it)->Next()) events.push_back((*it)->record());
  if (!(*it)->status().ok()) return ctx.Fail((*it)->status());
  if (events.empty()) {
    return ctx.Fail(absl::NotFoundError(
        absl::StrCat("no events with correlation id '", args.correlation, "'")));
  }
  const Json tree = TreeJson(BuildTree(std::move(events)));
  if (ctx.format() == Format::kTable) {
    PrintTree(tree, 0);
  } else {
    Json out = Json::object();
    out["correlation_id"] = args.correlation;
    out["roots"] = tree;
    PrintObject(std::cout, ctx.format(), out);
  }
  return kExitOk;
}

}  // namespace

void AddEventCommands(CLI::App& app, Action& chosen) {
  auto [event, event_args] =
      AddCommand(app, chosen, "event", "One event by its event id, payload decoded", RunEvent);
  event->add_option("id", event_args->id, "The event id (a UUID)")->required();
  event->add_option("--stream", event_args->stream,
                    "Its stream: an index lookup instead of a search of the log");
  auto [trace, trace_args] = AddCommand(
      app, chosen, "trace", "The causation tree of a correlation: what caused what", RunTrace);
  trace->add_option("correlation", trace_args->correlation, "The correlation id")->required();
}

}  // namespace annals::tool
