// Inspection: info, streams, read, tail, audit. All open the store read-only.
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/maintenance.h"
#include "annals/projection.h"
#include "annals/schemas.h"
#include "commands.h"
#include "context.h"
#include "lib/time_arg.h"

namespace annals::tool {
namespace {

struct StreamsArgs {
  std::string prefix;
  uint64_t limit = UINT64_MAX;
};

struct ReadArgs {
  std::string stream;
  bool backward = false;
  std::string from;
  uint64_t limit = UINT64_MAX;
};

struct TailArgs {
  std::string stream;
  uint64_t count = 10;
  bool follow = false;
  double follow_seconds = 0;
};

struct AuditArgs {
  std::string stream, category, type, correlation, causation, since, until;
  std::vector<std::string> meta;
  uint64_t limit = UINT64_MAX;
  bool explain = false;
};

// Whether a STREAM argument names the global log: none, or `$all` as the
// docs and --help call it.
bool IsAll(const std::string& stream) { return stream.empty() || stream == "$all"; }

const char* StateName(StreamState state) {
  switch (state) {
    case StreamState::kActive:
      return "active";
    case StreamState::kDeleted:
      return "deleted";
    case StreamState::kTombstoned:
      return "tombstoned";
  }
  return "?";
}

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) bytes += it->file_size(ec);
  }
  return bytes;
}

// Calls `fn` with every stream whose name starts with `prefix` (at most
// `limit`), in name order, a page of 1,000 at a time: bounded memory however
// many streams the store has.
absl::Status ForEachStream(EventStore& store, const std::string& prefix, uint64_t limit,
                           const std::function<void(const StreamInfo&)>& fn) {
  ListStreamsOptions options{.prefix = prefix};
  uint64_t listed = 0;
  while (listed < limit) {
    options.limit = static_cast<size_t>(std::min<uint64_t>(1000, limit - listed));
    absl::StatusOr<std::vector<StreamInfo>> page = store.ListStreams(options);
    if (!page.ok()) return page.status();
    for (const StreamInfo& s : *page) fn(s);
    listed += page->size();
    if (page->size() < options.limit) break;
    options.after = page->back().stream;
  }
  return absl::OkStatus();
}

// The columns of event listings (tables); JSON forms carry every field.
const std::vector<std::string> kEventColumns = {"position",    "stream", "revision",
                                                "recorded_at", "type",   "data"};

int PrintEvents(Context& ctx, EventIterator& it, uint64_t limit = UINT64_MAX) {
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  RowWriter rows(std::cout, ctx.format(), kEventColumns);
  for (uint64_t n = 0; n < limit && it.Valid(); it.Next(), ++n) {
    absl::StatusOr<Json> row = EventToJson(it.record(), **decoder);
    if (!row.ok()) {
      rows.Finish();
      return ctx.Fail(row.status());
    }
    rows.Add(*std::move(row));
  }
  rows.Finish();
  if (!it.status().ok()) return ctx.Fail(it.status());
  return kExitOk;
}

// Set by SIGINT/SIGTERM while `tail -f` follows, so that it stops cleanly
// (closing the store removes the read-only handle's temporary directory).
volatile std::sig_atomic_t tail_interrupted = 0;
void OnTailInterrupt(int) { tail_interrupted = 1; }

int RunInfo(Context& ctx) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  EventStore& s = **store;
  Json info = Json::object();
  info["store"] = std::filesystem::absolute(ctx.options().store).string();
  info["format_version"] = kFormatVersion;
  info["head_position"] = s.head().value();
  // Positions are dense: every one up to the head is an event written (some
  // may since have been removed by compaction).
  info["events_written"] = s.head().value();
  absl::StatusOr<ChainHead> chain = ReadChainHead(s);
  if (!chain.ok()) return ctx.Fail(chain.status());
  // Publish it (docs/CLI.md, "Anchoring the chain"): `verify --expect-head`
  // later proves nothing up to it changed.
  info["chain_head"] = chain->ToString();
  uint64_t user_streams = 0, deleted = 0;
  absl::Status counted = ForEachStream(s, "", UINT64_MAX, [&](const StreamInfo& stream) {
    if (stream.stream.starts_with("$")) return;  // `$$` audit streams, `$schemas`
    ++user_streams;
    if (stream.state != StreamState::kActive) ++deleted;
  });
  if (!counted.ok()) return ctx.Fail(counted);
  info["streams"] = user_streams;
  info["deleted_streams"] = deleted;
  auto first = s.ReadAll({.max_count = 1});
  if (!first.ok()) return ctx.Fail(first.status());
  auto last = s.ReadAll({.direction = Direction::kBackward, .max_count = 1});
  if (!last.ok()) return ctx.Fail(last.status());
  if ((*first)->Valid()) {
    info["first_position"] = (*first)->record().position.value();
    info["first_recorded_at"] = Rfc3339((*first)->record().recorded_at);
    info["last_recorded_at"] = Rfc3339((*last)->record().recorded_at);
  }
  info["disk_bytes"] = DirectoryBytes(ctx.options().store);
  auto schemas = ReadSchemas(s);
  if (!schemas.ok()) return ctx.Fail(schemas.status());
  info["schema_files"] = schemas->files.size();
  info["schema_bindings"] = schemas->bindings.size();
  auto subscribers = ListSubscribers(s);
  if (!subscribers.ok()) return ctx.Fail(subscribers.status());
  info["durable_subscribers"] = subscribers->size();
  auto projections = ProjectionRunner::ListStored(s);
  if (!projections.ok()) return ctx.Fail(projections.status());
  info["projections"] = projections->size();
  PrintObject(std::cout, ctx.format(), info);
  return kExitOk;
}

int RunStreams(Context& ctx, const StreamsArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  RowWriter rows(std::cout, ctx.format(),
                 {"stream", "events", "last_revision", "last_position", "updated_at", "state"});
  absl::Status listed = ForEachStream(**store, args.prefix, args.limit, [&](const StreamInfo& s) {
    Json row = Json::object();
    row["stream"] = s.stream;
    row["events"] = s.last_revision.value() + 1;
    row["last_revision"] = s.last_revision.value();
    row["last_position"] = s.last_position.value();
    row["created_at"] = Rfc3339(s.created_at);
    row["updated_at"] = Rfc3339(s.updated_at);
    row["state"] = StateName(s.state);
    rows.Add(std::move(row));
  });
  rows.Finish();
  if (!listed.ok()) return ctx.Fail(listed);
  return kExitOk;
}

int RunRead(Context& ctx, const ReadArgs& args) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  const Direction direction = args.backward ? Direction::kBackward : Direction::kForward;
  uint64_t from = 0;
  if (!args.from.empty() && !absl::SimpleAtoi(args.from, &from)) {
    return ctx.Usage("--from needs a revision (with STREAM) or position number");
  }
  absl::StatusOr<std::unique_ptr<EventIterator>> it;
  if (!IsAll(args.stream)) {
    ReadStreamOptions options{.direction = direction, .max_count = args.limit};
    if (!args.from.empty()) options.from = Revision(from);
    it = (*store)->ReadStream(args.stream, options);
  } else {
    ReadAllOptions options{.direction = direction, .max_count = args.limit};
    if (!args.from.empty()) options.from = Position(from);
    it = (*store)->ReadAll(options);
  }
  if (!it.ok()) return ctx.Fail(it.status());
  return PrintEvents(ctx, **it);
}

// The last `args.count` events of the stream (or $all), newest first; none
// if a followed stream does not exist yet.
absl::StatusOr<std::vector<EventRecord>> LastEvents(EventStore& store, const TailArgs& args) {
  absl::StatusOr<std::unique_ptr<EventIterator>> it =
      IsAll(args.stream)
          ? store.ReadAll({.direction = Direction::kBackward, .max_count = args.count})
          : store.ReadStream(args.stream,
                             {.direction = Direction::kBackward, .max_count = args.count});
  std::vector<EventRecord> last;
  if (!it.ok()) {
    if (args.follow && it.status().code() == absl::StatusCode::kNotFound) return last;
    return it.status();
  }
  for (; (*it)->Valid(); (*it)->Next()) last.push_back((*it)->record());
  if (!(*it)->status().ok()) return (*it)->status();
  return last;
}

// Prints tail's events. Followed output goes line by line even in table
// form: one JSON object per event for --json too (a stream has no end to
// close an array with), each flushed as it comes (for pipes: `| jq`).
class TailPrinter {
 public:
  TailPrinter(const Context& ctx, const PayloadDecoder& decoder, bool follow)
      : decoder_(decoder),
        follow_(follow),
        lines_(follow && ctx.format() == Format::kTable),
        rows_(std::cout, follow ? Format::kJsonl : ctx.format(), kEventColumns) {}

  absl::Status Print(const EventRecord& e) {
    if (lines_) {
      absl::StatusOr<Json> data = decoder_.Display(e);
      if (!data.ok()) return data.status();
      std::cout << e.position.value() << "  " << e.stream << "@" << e.revision.value() << "  "
                << Rfc3339(e.recorded_at) << "  " << e.type << "  " << Cell(*data) << std::endl;
      return absl::OkStatus();
    }
    absl::StatusOr<Json> row = EventToJson(e, decoder_);
    if (!row.ok()) return row.status();
    rows_.Add(*std::move(row));
    if (follow_) std::cout.flush();
    return absl::OkStatus();
  }
  void Finish() { rows_.Finish(); }

 private:
  const PayloadDecoder& decoder_;
  const bool follow_;
  const bool lines_;  // followed table output: one plain line per event
  RowWriter rows_;
};

// Live: a subscription on the read-only store after the `last` events
// shown, refreshed from the writer's commits a few times a second, until
// --for runs out or SIGINT/SIGTERM.
int Follow(Context& ctx, EventStore& store, const TailArgs& args,
           const std::vector<EventRecord>& last, TailPrinter& printer) {
  std::cout.flush();
  SubscribeOptions options;
  if (!IsAll(args.stream)) options.stream = args.stream;
  if (!last.empty()) {
    options.start = IsAll(args.stream) ? StartFrom::AfterPosition(last.front().position)
                                       : StartFrom::AfterRevision(last.front().revision);
  } else {
    options.start =
        args.count == 0 ? StartFrom::End() : StartFrom::Start();  // no events yet: all are new
  }
  auto subscription = store.Subscribe(options);
  if (!subscription.ok()) return ctx.Fail(subscription.status());
  const absl::Time deadline = args.follow_seconds > 0
                                  ? absl::Now() + absl::Seconds(args.follow_seconds)
                                  : absl::InfiniteFuture();
  while (absl::Now() < deadline && !tail_interrupted) {
    absl::StatusOr<EventRecord> event = (*subscription)->Next(absl::Milliseconds(100));
    if (event.ok()) {
      if (absl::Status s = printer.Print(*event); !s.ok()) return ctx.Fail(s);
      continue;
    }
    if (event.status().code() != absl::StatusCode::kDeadlineExceeded)
      return ctx.Fail(event.status());
    // Nothing new here: catch up with what the writer committed since.
    if (absl::Status s = Refresh(store); !s.ok()) return ctx.Fail(s);
  }
  return kExitOk;
}

int RunTail(Context& ctx, const TailArgs& args) {
  if (args.follow) {
    std::signal(SIGINT, OnTailInterrupt);
    std::signal(SIGTERM, OnTailInterrupt);
  }
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  absl::StatusOr<std::vector<EventRecord>> last = LastEvents(**store, args);
  if (!last.ok()) return ctx.Fail(last.status());
  TailPrinter printer(ctx, **decoder, args.follow);
  for (auto r = last->rbegin(); r != last->rend(); ++r) {  // oldest first
    if (absl::Status s = printer.Print(*r); !s.ok()) {
      printer.Finish();
      return ctx.Fail(s);
    }
  }
  if (!args.follow) return kExitOk;
  return Follow(ctx, **store, args, *last, printer);
}

// An audit's bounds: the time range of --since/--until and the --meta pairs.
struct AuditQuery {
  ReadAllOptions options;
  std::vector<std::pair<std::string, std::string>> meta;
};

// InvalidArgument with the usage problem if an option does not parse.
absl::StatusOr<AuditQuery> ParseAuditQuery(const AuditArgs& args) {
  AuditQuery query;
  const absl::Time now = absl::Now();
  for (auto [name, text, bound] : {std::tuple{"--since", &args.since, &query.options.since},
                                   std::tuple{"--until", &args.until, &query.options.until}}) {
    if (text->empty()) continue;
    absl::StatusOr<absl::Time> t = ParseTimeArg(*text, now);
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", t.status().message()));
    *bound = *t;
  }
  if (query.options.since && query.options.until && *query.options.since > *query.options.until) {
    return absl::InvalidArgumentError(absl::StrCat("--since (", Rfc3339(*query.options.since),
                                                   ") is after --until (",
                                                   Rfc3339(*query.options.until), ")"));
  }
  for (const std::string& kv : args.meta) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return absl::InvalidArgumentError("--meta needs KEY=VALUE, got '" + kv + "'");
    query.meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!args.category.empty()) query.options.filter.categories = {args.category};
  if (!args.type.empty()) query.options.filter.event_types = {args.type};
  return query;
}

// The read that answers the audit: the most selective index that applies.
// `*plan` says which, for --explain.
absl::StatusOr<std::unique_ptr<EventIterator>> AuditRead(EventStore& store, const AuditArgs& args,
                                                         const AuditQuery& query,
                                                         std::string* plan) {
  if (!args.correlation.empty()) {
    *plan = "by_correlation index";
    return store.ReadCorrelation(args.correlation, query.options);
  }
  if (!args.causation.empty()) {
    *plan = "by_causation index";
    return store.ReadCausation(args.causation, query.options);
  }
  if (!IsAll(args.stream)) {
    *plan = "stream read";
    return store.ReadStream(args.stream);
  }
  // ReadAll picks the category or type index, or the time index for a
  // range; with none of them it scans the log.
  *plan = !args.category.empty()                         ? "by_category index"
          : !args.type.empty()                           ? "by_type index"
          : (query.options.since || query.options.until) ? "by_time index, then the log range"
                                                         : "log scan";
  return store.ReadAll(query.options);
}

// Whether `r`, returned by the audit's read, matches every criterion. Index
// reads apply the category, type and time bounds themselves; a stream read
// (`stream_read`) does not.
bool AuditMatches(const EventRecord& r, const AuditArgs& args, const AuditQuery& query,
                  bool stream_read) {
  if (!IsAll(args.stream) && r.stream != args.stream) return false;
  if (!args.causation.empty() && r.causation_id != args.causation) return false;
  if (stream_read) {
    if (!args.category.empty() && !r.stream.starts_with(args.category + "-")) return false;
    if (!args.type.empty() && r.type != args.type) return false;
    if (query.options.since && r.recorded_at < *query.options.since) return false;
    if (query.options.until && r.recorded_at >= *query.options.until) return false;
  }
  bool match = true;
  for (const auto& [key, value] : query.meta) {
    auto m = r.metadata.find(key);
    match &= m != r.metadata.end() && m->second == value;
  }
  return match;
}

// Who did what when: the events matching every given criterion, read
// through the most selective index that applies; the rest are checked on
// the events the index returns.
int RunAudit(Context& ctx, const AuditArgs& args) {
  absl::StatusOr<AuditQuery> query = ParseAuditQuery(args);
  if (!query.ok()) return ctx.Usage(std::string(query.status().message()));
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  std::string plan;
  absl::StatusOr<std::unique_ptr<EventIterator>> it = AuditRead(**store, args, *query, &plan);
  if (!it.ok()) return ctx.Fail(it.status());
  RowWriter rows(std::cout, ctx.format(),
                 {"position", "recorded_at", "stream", "revision", "type", "user", "correlation_id",
                  "causation_id"});
  uint64_t examined = 0;
  const bool stream_read = plan == "stream read";
  for (; (*it)->Valid() && rows.rows() < args.limit; (*it)->Next()) {
    ++examined;
    const EventRecord& r = (*it)->record();
    if (!AuditMatches(r, args, *query, stream_read)) continue;
    absl::StatusOr<Json> row = EventToJson(r, **decoder);
    if (!row.ok()) {
      rows.Finish();
      return ctx.Fail(row.status());
    }
    auto user = r.metadata.find("user");
    (*row)["user"] = user == r.metadata.end() ? "" : user->second;
    rows.Add(*std::move(row));
  }
  rows.Finish();
  if (!(*it)->status().ok()) return ctx.Fail((*it)->status());
  if (args.explain) {
    std::cerr << "plan: " << plan << (query->meta.empty() ? "" : ", metadata checked per event")
              << "; examined " << examined << " events, matched " << rows.rows() << "\n";
  }
  return kExitOk;
}

void AddReadCommands(CLI::App& app, Action& chosen) {
  auto [streams, streams_args] = AddCommand(
      app, chosen, "streams", "List streams with their size, last revision and time", RunStreams);
  streams->add_option("--prefix", streams_args->prefix, "Only streams whose names start with this");
  streams->add_option("--limit", streams_args->limit, "At most this many")->check(CountCheck());

  auto [read, read_args] = AddCommand(
      app, chosen, "read", "Read a stream, or the global log ($all) without STREAM", RunRead);
  read->add_option("stream", read_args->stream, "The stream, or $all (the default)");
  read->add_flag("--backward", read_args->backward, "Newest first");
  read->add_option("--from", read_args->from, "First revision (stream) or position ($all)");
  read->add_option("--limit", read_args->limit, "At most this many events")->check(CountCheck());

  auto [tail, tail_args] =
      AddCommand(app, chosen, "tail",
                 "The last events of a stream or $all; -f follows new ones live", RunTail);
  tail->add_option("stream", tail_args->stream, "The stream, or $all (the default)");
  tail->add_option("-n,--lines", tail_args->count, "How many past events to show (default 10)")
      ->check(CountCheck());
  tail->add_flag("-f,--follow", tail_args->follow, "Keep printing events as they are committed");
  tail->add_option("--for", tail_args->follow_seconds,
                   "With -f: stop after this many seconds (default: never)")
      ->check(SecondsCheck());
}

void AddAuditCommand(CLI::App& app, Action& chosen) {
  auto [audit, args] = AddCommand(
      app, chosen, "audit",
      "Who did what when: events matching every given filter, via the indexes", RunAudit);
  audit->add_option("--stream", args->stream, "Events of this stream ($all: every stream)");
  audit->add_option("--category", args->category, "Events of streams `CATEGORY-...`");
  audit->add_option("--type", args->type, "Events of this type");
  audit->add_option("--correlation", args->correlation, "Events with this correlation id");
  audit->add_option("--causation", args->causation, "Events with this causation id");
  audit->add_option("--since", args->since,
                    "Recorded at or after TIME: RFC 3339, 2026-12-01, -2h, now (docs/CLI.md)");
  audit->add_option("--until", args->until, "Recorded before TIME (forms as --since)");
  audit->add_option("--meta", args->meta, "Metadata KEY=VALUE (repeatable), e.g. user=alice");
  audit->add_option("--limit", args->limit, "At most this many events")->check(CountCheck());
  audit->add_flag("--explain", args->explain,
                  "Print on stderr which index answered and how many events it read");
}

}  // namespace

void AddInspectCommands(CLI::App& app, Action& chosen) {
  AddCommand(app, chosen, "info", "Store statistics: head, streams, disk size, format", RunInfo);
  AddReadCommands(app, chosen);
  AddAuditCommand(app, chosen);
}

}  // namespace annals::tool
