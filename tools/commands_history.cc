// Time travel: replay, state, diff, bisect. Read-only; a plugin's fold or
// the generic JSON fold turns events into state (lib/history.h).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "commands.h"
#include "context.h"
#include "lib/time_arg.h"

namespace annals::tool {
namespace {

// What every history subcommand takes: the stream and how to fold it.
struct HistoryArgs {
  std::string stream;
  std::string fold;
  bool no_snapshots = false;
};
struct ReplayArgs {
  HistoryArgs history;
  std::string from, to;
  bool full = false;
};
struct StateArgs {
  HistoryArgs history;
  std::string at_revision, at_position, as_of;
};
struct DiffArgs {
  HistoryArgs history;
  std::string a, b;
};
struct BisectArgs {
  HistoryArgs history;
  std::string until;
};

// The revision a --from point starts at: the first event at or after it.
absl::StatusOr<Revision> StartRevision(EventStore& store, const std::string& stream,
                                       const Point& point) {
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
  return absl::StrCat(e.stream, "@", e.revision.value(), "  #", e.position.value(), "  ",
                      Rfc3339(e.recorded_at), "  ", e.type);
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

// The state at `point` as JSON with where it is. NotFound for a time or
// position before the stream's first event if `require_existing`.
absl::StatusOr<Json> StateAtPoint(EventStore& store, const plugin::Fold& fold,
                                  const HistoryArgs& args, const std::optional<Point>& point,
                                  bool require_existing) {
  std::optional<Revision> revision;
  if (point) {
    absl::StatusOr<std::optional<Revision>> resolved = ResolvePoint(store, args.stream, *point);
    if (!resolved.ok()) return resolved.status();
    revision = *resolved;
    // A time or position before the stream's first event: it did not exist
    // yet, which an empty state would hide (a diff still starts there).
    if (!revision && point->kind != Point::Kind::kRevision && require_existing) {
      return absl::NotFoundError(absl::StrCat("no event of ", args.stream, " existed at ",
                                              DescribePoint(*point), " (its first is later)"));
    }
    // A revision the stream has not reached is an error, not its head.
    if (point->kind == Point::Kind::kRevision && (!revision || revision->value() < point->number)) {
      auto exact = store.ReadStream(args.stream, {.from = Revision(point->number), .max_count = 1});
      if (!exact.ok()) return exact.status();
      if (!(*exact)->Valid() || (*exact)->record().revision.value() != point->number) {
        return absl::NotFoundError(absl::StrCat(
            "stream '", args.stream, "' has no revision ", point->number,
            revision ? absl::StrCat(" (the nearest before it is ", revision->value(), ")") : ""));
      }
    }
  } else {
    absl::StatusOr<std::optional<Revision>> last = ResolvePoint(
        store, args.stream, Point{.kind = Point::Kind::kRevision, .number = UINT64_MAX});
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

// The revisions `replay` covers: [first, last], or to the head without
// `last`; `empty` if the range ends before the stream's first event.
struct ReplayRange {
  Revision first{0};
  std::optional<Revision> last;
  bool empty = false;
};

absl::StatusOr<ReplayRange> ResolveReplayRange(EventStore& store, const std::string& stream,
                                               const std::optional<Point>& from,
                                               const std::optional<Point>& to) {
  ReplayRange range;
  if (from) {
    absl::StatusOr<Revision> start = StartRevision(store, stream, *from);
    if (!start.ok()) return start.status();
    range.first = *start;
  }
  if (to) {
    absl::StatusOr<std::optional<Revision>> end = ResolvePoint(store, stream, *to);
    if (!end.ok()) return end.status();
    range.empty = !end->has_value();
    range.last = *end;
  }
  return range;
}

// Prints each step of a replay: in tables the headline, the diff (and with
// --full the state); in JSON forms one object per event with its changes
// and the state after it.
class ReplayPrinter {
 public:
  // `total`: the events to replay (0: unknown), for the progress line.
  ReplayPrinter(const Context& ctx, const PayloadDecoder& decoder, bool full, uint64_t total)
      : progress_("replay", total),
        decoder_(decoder),
        color_(ctx.color()),
        full_(full),
        table_(ctx.format() == Format::kTable),
        rows_(std::cout, table_ ? Format::kJsonl : ctx.format(), {}) {}

  absl::StatusOr<bool> Step(const EventRecord& e, const Json& before, const Json& after) {
    const std::vector<Change> changes = Diff(before, after);
    progress_.Tick(++steps_);
    if (table_) {
      absl::StatusOr<Json> data = decoder_.Display(e);
      if (!data.ok()) return data.status();
      std::cout << Headline(e) << "  " << Dump(*data) << "\n" << FormatChanges(changes, color_);
      if (full_) std::cout << "  state: " << Dump(after) << "\n";
      return true;
    }
    absl::StatusOr<Json> event = EventToJson(e, decoder_);
    if (!event.ok()) return event.status();
    Json row = Json::object();
    row["event"] = *std::move(event);
    row["changes"] = ChangesToJson(changes);
    row["state"] = after;
    rows_.Add(std::move(row));
    return true;
  }
  void Done() { progress_.Done(steps_); }

 private:
  Progress progress_;
  const PayloadDecoder& decoder_;
  const bool color_, full_, table_;
  RowWriter rows_;
  uint64_t steps_ = 0;
};

// How many revisions `range` covers (to the stream's last without an end);
// 0 if unknown. Retention may hide some: the replay then ends short of it.
uint64_t ReplayTotal(EventStore& store, const std::string& stream, const ReplayRange& range) {
  Revision last;
  if (range.last) {
    last = *range.last;
  } else {
    absl::StatusOr<StreamInfo> info = store.GetStreamInfo(stream);
    if (!info.ok()) return 0;
    last = info->last_revision;
  }
  return last < range.first ? 0 : last.value() - range.first.value() + 1;
}

// "--from needs ...": what a point may be, for usage errors.
std::string PointProblem(const std::string& what, const std::string& text) {
  return absl::StrCat(what, ": '", text,
                      "' is no point: give a revision (12), a position (@120) or ",
                      std::string(kTimeForms));
}

int RunReplay(Context& ctx, const ReplayArgs& args) {
  std::optional<Point> from_point, to_point;
  if (!args.from.empty() && !(from_point = ParsePoint(args.from))) {
    return ctx.Usage(PointProblem("--from", args.from));
  }
  if (!args.to.empty() && !(to_point = ParsePoint(args.to))) {
    return ctx.Usage(PointProblem("--to", args.to));
  }
  const HistoryArgs& history = args.history;
  absl::StatusOr<Loaded> loaded = Prepare(ctx, history);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<ReplayRange> range =
      ResolveReplayRange(*loaded->store, history.stream, from_point, to_point);
  if (!range.ok()) return ctx.Fail(range.status());
  if (range->empty) return kExitOk;  // the range ends before the first event
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  ReplayPrinter printer(ctx, **decoder, args.full,
                        ReplayTotal(*loaded->store, history.stream, *range));
  absl::Status s = Replay(*loaded->store, *loaded->fold, history.stream, range->first, range->last,
                          !history.no_snapshots,
                          [&](const EventRecord& e, const Json& before, const Json& after) {
                            return printer.Step(e, before, after);
                          });
  printer.Done();
  if (!s.ok()) return ctx.Fail(s);
  return kExitOk;
}

// The point --at-revision, --at-position or --as-of names (nullopt: the
// head), or the usage problem.
absl::StatusOr<std::optional<Point>> ParseStatePoint(const StateArgs& args) {
  std::optional<Point> point;
  const int given = !args.at_revision.empty() + !args.at_position.empty() + !args.as_of.empty();
  if (given > 1)
    return absl::InvalidArgumentError("give one of --at-revision, --at-position, --as-of");
  if (!args.at_revision.empty()) {
    point = ParsePoint(args.at_revision);
    if (!point || point->kind != Point::Kind::kRevision) {
      return absl::InvalidArgumentError("--at-revision needs a revision number");
    }
  } else if (!args.at_position.empty()) {
    point = ParsePoint("@" + args.at_position);
    if (!point) return absl::InvalidArgumentError("--at-position needs a position number");
  } else if (!args.as_of.empty()) {
    absl::StatusOr<absl::Time> time = ParseTimeArg(args.as_of, absl::Now());
    if (!time.ok())
      return absl::InvalidArgumentError(absl::StrCat("--as-of: ", time.status().message()));
    point = Point{.kind = Point::Kind::kTime, .time = *time};
  }
  return point;
}

int RunState(Context& ctx, const StateArgs& args) {
  absl::StatusOr<std::optional<Point>> point = ParseStatePoint(args);
  if (!point.ok()) return ctx.Usage(std::string(point.status().message()));
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args.history);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<Json> state = StateAtPoint(*loaded->store, *loaded->fold, args.history, *point,
                                            /*require_existing=*/true);
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

int RunDiff(Context& ctx, const DiffArgs& args) {
  std::optional<Point> pa = ParsePoint(args.a), pb = ParsePoint(args.b);
  if (!pa) return ctx.Usage(PointProblem("A", args.a));
  if (!pb) return ctx.Usage(PointProblem("B", args.b));
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args.history);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<Json> sa = StateAtPoint(*loaded->store, *loaded->fold, args.history, pa, false);
  if (!sa.ok()) return ctx.Fail(sa.status());
  absl::StatusOr<Json> sb = StateAtPoint(*loaded->store, *loaded->fold, args.history, pb, false);
  if (!sb.ok()) return ctx.Fail(sb.status());
  const std::vector<Change> changes = Diff((*sa)["state"], (*sb)["state"]);
  if (ctx.format() == Format::kTable) {
    auto where = [](const Json& s) {
      return s["revision"].is_null() ? std::string("(before the first event)")
                                     : absl::StrCat("revision ", s["revision"].get<uint64_t>());
    };
    std::cout << args.history.stream << ": " << where(*sa) << " -> " << where(*sb) << ", "
              << changes.size() << " changes\n"
              << FormatChanges(changes, ctx.color());
    return kExitOk;
  }
  Json out = Json::object();
  out["stream"] = args.history.stream;
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

// The initial state first: a predicate may hold before any event. If it
// does, `result` says so.
absl::StatusOr<bool> HoldsBeforeFirstEvent(const Loaded& loaded, const std::string& stream,
                                           const Predicate& predicate, Json& result) {
  absl::StatusOr<StateAt> initial =
      LoadStateAt(*loaded.store, *loaded.fold, stream, std::nullopt, false);
  if (!initial.ok()) return initial.status();
  absl::StatusOr<Json> initial_json = StateJson(*loaded.fold, *initial->state);
  if (!initial_json.ok()) return initial_json.status();
  if (!predicate.Holds(*initial_json)) return false;
  result["found"] = true;
  result["event"] = nullptr;
  result["after"] = *initial_json;
  return true;
}

// Folding is sequential: a state depends on every event before it. The
// search therefore walks the history once, stopping at the first event
// after which `predicate` holds; `result` gets it (and tables print it).
// Returns whether there is one; `*steps` counts the events folded.
absl::StatusOr<bool> FirstEventWhereHolds(const Context& ctx, const Loaded& loaded,
                                          const std::string& stream, const Predicate& predicate,
                                          const PayloadDecoder& decoder, Json& result,
                                          uint64_t* steps) {
  bool found = false;
  Progress progress("bisect");
  absl::Status s = Replay(
      *loaded.store, *loaded.fold, stream, Revision(0), std::nullopt, false,
      [&](const EventRecord& e, const Json& before, const Json& after) -> absl::StatusOr<bool> {
        progress.Tick(++*steps);
        if (!predicate.Holds(after)) return true;
        absl::StatusOr<Json> event = EventToJson(e, decoder);
        if (!event.ok()) return event.status();
        found = true;
        result["found"] = true;
        result["event"] = *event;
        result["changes"] = ChangesToJson(Diff(before, after));
        result["before"] = before;
        result["after"] = after;
        if (ctx.format() == Format::kTable) {
          std::cout << "first event after which " << predicate.text() << " holds (" << *steps
                    << " events folded):\n  " << Headline(e) << "  " << Dump((*event)["data"])
                    << "\n"
                    << "changes:\n"
                    << FormatChanges(Diff(before, after), ctx.color())
                    << "state before: " << Dump(before) << "\n"
                    << "state after:  " << Dump(after) << "\n";
        }
        return false;
      });
  progress.Done(*steps);
  if (!s.ok()) return s;
  return found;
}

int RunBisect(Context& ctx, const BisectArgs& args) {
  absl::StatusOr<Predicate> predicate = Predicate::Parse(args.until);
  if (!predicate.ok()) return ctx.Usage(std::string(predicate.status().message()));
  const std::string& stream = args.history.stream;
  absl::StatusOr<Loaded> loaded = Prepare(ctx, args.history);
  if (!loaded.ok()) return ctx.Fail(loaded.status());
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  Json result = Json::object();
  result["stream"] = stream;
  result["predicate"] = predicate->text();
  absl::StatusOr<bool> initially = HoldsBeforeFirstEvent(*loaded, stream, *predicate, result);
  if (!initially.ok()) return ctx.Fail(initially.status());
  if (*initially && ctx.format() == Format::kTable) {
    std::cout << predicate->text() << " holds before the first event of " << stream << "\n";
    return kExitOk;
  }
  if (*initially) {
    PrintObject(std::cout, ctx.format(), result);
    return kExitOk;
  }
  uint64_t steps = 0;
  absl::StatusOr<bool> found =
      FirstEventWhereHolds(ctx, *loaded, stream, *predicate, **decoder, result, &steps);
  if (!found.ok()) return ctx.Fail(found.status());
  if (!*found) {
    const std::string never =
        absl::StrCat(predicate->text(), " never holds in ", stream, " (", steps, " events folded)");
    if (ctx.format() == Format::kTable) {
      std::cerr << "annals: " << never << "\n";
    } else {
      PrintError(/*json=*/true, never, "NOT_FOUND", kExitNotFound);
    }
    result["found"] = false;
  }
  if (ctx.format() != Format::kTable) PrintObject(std::cout, ctx.format(), result);
  return *found ? kExitOk : kExitNotFound;
}

// STREAM, --fold and --no-snapshots, which every history subcommand takes.
void AddHistoryOptions(CLI::App* command, HistoryArgs& history) {
  command->add_option("stream", history.stream, "The stream")->required();
  command->add_option("--fold", history.fold,
                      "The fold to use: a plugin's fold name, or 'json' (generic)");
  command->add_flag("--no-snapshots", history.no_snapshots, "Fold every event, ignoring snapshots");
}

}  // namespace

void AddHistoryCommands(CLI::App& app, Action& chosen) {
  auto [replay, replay_args] =
      AddCommand(app, chosen, "replay",
                 "Each event of a stream with the state after it and the diff", RunReplay);
  AddHistoryOptions(replay, replay_args->history);
  replay->add_option("--from", replay_args->from,
                     "Start: revision (3), position (@120) or time (RFC 3339, 2026-12-01, -2h...)");
  replay->add_option("--to", replay_args->to, "End (inclusive): revision, @position or time");
  replay->add_flag("--full", replay_args->full, "Also print the whole state after each event");

  auto [state, state_args] =
      AddCommand(app, chosen, "state",
                 "An aggregate's state at a revision, position or time (default: now)", RunState);
  AddHistoryOptions(state, state_args->history);
  state->add_option("--at-revision", state_args->at_revision, "After this revision");
  state->add_option("--at-position", state_args->at_position,
                    "After the stream's last event at or before this position");
  state->add_option("--as-of", state_args->as_of,
                    "As of TIME: RFC 3339, 2026-12-01, '2026-12-01 10:00', -2h, now (docs/CLI.md)");

  auto [diff, diff_args] = AddCommand(
      app, chosen, "diff", "The state difference between two points of a stream", RunDiff);
  AddHistoryOptions(diff, diff_args->history);
  diff->add_option("a", diff_args->a, "From: revision (3), position (@120) or time")->required();
  diff->add_option("b", diff_args->b, "To: revision, @position or time")->required();

  auto [bisect, bisect_args] =
      AddCommand(app, chosen, "bisect",
                 "The first event after which a predicate on the state holds", RunBisect);
  AddHistoryOptions(bisect, bisect_args->history);
  bisect
      ->add_option("--until", bisect_args->until,
                   "Predicate: JSON pointer [op value], e.g. '/total_cents > 5000'")
      ->required();
}

}  // namespace annals::tool
