// Inspection: info, streams, read, tail, audit. All open the store read-only.
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/maintenance.h"
#include "annals/projection.h"
#include "annals/schemas.h"
#include "context.h"

namespace annals::tool {
namespace {

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
const std::vector<std::string> kEventColumns = {"position", "stream", "revision", "recorded_at", "type", "data"};

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
volatile std::sig_atomic_t interrupted = 0;
void OnInterrupt(int) { interrupted = 1; }

}  // namespace

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

int RunStreams(Context& ctx, const std::string& prefix, uint64_t limit) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  RowWriter rows(std::cout, ctx.format(), {"stream", "events", "last_revision", "last_position", "updated_at", "state"});
  absl::Status listed = ForEachStream(**store, prefix, limit, [&](const StreamInfo& s) {
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
  if (!args.stream.empty()) {
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

int RunTail(Context& ctx, const std::string& stream, uint64_t count, bool follow, double follow_seconds) {
  if (follow) {
    std::signal(SIGINT, OnInterrupt);
    std::signal(SIGTERM, OnInterrupt);
  }
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  // The last `count` events, oldest first.
  std::vector<EventRecord> last;
  absl::StatusOr<std::unique_ptr<EventIterator>> it =
      stream.empty() ? (*store)->ReadAll({.direction = Direction::kBackward, .max_count = count})
                     : (*store)->ReadStream(stream, {.direction = Direction::kBackward, .max_count = count});
  if (!it.ok() && !(follow && it.status().code() == absl::StatusCode::kNotFound)) return ctx.Fail(it.status());
  if (it.ok()) {
    for (; (*it)->Valid(); (*it)->Next()) last.push_back((*it)->record());
    if (!(*it)->status().ok()) return ctx.Fail((*it)->status());
  }
  // Followed output goes line by line even in table form: one JSON object
  // per event for --json too (a stream has no end to close an array with).
  const Format format = follow && ctx.format() == Format::kJson ? Format::kJsonl : ctx.format();
  RowWriter rows(std::cout, follow && format == Format::kTable ? Format::kJsonl : format, kEventColumns);
  auto print = [&](const EventRecord& e) -> absl::Status {
    if (follow && format == Format::kTable) {
      absl::StatusOr<Json> data = (*decoder)->Display(e);
      if (!data.ok()) return data.status();
      std::cout << e.position.value() << "  " << e.stream << "@" << e.revision.value() << "  "
                << Rfc3339(e.recorded_at) << "  " << e.type << "  " << Cell(*data) << std::endl;
    } else {
      absl::StatusOr<Json> row = EventToJson(e, **decoder);
      if (!row.ok()) return row.status();
      rows.Add(*std::move(row));
    }
    return absl::OkStatus();
  };
  for (auto r = last.rbegin(); r != last.rend(); ++r) {
    if (absl::Status s = print(*r); !s.ok()) {
      rows.Finish();
      return ctx.Fail(s);
    }
  }
  if (!follow) return kExitOk;
  std::cout.flush();
  // Live: a subscription on the read-only store, refreshed from the
  // writer's commits a few times a second.
  SubscribeOptions options;
  options.stream = stream;
  if (!last.empty()) {
    options.start = stream.empty() ? StartFrom::AfterPosition(last.front().position)
                                   : StartFrom::AfterRevision(last.front().revision);
  } else {
    options.start = count == 0 ? StartFrom::End() : StartFrom::Start();  // no events yet: all are new
  }
  auto subscription = (*store)->Subscribe(options);
  if (!subscription.ok()) return ctx.Fail(subscription.status());
  const absl::Time deadline =
      follow_seconds > 0 ? absl::Now() + absl::Seconds(follow_seconds) : absl::InfiniteFuture();
  while (absl::Now() < deadline && !interrupted) {
    absl::StatusOr<EventRecord> event = (*subscription)->Next(absl::Milliseconds(100));
    if (event.ok()) {
      if (absl::Status s = print(*event); !s.ok()) return ctx.Fail(s);
      continue;
    }
    if (event.status().code() != absl::StatusCode::kDeadlineExceeded) return ctx.Fail(event.status());
    // Nothing new here: catch up with what the writer committed since.
    if (absl::Status s = Refresh(**store); !s.ok()) return ctx.Fail(s);
  }
  return kExitOk;
}

// Who did what when: the events matching every given criterion, read
// through the most selective index that applies; the rest are checked on
// the events the index returns.
int RunAudit(Context& ctx, const AuditArgs& args) {
  ReadAllOptions options;
  if (!args.since.empty()) {
    std::optional<absl::Time> t = ParseRfc3339(args.since);
    if (!t) return ctx.Usage("--since needs an RFC 3339 time, e.g. 2026-11-23T10:00:00Z");
    options.since = *t;
  }
  if (!args.until.empty()) {
    std::optional<absl::Time> t = ParseRfc3339(args.until);
    if (!t) return ctx.Usage("--until needs an RFC 3339 time, e.g. 2026-11-23T10:00:00Z");
    options.until = *t;
  }
  std::vector<std::pair<std::string, std::string>> meta;
  for (const std::string& kv : args.meta) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return ctx.Usage("--meta needs KEY=VALUE, got '" + kv + "'");
    meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<const PayloadDecoder*> decoder = ctx.Decoder();
  if (!decoder.ok()) return ctx.Fail(decoder.status());
  if (!args.category.empty()) options.filter.categories = {args.category};
  if (!args.type.empty()) options.filter.event_types = {args.type};
  std::string plan;
  absl::StatusOr<std::unique_ptr<EventIterator>> it;
  if (!args.correlation.empty()) {
    plan = "by_correlation index";
    it = (*store)->ReadCorrelation(args.correlation, options);
  } else if (!args.causation.empty()) {
    plan = "by_causation index";
    it = (*store)->ReadCausation(args.causation, options);
  } else if (!args.stream.empty()) {
    plan = "stream read";
    it = (*store)->ReadStream(args.stream);
  } else {
    // ReadAll picks the category or type index, or the time index for a
    // range; with none of them it scans the log.
    plan = !args.category.empty() ? "by_category index"
           : !args.type.empty()   ? "by_type index"
           : (options.since || options.until) ? "by_time index, then the log range"
                                              : "log scan";
    it = (*store)->ReadAll(options);
  }
  if (!it.ok()) return ctx.Fail(it.status());
  RowWriter rows(std::cout, ctx.format(),
                 {"position", "recorded_at", "stream", "revision", "type", "user", "correlation_id", "causation_id"});
  uint64_t examined = 0;
  // Index reads apply the category, type and time bounds themselves; a
  // stream read does not.
  const bool stream_read = plan == "stream read";
  for (; (*it)->Valid() && rows.rows() < args.limit; (*it)->Next()) {
    ++examined;
    const EventRecord& r = (*it)->record();
    if (!args.stream.empty() && r.stream != args.stream) continue;
    if (!args.causation.empty() && r.causation_id != args.causation) continue;
    if (stream_read) {
      if (!args.category.empty() && !r.stream.starts_with(args.category + "-")) continue;
      if (!args.type.empty() && r.type != args.type) continue;
      if (options.since && r.recorded_at < *options.since) continue;
      if (options.until && r.recorded_at >= *options.until) continue;
    }
    bool match = true;
    for (const auto& [key, value] : meta) {
      auto m = r.metadata.find(key);
      match &= m != r.metadata.end() && m->second == value;
    }
    if (!match) continue;
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
    std::cerr << "plan: " << plan << (meta.empty() ? "" : ", metadata checked per event") << "; examined "
              << examined << " events, matched " << rows.rows() << "\n";
  }
  return kExitOk;
}

}  // namespace annals::tool
