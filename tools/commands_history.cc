// Time travel: replay, state, diff, bisect. Read-only; a plugin's fold or
// the generic JSON fold turns events into state (lib/history.h).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "context.h"

namespace annals::tool {
namespace {

// The revision a --from point starts at: the first event at or after it.
absl::StatusOr<Revision> StartRevision(EventStore& store, const std::string& stream, const Point& point) {
  if (point.kind == Point::Kind::kRevision) return Revision(point.number);
  Point before = point;
  if (point.kind == Point::Kind::kPosition) {
    if (point.number == 0) return Revision(0);
    before.number = point.number - 1;
  } else {
    before.time = point.time - absl::Microseconds(1);
  }
  absl::StatusOr<std::optional<Revision>> last_before = ResolvePoint(store, stream, before);
  if (!last_before.ok()) return last_before.status();
  return last_before->has_value() ? (*last_before)->Next() : Revision(0);
}

std::string Headline(const EventRecord& e) {
  return absl::StrCat(e.stream, "@", e.revision.value(), "  #", e.position.value(), "  ", Rfc3339(e.recorded_at),
                      "  ", e.type);
}

struct Loaded {
  EventStore* store;
  const plugin::Fold* fold;
};

absl::StatusOr<Loaded> Prepare(Context& ctx, const HistoryArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return store.status();
  absl::StatusOr<const plugin::Fold*> fold = ctx.FoldFor(args.stream, args.fold);
  if (!fold.ok()) return fold.status();
  return Loaded{*store, *fold};
}

// The state at `point` as JSON with where it is.
absl::StatusOr<Json> StateAtPoint(EventStore& store, const plugin::Fold& fold, const HistoryArgs& args,
                                  const std::optional<Point>& point) {
  std::optional<Revision> revision;
  if (point) {
    absl::StatusOr<std::optional<Revision>> resolved = ResolvePoint(store, args.stream, *point);
    if (!resolved.ok()) return resolved.status();
    revision = *resolved;
    // A revision the stream has not reached is an error, not its head.
    if (point->kind == Point::Kind::kRevision && (!revision || revision->value() < point->number)) {
      auto exact = store.ReadStream(args.stream, {.from = Revision(point->number), .max_count = 1});
      if (!exact.ok()) return exact.status();
      if (!(*exact)->Valid() || (*exact)->record().revision.value() != point->number) {
        return absl::NotFoundError(absl::StrCat("stream '", args.stream, "' has no revision ", point->number,
                                                revision ? absl::StrCat(" (the nearest before it is ", revision->value(), ")") : ""));
      }
    }
  } else {
    absl::StatusOr<std::optional<Revision>> last =
        ResolvePoint(store, args.stream, Point{.kind = Point::Kind::kRevision, .number = UINT64_MAX});
    if (!last.ok()) return last.status();
    revision = *last;
  }
  absl::StatusOr<StateAt> at = LoadStateAt(store, fold, args.stream, revision, !args.no_snapshots);
  if (!at.ok()) return at.status();
  absl::StatusOr<Json> state = StateJson(fold, *at->state);
  if (!state.ok()) return state.status();
  Json out = Json::object();
  out["stream"] = args.stream;
  out["at"] = point ? DescribePoint(*point) : "head";
  if (at->last_event) {
    out["revision"] = at->last_event->revision.value();
    out["position"] = at->last_event->position.value();
    out["recorded_at"] = Rfc3339(at->last_event->recorded_at);
    out["last_event_type"] = at->last_event->type;
  } else {
    out["revision"] = nullptr;  // before the first event: the initial state
  }
  out["snapshot_revision"] = at->from_snapshot ? Json(at->from_snapshot->value()) : Json(nullptr);
  out["events_folded"] = at->events_folded;
  out["state"] = *std::move(state);
  return out;
}

}  // namespace

int RunReplay(Context& ctx, const HistoryArgs& args, const std::string& from, const std::string& to, bool full) {
  std::optional<Point> from_point, to_point;
  if (!from.empty() && !(from_point = ParsePoint(from))) {
    return ctx.Usage("--from needs a revision (12), a position (@120) or an RFC 3339 time");
  }
  if (!to.empty() && !(to_point = ParsePoint(to))) {
    return ctx.Usage("--to needs a revision (12), a position (@120) or an RFC 3339 time");
  }
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  Revision first(0);
  if (from_point) {
    absl::StatusOr<Revision> start = StartRevision(*loaded->store, args.stream, *from_point);
    if (!start.ok()) return ctx.Fail(start.status());
    first = *start;
  }
  std::optional<Revision> last;
  if (to_point) {
    absl::StatusOr<std::optional<Revision>> end = ResolvePoint(*loaded->store, args.stream, *to_point);
    if (!end.ok()) return ctx.Fail(end.status());
    if (!end->has_value()) return kExitOk;  // the range ends before the first event
    last = **end;
  }
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  const bool table = ctx.format() == Format::kTable;
  RowWriter rows(std::cout, table ? Format::kJsonl : ctx.format(), {});
  Progress progress("replay");
  uint64_t steps = 0;
  absl::Status s = Replay(*loaded->store, *loaded->fold, args.stream, first, last, !args.no_snapshots,
                          [&](const EventRecord& e, const Json& before, const Json& after) -> absl::StatusOr<bool> {
                            const std::vector<Change> changes = Diff(before, after);
                            progress.Tick(++steps);
                            if (table) {
                              absl::StatusOr<Json> data = (*decoder)->Display(e);
                              if (!data.ok()) return data.status();
                              std::cout << Headline(e) << "  " << Dump(*data) << "\n"
                                        << FormatChanges(changes, ctx.color());
                              if (full) std::cout << "  state: " << Dump(after) << "\n";
                              return true;
                            }
                            absl::StatusOr<Json> event = EventToJson(e, **decoder);
                            if (!event.ok()) return event.status();
                            Json row = Json::object();
                            row["event"] = *std::move(event);
                            row["changes"] = ChangesToJson(changes);
                            row["state"] = after;
                            rows.Add(std::move(row));
                            return true;
                          });
  progress.Done(steps);
  if (!s.ok()) return ctx.Fail(s);
  return kExitOk;
}

int RunState(Context& ctx, const HistoryArgs& args, const std::string& at_revision, const std::string& at_position,
             const std::string& as_of) {
  std::optional<Point> point;
  const int given = !at_revision.empty() + !at_position.empty() + !as_of.empty();
  if (given > 1) return ctx.Usage("give one of --at-revision, --at-position, --as-of");
  if (!at_revision.empty()) {
    point = ParsePoint(at_revision);
    if (!point || point->kind != Point::Kind::kRevision) return ctx.Usage("--at-revision needs a revision number");
  } else if (!at_position.empty()) {
    point = ParsePoint("@" + at_position);
    if (!point) return ctx.Usage("--at-position needs a position number");
  } else if (!as_of.empty()) {
    point = ParsePoint(as_of);
    if (!point || point->kind != Point::Kind::kTime) return ctx.Usage("--as-of needs an RFC 3339 time, e.g. 2026-11-23T10:00:00Z");
  }
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<Json> state = StateAtPoint(*loaded->store, *loaded->fold, args, point);
  if (!state.ok()) return ctx.Fail(state.status());
  if (ctx.format() == Format::kTable) {
    Json head = *state;
    head.erase("state");
    PrintObject(std::cout, Format::kTable, head);
    std::cout << "state:\n" << Dump((*state)["state"], 2) << "\n";
  } else {
    PrintObject(std::cout, ctx.format(), *state);
  }
  return kExitOk;
}

int RunDiff(Context& ctx, const HistoryArgs& args, const std::string& a, const std::string& b) {
  std::optional<Point> pa = ParsePoint(a), pb = ParsePoint(b);
  if (!pa || !pb) return ctx.Usage("diff needs two points: revisions (3), positions (@120) or RFC 3339 times");
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<Json> sa = StateAtPoint(*loaded->store, *loaded->fold, args, pa);
  if (!sa.ok()) return ctx.Fail(sa.status());
  absl::StatusOr<Json> sb = StateAtPoint(*loaded->store, *loaded->fold, args, pb);
  if (!sb.ok()) return ctx.Fail(sb.status());
  const std::vector<Change> changes = Diff((*sa)["state"], (*sb)["state"]);
  if (ctx.format() == Format::kTable) {
    auto where = [](const Json& s) {
      return s["revision"].is_null() ? std::string("(before the first event)")
                                     : absl::StrCat("revision ", s["revision"].get<uint64_t>());
    };
    std::cout << args.stream << ": " << where(*sa) << " -> " << where(*sb) << ", " << changes.size() << " changes\n"
              << FormatChanges(changes, ctx.color());
    return kExitOk;
  }
  Json out = Json::object();
  out["stream"] = args.stream;
  for (auto [key, s] : {std::pair{"from", &*sa}, std::pair{"to", &*sb}}) {
    Json where = *s;
    where.erase("state");
    where.erase("stream");
    out[key] = std::move(where);
  }
  out["changes"] = ChangesToJson(changes);
  PrintObject(std::cout, ctx.format(), out);
  return kExitOk;
}

int RunBisect(Context& ctx, const HistoryArgs& args, const std::string& predicate_text) {
  absl::StatusOr<Predicate> predicate = Predicate::Parse(predicate_text);
  if (!predicate.ok()) return ctx.Usage(std::string(predicate.status().message()));
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  // The initial state first: a predicate may hold before any event.
  absl::StatusOr<StateAt> initial = LoadStateAt(*loaded->store, *loaded->fold, args.stream, std::nullopt, false);
  if (!initial.ok()) return ctx.Fail(initial.status());
  absl::StatusOr<Json> initial_json = StateJson(*loaded->fold, *initial->state);
  if (!initial_json.ok()) return ctx.Fail(initial_json.status());
  Json result = Json::object();
  result["stream"] = args.stream;
  result["predicate"] = predicate->text();
  if (predicate->Holds(*initial_json)) {
    result["found"] = true;
    result["event"] = nullptr;
    result["after"] = *initial_json;
    if (ctx.format() == Format::kTable) {
      std::cout << predicate->text() << " holds before the first event of " << args.stream << "\n";
    } else {
      PrintObject(std::cout, ctx.format(), result);
    }
    return kExitOk;
  }
  uint64_t steps = 0;
  bool found = false;
  Progress progress("bisect");
  // Folding is sequential: a state depends on every event before it. The
  // search therefore walks the history once, stopping at the first match.
  absl::Status s = Replay(*loaded->store, *loaded->fold, args.stream, Revision(0), std::nullopt, false,
                          [&](const EventRecord& e, const Json& before, const Json& after) -> absl::StatusOr<bool> {
                            progress.Tick(++steps);
                            if (!predicate->Holds(after)) return true;
                            absl::StatusOr<Json> event = EventToJson(e, **decoder);
                            if (!event.ok()) return event.status();
                            found = true;
                            result["found"] = true;
                            result["event"] = *event;
                            result["changes"] = ChangesToJson(Diff(before, after));
                            result["before"] = before;
                            result["after"] = after;
                            if (ctx.format() == Format::kTable) {
                              std::cout << "first event after which " << predicate->text() << " holds ("
                                        << steps << " events folded):\n  " << Headline(e) << "  "
                                        << Dump((*event)["data"]) << "\n"
                                        << "changes:\n"
                                        << FormatChanges(Diff(before, after), ctx.color())
                                        << "state before: " << Dump(before) << "\n"
                                        << "state after:  " << Dump(after) << "\n";
                            }
                            return false;
                          });
  progress.Done(steps);
  if (!s.ok()) return ctx.Fail(s);
  if (!found) {
    std::cerr << "annals: " << predicate->text() << " never holds in " << args.stream << " (" << steps
              << " events folded)\n";
    if (ctx.format() != Format::kTable) {
      result["found"] = false;
      PrintObject(std::cout, ctx.format(), result);
    }
    return kExitNotFound;
  }
  if (ctx.format() != Format::kTable) PrintObject(std::cout, ctx.format(), result);
  return kExitOk;
}

}  // namespace annals::tool
