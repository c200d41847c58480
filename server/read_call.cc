// Streams.Read: reads of a stream or $all, and subscriptions, pumped with
// one write in flight per call. A worker fills a bounded queue (Fetch); the
// queue drains as the client takes messages; a caught-up subscription
// parks on the hub until the head moves. A slow client therefore holds at
// most two batches of messages and no thread.
#include <deque>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "annals/base/mutex.h"
#include "annals/subscription.h"
#include "calls.h"
#include "errors.h"
#include "google/protobuf/util/time_util.h"
#include "mapping.h"
#include "metadata.h"

namespace annals::server {
namespace {

using streams::ReadReq;
using streams::ReadResp;
using Options = ReadReq::Options;

// Events examined per Fetch of a filtered read: a filter that matches
// rarely still yields the worker now and then.
constexpr uint64_t kScanPerFetch = 4096;
// The `count` clients send for "all of them".
constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();
// A live subscription more than this many read batches behind the head
// has fallen behind (FellBehind; CaughtUp again once it has caught up).
constexpr uint64_t kFellBehindFactor = 4;

// A server-side filter on $all: stream names or event types, by prefixes
// or a regular expression (ECMAScript; KurrentDB's are .NET's).
class Filter {
 public:
  static absl::StatusOr<Filter> From(const Options& options) {
    Filter filter;
    if (!options.has_filter()) return filter;
    const Options::FilterOptions& f = options.filter();
    const Options::FilterOptions::Expression* expression = nullptr;
    if (f.has_stream_identifier()) {
      expression = &f.stream_identifier();
      filter.on_type_ = false;
    } else if (f.has_event_type()) {
      expression = &f.event_type();
      filter.on_type_ = true;
    } else {
      return absl::InvalidArgumentError("a filter names stream_identifier or event_type");
    }
    filter.active_ = true;
    filter.prefixes_.assign(expression->prefix().begin(), expression->prefix().end());
    if (!expression->regex().empty()) {
      try {
        filter.regex_.emplace(expression->regex(), std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("the filter's regex '", expression->regex(), "' is invalid: ", e.what()));
      }
    }
    const uint64_t window = f.has_max() && f.max() > 0 ? f.max() : 32;
    const uint64_t multiplier =
        f.checkpointintervalmultiplier() > 0 ? f.checkpointintervalmultiplier() : 1;
    filter.checkpoint_every_ = window * multiplier;
    return filter;
  }

  bool active() const { return active_; }
  uint64_t checkpoint_every() const { return checkpoint_every_; }

  bool Matches(const EventRecord& record) const {
    if (!active_) return true;
    const std::string& subject = on_type_ ? record.type : record.stream;
    for (const std::string& prefix : prefixes_) {
      if (absl::StartsWith(subject, prefix)) return true;
    }
    return regex_ && std::regex_search(subject, *regex_);
  }

 private:
  bool active_ = false;
  bool on_type_ = false;
  std::vector<std::string> prefixes_;
  std::optional<std::regex> regex_;
  uint64_t checkpoint_every_ = 0;
};

// What one Fetch produced besides its messages.
enum class Produced {
  kMore,  // call Fetch again when the queue runs low
  kWait,  // a subscription with nothing new: park until the head passes reached
  kEnd,   // the read is complete: finish with OK once the queue drains
  kFail,  // finish with the error now (the queue is dropped)
};

class ReadCall final : public grpc::ServerWriteReactor<ReadResp>, public HubMember {
 public:
  ReadCall(ServerState& state, grpc::CallbackServerContext* context, const ReadReq* request)
      : state_(state), context_(context), request_(*request) {
    state_.hub.Join(this);
    Action action;
    {
      internal::MutexLock lock(&mu_);
      if (std::optional<CallError> error = Prepare(); error) abort_ = *error;
      state_.metrics.ReadStarted(subscription_);
      Schedule();
      action = NextAction();
    }
    Perform(action);
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      internal::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !abort_)
        abort_ = CallError{grpc::StatusCode::CANCELLED, "the client went away", {}};
      Schedule();
      action = NextAction();
    }
    Perform(action);
  }

  void OnCancel() override {
    Action action;
    {
      internal::MutexLock lock(&mu_);
      if (!abort_) abort_ = CallError{grpc::StatusCode::CANCELLED, "cancelled by the client", {}};
      action = NextAction();
    }
    Perform(action);
  }

  void OnDone() override {
    state_.hub.Leave(this);  // after this the hub never calls us again
    state_.metrics.ReadEnded(subscription_);
    bool last = false;
    {
      internal::MutexLock lock(&mu_);
      done_ = true;
      last = pending_ == 0;
    }
    if (last) delete this;
  }

  // Under the hub's lock: only schedules work (gRPC operations may run
  // reactions inline, and those call the hub).
  void OnHeadMoved() override {
    internal::MutexLock lock(&mu_);
    parked_ = false;
    Schedule();
  }

  void OnServerClosing() override {
    internal::MutexLock lock(&mu_);
    if (!abort_)
      abort_ = CallError{grpc::StatusCode::UNAVAILABLE, "the server is shutting down", {}};
    parked_ = false;
    ++pending_;
    state_.pool.Run([this] {
      Action action;
      {
        internal::MutexLock lock(&mu_);
        action = NextAction();
      }
      Perform(action);
      Release();
    });
  }

 private:
  // Checks the request and sets up the read. An error ends the call.
  std::optional<CallError> Prepare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!request_.has_options()) return InvalidArgument("a read needs its options");
    const Options& options = request_.options();
    if (!options.has_uuid_option()) return InvalidArgument("a read needs its uuid_option");
    structured_ids_ = options.uuid_option().has_structured();
    resolve_links_ = options.resolve_links();
    backward_ = options.read_direction() == Options::Backwards;
    subscription_ = options.has_subscription();
    count_ = options.has_count() ? options.count() : kNoLimit;
    if (!subscription_ && !options.has_count()) {
      return InvalidArgument("a read needs a count or the subscription option");
    }
    if (options.has_stream()) {
      const Options::StreamOptions& s = options.stream();
      stream_ = StreamName(s.stream_identifier());
      if (stream_.empty()) return InvalidArgument("the stream name is empty");
      if (s.has_revision()) {
        from_ = s.revision();
      } else if (s.has_end()) {
        at_end_ = true;
      } else if (!subscription_) {
        from_ = 0;  // backwards from the start: the first event only
      }
      if (options.has_filter()) return InvalidArgument("filters apply to $all reads only");
    } else if (options.has_all()) {
      all_ = true;
      const Options::AllOptions& a = options.all();
      if (a.has_position()) {
        from_ = a.position().commit_position();
      } else if (a.has_end()) {
        at_end_ = true;
      } else if (!subscription_) {
        from_ = 0;  // backwards from the start: nothing
      }
      absl::StatusOr<Filter> filter = Filter::From(options);
      if (!filter.ok()) return InvalidArgument(std::string(filter.status().message()));
      filter_ = *std::move(filter);
    } else {
      return InvalidArgument("a read names a stream or $all");
    }
    return std::nullopt;
  }

  // Starts a Fetch on a worker unless one runs, the call is ending, or
  // enough is queued.
  void Schedule() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (fetching_ || parked_ || done_ || finished_ || abort_ || end_) return;
    if (queue_.size() >= state_.options.read_batch / 2 + 1) return;
    fetching_ = true;
    ++pending_;
    state_.pool.Run([this] { RunFetch(); });
  }

  void RunFetch() ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<ReadResp> out;
    Position reached;
    std::optional<CallError> error;
    const Produced produced = Fetch(&out, &reached, &error);
    bool park = false;
    Action action;
    {
      internal::MutexLock lock(&mu_);
      fetching_ = false;
      for (ReadResp& message : out) queue_.push_back(std::move(message));
      if (produced == Produced::kEnd) end_ = true;
      if (produced == Produced::kFail && !abort_) abort_ = *std::move(error);
      if (produced == Produced::kWait && !done_ && !abort_) park = parked_ = true;
      Schedule();
      action = NextAction();
    }
    Perform(action);
    if (park && !state_.hub.Park(this, reached)) {
      internal::MutexLock lock(&mu_);
      parked_ = false;  // the head moved meanwhile: go on now
      Schedule();
    }
    Release();
  }

  // Drops a reference taken for work off gRPC's threads; the last one, once
  // gRPC is done with the call, deletes it.
  void Release() ABSL_LOCKS_EXCLUDED(mu_) {
    bool last = false;
    {
      internal::MutexLock lock(&mu_);
      last = --pending_ == 0 && done_;
    }
    if (last) delete this;
  }

  // What to do next on the stream, decided under the lock and performed
  // after it (gRPC may run the next reaction inline).
  struct Action {
    enum Kind { kNone, kWrite, kFinish } kind = kNone;
    grpc::Status status;
  };

  Action NextAction() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return {};
    if (abort_) {
      finished_ = true;
      return {Action::kFinish, abort_->Finish(context_)};
    }
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      Schedule();
      return {Action::kWrite, {}};
    }
    if (end_) {
      finished_ = true;
      return {Action::kFinish, grpc::Status::OK};
    }
    return {};
  }

  // Called last, or while holding a reference (pending_): once finished,
  // the call may be deleted as soon as this returns.
  void Perform(const Action& action) ABSL_LOCKS_EXCLUDED(mu_) {
    if (action.kind == Action::kWrite) StartWrite(&current_);
    if (action.kind == Action::kFinish) Finish(action.status);
  }

  // On a worker, without the lock: the next messages of the call.
  Produced Fetch(std::vector<ReadResp>* out, Position* reached, std::optional<CallError>* error) {
    if (subscription_) return FetchSubscription(out, reached, error);
    if (all_) return FetchAll(out, error);
    return FetchStream(out, error);
  }

  // With resolve_links, a `$>` link becomes its target in `event` and the
  // link in `link`; a link whose target is gone comes alone, in `link`.
  // A `$metadata` event of a metastream shows as KurrentDB's JSON wherever it
  // is read ($all, subscriptions), as in the metastream itself.
  void AddEvent(const EventRecord& record, std::vector<ReadResp>* out) const {
    if (record.type == kMetadataType && record.stream.starts_with(kMetastreamPrefix)) {
      AddRecorded(AsKurrentMetadata(record), out);
    } else {
      AddRecorded(record, out);
    }
  }

  void AddRecorded(const EventRecord& record, std::vector<ReadResp>* out) const {
    ReadResp& message = out->emplace_back();
    ReadResp::ReadEvent* event = message.mutable_event();
    event->set_commit_position(record.position.value());
    if (resolve_links_ && record.type == kLinkType) {
      ToRecorded(record, structured_ids_, event->mutable_link());
      if (std::optional<EventRecord> target = ResolveLink(state_.store, record); target) {
        ToRecorded(*target, structured_ids_, event->mutable_event());
      }
      return;
    }
    ToRecorded(record, structured_ids_, event->mutable_event());
  }

  // The store's error for `stream`, as the protocol spells it.
  CallError StreamError(const absl::Status& status) {
    if (absl::IsFailedPrecondition(status)) {
      absl::StatusOr<StreamInfo> info = state_.store.GetStreamInfo(Target());
      if (info.ok() && info->state == StreamState::kTombstoned) return StreamDeleted(Target());
    }
    return FromStatus(status);
  }

  // The stream whose lifecycle decides: for `$$x`, x.
  std::string Target() const {
    return stream_.starts_with(kMetastreamPrefix) ? stream_.substr(kMetastreamPrefix.size())
                                                  : stream_;
  }

  Produced FetchStream(std::vector<ReadResp>* out, std::optional<CallError>* error) {
    if (count_ == 0 || (at_end_ && !backward_)) return Produced::kEnd;
    ReadStreamOptions options;
    options.direction = backward_ ? Direction::kBackward : Direction::kForward;
    if (from_) options.from = Revision(*from_);
    options.max_count = std::min<uint64_t>(count_, state_.options.read_batch);
    absl::StatusOr<std::unique_ptr<EventIterator>> it = state_.store.ReadStream(stream_, options);
    if (absl::IsNotFound(it.status())) return NotFound(out);
    if (!it.ok()) {
      *error = StreamError(it.status());
      return Produced::kFail;
    }
    uint64_t read = 0;
    std::optional<uint64_t> last;
    for (; (*it)->Valid(); (*it)->Next()) {
      const EventRecord& record = (*it)->record();
      ++read;
      last = record.revision.value();
      if (stream_.starts_with(kMetastreamPrefix)) {
        if (!AddMetadataEvent(record, out)) continue;
      } else {
        AddEvent(record, out);
      }
      --count_;
    }
    if (!(*it)->status().ok()) {
      *error = FromStatus((*it)->status());
      return Produced::kFail;
    }
    // A metastream whose records are all deletes holds no metadata.
    if (out->empty() && !sent_any_ && stream_.starts_with(kMetastreamPrefix) &&
        read < options.max_count) {
      return NotFound(out);
    }
    sent_any_ = sent_any_ || !out->empty();
    if (read < options.max_count || count_ == 0 || !last) return Produced::kEnd;
    if (backward_) {
      if (*last == 0) return Produced::kEnd;
      from_ = *last - 1;
    } else {
      from_ = *last + 1;
    }
    return Produced::kMore;
  }

  // A metastream event as KurrentDB shows it: each `$metadata` event with
  // the metadata it set, as KurrentDB's JSON; the store's other lifecycle
  // records of `$$x` (deletes, tombstones) are not KurrentDB metadata and
  // are skipped.
  bool AddMetadataEvent(const EventRecord& record, std::vector<ReadResp>* out) const {
    if (record.type != kMetadataType) return false;
    AddRecorded(AsKurrentMetadata(record), out);
    return true;
  }

  static EventRecord AsKurrentMetadata(const EventRecord& record) {
    absl::StatusOr<StreamMetadata> metadata = MetadataFromAuditEvent(record.data);
    EventRecord shown = record;
    shown.data = MetadataToJson(metadata.ok() ? *metadata : StreamMetadata{});
    shown.content_type = "application/json";
    shown.metadata.clear();
    shown.correlation_id.clear();
    shown.causation_id.clear();
    return shown;
  }

  Produced NotFound(std::vector<ReadResp>* out) {
    out->emplace_back().mutable_stream_not_found()->mutable_stream_identifier()->set_stream_name(
        stream_);
    return Produced::kEnd;
  }

  Produced FetchAll(std::vector<ReadResp>* out, std::optional<CallError>* error) {
    if (count_ == 0 || (at_end_ && !backward_)) return Produced::kEnd;
    ReadAllOptions options;
    options.direction = backward_ ? Direction::kBackward : Direction::kForward;
    if (from_) {
      if (*from_ == 0 && backward_) return Produced::kEnd;
      options.from = Position(*from_);
    }
    options.max_count =
        filter_.active() ? kScanPerFetch : std::min<uint64_t>(count_, state_.options.read_batch);
    absl::StatusOr<std::unique_ptr<EventIterator>> it = state_.store.ReadAll(options);
    if (!it.ok()) {
      *error = FromStatus(it.status());
      return Produced::kFail;
    }
    uint64_t scanned = 0;
    std::optional<uint64_t> last;
    for (; (*it)->Valid() && count_ > 0 && out->size() < state_.options.read_batch; (*it)->Next()) {
      const EventRecord& record = (*it)->record();
      ++scanned;
      last = record.position.value();
      if (!filter_.Matches(record)) continue;
      AddEvent(record, out);
      --count_;
    }
    if (!(*it)->status().ok()) {
      *error = FromStatus((*it)->status());
      return Produced::kFail;
    }
    if (!last || count_ == 0) return Produced::kEnd;
    const bool exhausted = !(*it)->Valid() && scanned < options.max_count;
    if (exhausted) return Produced::kEnd;
    if (backward_) {
      if (*last <= 1) return Produced::kEnd;
      from_ = *last - 1;
    } else {
      from_ = *last + 1;
    }
    return Produced::kMore;
  }

  Produced FetchSubscription(std::vector<ReadResp>* out, Position* reached,
                             std::optional<CallError>* error) {
    if (!subscription_handle_) {
      SubscribeOptions options;
      options.stream = all_ ? "" : stream_;
      if (from_) {
        options.start = all_ ? StartFrom::AfterPosition(Position(*from_))
                             : StartFrom::AfterRevision(Revision(*from_));
      } else if (at_end_) {
        options.start = StartFrom::End();
      }
      options.batch_size = state_.options.read_batch;
      absl::StatusOr<std::unique_ptr<Subscription>> subscription = state_.store.Subscribe(options);
      if (!subscription.ok()) {
        *error = StreamError(subscription.status());
        return Produced::kFail;
      }
      subscription_handle_ = *std::move(subscription);
      out->emplace_back().mutable_confirmation()->set_subscription_id(
          EventId::Generate().ToString());
    }
    while (out->size() < state_.options.read_batch) {
      absl::StatusOr<EventRecord> record = subscription_handle_->Next(absl::ZeroDuration());
      if (absl::IsDeadlineExceeded(record.status())) {
        *reached = subscription_handle_->reached();
        if (!live_) {
          live_ = true;
          AddCaughtUp(out);
        }
        if (filter_.active() && examined_since_checkpoint_ > 0) AddCheckpoint(*reached, out);
        return Produced::kWait;
      }
      if (absl::IsCancelled(record.status())) {
        *error = CallError{grpc::StatusCode::UNAVAILABLE, "the store is closing", {}};
        return Produced::kFail;
      }
      if (!record.ok()) {
        *error = StreamError(record.status());
        return Produced::kFail;
      }
      // A live subscription that the head has left far behind (the
      // client reads slower than the store appends) is catching up again.
      if (live_ && state_.store.head().value() >
                       record->position.value() + kFellBehindFactor * state_.options.read_batch) {
        live_ = false;
        AddCaughtUpOrFellBehind(out->emplace_back().mutable_fell_behind());
      }
      last_sent_revision_ = record->revision.value();
      last_sent_position_ = record->position.value();
      if (filter_.active()) {
        ++examined_since_checkpoint_;
        if (filter_.Matches(*record)) AddEvent(*record, out);
        if (examined_since_checkpoint_ >= filter_.checkpoint_every()) {
          AddCheckpoint(record->position, out);
        }
      } else {
        AddEvent(*record, out);
      }
    }
    return Produced::kMore;
  }

  void AddCaughtUp(std::vector<ReadResp>* out) {
    AddCaughtUpOrFellBehind(out->emplace_back().mutable_caught_up());
  }

  // CaughtUp and FellBehind carry the same fields: the time and where the
  // subscription stands (the last event sent).
  template <typename Message>
  void AddCaughtUpOrFellBehind(Message* message) const {
    *message->mutable_timestamp() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
    if (all_ && last_sent_position_) {
      message->mutable_position()->set_commit_position(*last_sent_position_);
      message->mutable_position()->set_prepare_position(*last_sent_position_);
    } else if (!all_ && last_sent_revision_) {
      message->set_stream_revision(static_cast<int64_t>(*last_sent_revision_));
    }
  }

  void AddCheckpoint(Position position, std::vector<ReadResp>* out) {
    examined_since_checkpoint_ = 0;
    if (position.value() == 0) return;
    ReadResp::Checkpoint* checkpoint = out->emplace_back().mutable_checkpoint();
    checkpoint->set_commit_position(position.value());
    checkpoint->set_prepare_position(position.value());
    *checkpoint->mutable_timestamp() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  }

  ServerState& state_;
  grpc::CallbackServerContext* const context_;
  const ReadReq request_;

  // The read, fixed by Prepare (before any Fetch) and then used by one
  // Fetch at a time.
  bool all_ = false;
  std::string stream_;
  bool backward_ = false;
  bool subscription_ = false;
  bool at_end_ = false;
  bool structured_ids_ = false;
  bool resolve_links_ = false;
  Filter filter_;
  // The read's cursor: the next revision or position to read (inclusive),
  // or for a subscription the one it starts after.
  std::optional<uint64_t> from_;
  uint64_t count_ = kNoLimit;
  bool sent_any_ = false;
  std::unique_ptr<Subscription> subscription_handle_;
  // Caught up (CaughtUp sent) and not fallen behind since (FellBehind).
  bool live_ = false;
  uint64_t examined_since_checkpoint_ = 0;
  std::optional<uint64_t> last_sent_revision_;
  std::optional<uint64_t> last_sent_position_;

  internal::Mutex mu_;
  std::deque<ReadResp> queue_ ABSL_GUARDED_BY(mu_);
  ReadResp current_;  // the message being written (one at a time)
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  bool parked_ ABSL_GUARDED_BY(mu_) = false;
  bool end_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<CallError> abort_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

grpc::ServerWriteReactor<ReadResp>* NewReadCall(ServerState& state,
                                                grpc::CallbackServerContext* context,
                                                const ReadReq* request) {
  return new ReadCall(state, context, request);
}

}  // namespace annals::server
