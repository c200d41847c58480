// The PersistentSubscriptions service: KurrentDB's persistent subscriptions
// on the store's consumer groups (annals/consumer_group.h), one group per
// (stream or $all, group name), named "<stream>::<group>" as KurrentDB names
// its subscription ids. Create, Update, Delete, GetInfo, List and
// ReplayParked are unary calls on the worker pool. Read is a bidirectional
// reactor: its first message joins the group, later ones ack and nack by
// event id; events go out with one write in flight. What asks the group for
// a call's next event (Consumer::Next without waiting): the call itself
// after each write and each ack, and the pump, one thread for every open
// Read, when the head moves and every 20 ms (message timeouts, other
// consumers' acks), so no call holds a thread.
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "annals/base/mutex.h"
#include "annals/consumer_group.h"
#include "annals/subscription.h"
#include "errors.h"
#include "kurrent/persistent.grpc.pb.h"
#include "mapping.h"
#include "services.h"

namespace annals::server {
namespace {

namespace ps = ::event_store::client::persistent_subscriptions;

constexpr absl::Duration kPumpTick = absl::Milliseconds(20);
constexpr char kAll[] = "$all";

std::string GroupId(const std::string& source, const std::string& group) {
  return absl::StrCat(source, "::", group);
}

// A consumer group's refusal as the clients' typed errors know it.
CallError GroupError(const absl::Status& status, const std::string& source,
                     const std::string& group) {
  auto typed = [&](grpc::StatusCode code, const char* exception) {
    return CallError{code,
                     std::string(status.message()),
                     {{"exception", exception}, {"stream-name", source}, {"group-name", group}}};
  };
  if (absl::IsAlreadyExists(status)) {
    return typed(grpc::StatusCode::ALREADY_EXISTS, "persistent-subscription-exists");
  }
  if (absl::IsNotFound(status)) {
    return typed(grpc::StatusCode::NOT_FOUND, "persistent-subscription-does-not-exist");
  }
  if (absl::IsResourceExhausted(status)) {
    return typed(grpc::StatusCode::FAILED_PRECONDITION, "maximum-subscribers-reached");
  }
  if (absl::IsCancelled(status)) {
    return typed(grpc::StatusCode::CANCELLED, "persistent-subscription-dropped");
  }
  return FromStatus(status);
}

// KurrentDB starts at a revision or position (inclusive); a group starts
// after one.
StartFrom AtRevision(uint64_t revision) {
  return revision == 0 ? StartFrom::Start() : StartFrom::AfterRevision(Revision(revision - 1));
}
StartFrom AtPosition(uint64_t commit) {
  return commit == 0 ? StartFrom::Start() : StartFrom::AfterPosition(Position(commit - 1));
}

// The tunables of Create's and Update's settings (the same fields).
template <typename Settings>
absl::Status TunablesFromWire(const Settings& s, ConsumerGroupSettings& out) {
  if (s.max_retry_count() < 0) return absl::InvalidArgumentError("max_retry_count must be >= 0");
  if (s.max_subscriber_count() < 0) {
    return absl::InvalidArgumentError("max_subscriber_count must be >= 0");
  }
  out.max_retries = s.max_retry_count();
  out.max_consumers = s.max_subscriber_count();
  switch (s.message_timeout_case()) {
    case Settings::kMessageTimeoutMs:
      if (s.message_timeout_ms() > 0)
        out.message_timeout = absl::Milliseconds(s.message_timeout_ms());
      break;
    case Settings::kMessageTimeoutTicks:  // 100 ns each
      if (s.message_timeout_ticks() > 0) {
        out.message_timeout = absl::Microseconds(s.message_timeout_ticks() / 10);
      }
      break;
    default:
      break;
  }
  if (s.min_checkpoint_count() > 0) out.checkpoint_after = s.min_checkpoint_count();
  std::string name;
  if constexpr (requires { s.consumer_strategy(); }) name = s.consumer_strategy();
  if (name.empty()) {
    switch (static_cast<int>(s.named_consumer_strategy())) {
      case 0:
        name = "DispatchToSingle";
        break;
      case 1:
        name = "RoundRobin";
        break;
      default:
        name = "Pinned";
        break;
    }
  }
  if (name == "RoundRobin") {
    out.strategy = ConsumerStrategy::kRoundRobin;
  } else if (name == "Pinned") {
    out.strategy = ConsumerStrategy::kPinned;
  } else if (name == "DispatchToSingle") {
    out.strategy = ConsumerStrategy::kDispatchToSingle;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "consumer strategy '", name, "' is not supported (RoundRobin, Pinned, DispatchToSingle)"));
  }
  return absl::OkStatus();
}

bool ExcludesSystem(const std::string& regex) {
  return regex == "^[^$]" || regex == "^[^\\$]" || regex == "^[^$].*" || regex == "^[^\\$].*";
}

// What a group on $all can filter: stream name prefixes, and leaving out
// system events (the regex the clients' excludeSystemEvents sends).
absl::Status FilterFromWire(const ps::CreateReq::AllOptions::FilterOptions& f, EventFilter& out) {
  using Filter = ps::CreateReq::AllOptions::FilterOptions;
  const bool by_stream = f.filter_case() == Filter::kStreamIdentifier;
  const auto& expression = by_stream ? f.stream_identifier() : f.event_type();
  if (!expression.regex().empty()) {
    if (!ExcludesSystem(expression.regex())) {
      return absl::InvalidArgumentError(
          absl::StrCat("a persistent subscription to $all filters by stream name prefixes or "
                       "leaves out system events; regex '",
                       expression.regex(), "' is not supported"));
    }
    out.exclude_system_events = true;
  }
  if (!expression.prefix().empty() && !by_stream) {
    return absl::InvalidArgumentError(
        "a persistent subscription to $all filters by stream name prefixes, not event types");
  }
  for (const std::string& prefix : expression.prefix()) out.stream_prefixes.push_back(prefix);
  return absl::OkStatus();
}

const char* StrategyName(ConsumerStrategy strategy) {
  switch (strategy) {
    case ConsumerStrategy::kRoundRobin:
      return "RoundRobin";
    case ConsumerStrategy::kPinned:
      return "Pinned";
    case ConsumerStrategy::kDispatchToSingle:
      return "DispatchToSingle";
  }
  return "";
}

// KurrentDB's text of a revision ("7") or position ("C:7/P:7").
std::string PointText(bool all, uint64_t value) {
  return all ? absl::StrCat("C:", value, "/P:", value) : absl::StrCat(value);
}

// The source and the group name back from a group's name.
std::pair<std::string, std::string> NamesOf(const ConsumerGroupInfo& group) {
  const std::string source = group.settings.stream.empty() ? kAll : group.settings.stream;
  const std::string prefix = absl::StrCat(source, "::");
  if (group.name.starts_with(prefix)) return {source, group.name.substr(prefix.size())};
  return {source, group.name};
}

void InfoToWire(const ConsumerGroupInfo& group, ps::SubscriptionInfo* out) {
  const auto [source, name] = NamesOf(group);
  const bool all = group.settings.stream.empty();
  const ConsumerGroupSettings& s = group.settings;
  out->set_event_source(source);
  out->set_group_name(name);
  out->set_status("Live");
  for (const ConsumerInfo& consumer : group.consumers) {
    ps::SubscriptionInfo::ConnectionInfo* connection = out->add_connections();
    connection->set_connection_name(consumer.name);
    connection->set_from(consumer.name);
    connection->set_in_flight_messages(consumer.in_flight);
    connection->set_total_items(static_cast<int64_t>(consumer.acknowledged));
  }
  if (group.checkpoint) {
    // Its checkpoint is the last done; KurrentDB's, the last checkpointed.
    out->set_last_checkpointed_event_position(PointText(all, *group.checkpoint));
  }
  switch (s.start.kind()) {
    case StartFrom::Kind::kStart:
      out->set_start_from(all ? "C:0/P:0" : "0");
      break;
    case StartFrom::Kind::kEnd:
      out->set_start_from(all ? "C:-1/P:-1" : "-1");
      break;
    case StartFrom::Kind::kAfter:
      out->set_start_from(PointText(all, s.start.after() + 1));
      break;
  }
  out->set_message_timeout_milliseconds(
      static_cast<int32_t>(absl::ToInt64Milliseconds(s.message_timeout)));
  out->set_max_retry_count(s.max_retries);
  out->set_min_check_point_count(s.checkpoint_after);
  out->set_max_check_point_count(s.checkpoint_after);
  out->set_named_consumer_strategy(StrategyName(s.strategy));
  out->set_max_subscriber_count(s.max_consumers);
  out->set_parked_message_count(static_cast<int64_t>(group.parked));
  out->set_total_in_flight_messages(static_cast<int32_t>(group.in_flight));
  out->set_outstanding_messages_count(static_cast<int32_t>(group.in_flight + group.waiting));
}

// A call the pump asks for its next event. Ref is called under the pump's
// lock (the call is still open then), Poke and Release after it.
class PumpMember {
 public:
  virtual void Ref() = 0;
  virtual void Poke() = 0;
  virtual void Release() = 0;

 protected:
  ~PumpMember() = default;
};

class Pump {
 public:
  explicit Pump(EventStore& store) : store_(store), thread_([this] { Loop(); }) {}
  ~Pump() {
    {
      internal::MutexLock lock(&mu_);
      stopping_ = true;
      mu_.SignalAll();
    }
    thread_.join();
  }
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  void Add(PumpMember* member) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    members_.insert(member);
  }
  // Once it returns, the pump never calls `member` again.
  void Remove(PumpMember* member) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    members_.erase(member);
  }

 private:
  void Loop() {
    Position seen = store_.head();
    for (;;) {
      absl::StatusOr<Position> head = WaitForHead(store_, seen, kPumpTick);
      std::vector<PumpMember*> members;
      {
        internal::MutexLock lock(&mu_);
        if (absl::IsCancelled(head.status())) {  // the store closed: only the tick is left
          mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; },
                               kPumpTick);
        }
        if (stopping_) return;
        if (head.ok()) seen = *head;
        for (PumpMember* member : members_) {
          member->Ref();
          members.push_back(member);
        }
      }
      for (PumpMember* member : members) {
        member->Poke();
        member->Release();
      }
    }
  }

  EventStore& store_;
  internal::Mutex mu_;
  absl::flat_hash_set<PumpMember*> members_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The store's consumer groups, opened on first use (a read-only server
// never opens them).
class Groups {
 public:
  explicit Groups(EventStore& store) : store_(store) {}
  ~Groups() { Close(); }

  absl::StatusOr<ConsumerGroups*> Get() ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    if (groups_ == nullptr) {
      absl::StatusOr<std::unique_ptr<ConsumerGroups>> opened = ConsumerGroups::Open(store_);
      if (!opened.ok()) return opened.status();
      groups_ = *std::move(opened);
    }
    return groups_.get();
  }

  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    if (groups_ != nullptr) groups_->Close();
  }

 private:
  EventStore& store_;
  internal::Mutex mu_;
  std::unique_ptr<ConsumerGroups> groups_ ABSL_GUARDED_BY(mu_);
};

class ReadCall final : public grpc::ServerBidiReactor<ps::ReadReq, ps::ReadResp>,
                       public HubMember,
                       public PumpMember {
 public:
  ReadCall(ServerState& state, Groups& groups, Pump& pump, grpc::CallbackServerContext* context)
      : state_(state), groups_(groups), pump_(pump), context_(context) {
    state_.hub.Join(this);
    if (state_.options.read_only) {
      {
        internal::MutexLock lock(&mu_);
        finished_ = true;
      }
      Finish(NotLeader(state_.options.bind, state_.port).Finish(context_));
      return;
    }
    StartRead(&request_);
  }

  // One at a time, each after the previous one.
  void OnReadDone(bool ok) override {
    std::optional<CallError> error;
    if (!ok) {
      error = CallError{};  // the client closed its side: the call ends
    } else if (consumer_ == nullptr) {
      error = JoinGroup();
    } else if (request_.has_ack()) {
      for (const wire::UUID& id : request_.ack().ids()) Settle(id, std::nullopt, "");
    } else if (request_.has_nack()) {
      const ps::ReadReq::Nack::Action wire_action = request_.nack().action();
      const NackAction action = wire_action == ps::ReadReq::Nack::Park   ? NackAction::kPark
                                : wire_action == ps::ReadReq::Nack::Skip ? NackAction::kSkip
                                                                         : NackAction::kRetry;
      for (const wire::UUID& id : request_.nack().ids()) {
        Settle(id, action, request_.nack().reason());
      }
      if (wire_action == ps::ReadReq::Nack::Stop) {
        error = CallError{grpc::StatusCode::CANCELLED, "stopped by the client's nack", {}};
      }
    } else {
      error = InvalidArgument("a persistent subscription's options come once, first");
    }
    Action action;
    bool read_on = false;
    {
      internal::MutexLock lock(&mu_);
      if (error && !abort_) abort_ = *std::move(error);
      read_on = !finished_ && !abort_;
      action = NextAction();
    }
    if (read_on) {
      request_.Clear();
      StartRead(&request_);
    }
    Perform(action);
    Poke();
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      internal::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !abort_)
        abort_ = CallError{grpc::StatusCode::CANCELLED, "the client went away", {}};
      action = NextAction();
    }
    Perform(action);
    Poke();
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
    state_.hub.Leave(this);
    pump_.Remove(this);  // after these two nothing calls us again
    bool last = false;
    {
      internal::MutexLock lock(&mu_);
      done_ = true;
      last = refs_ == 0;
    }
    if (last) delete this;
  }

  void OnHeadMoved() override {}

  // Under the hub's lock: only schedules work.
  void OnServerClosing() override {
    internal::MutexLock lock(&mu_);
    if (!abort_)
      abort_ = CallError{grpc::StatusCode::UNAVAILABLE, "the server is shutting down", {}};
    ++refs_;
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

  void Ref() override {
    internal::MutexLock lock(&mu_);
    ++refs_;
  }

  // Asks the group for the next event when nothing is being written.
  void Poke() override {
    {
      internal::MutexLock lock(&mu_);
      if (consumer_ == nullptr || finished_ || abort_ || asking_ || writing_ || !queue_.empty()) {
        return;
      }
      asking_ = true;
    }
    absl::StatusOr<Delivery> delivery = consumer_->Next(absl::ZeroDuration());
    Action action;
    {
      internal::MutexLock lock(&mu_);
      asking_ = false;
      if (delivery.ok()) {
        held_[std::string(delivery->event.event_id.AsBytes())].push_back(delivery->event.position);
        queue_.push_back(EventMessage(*delivery));
      } else if (!absl::IsDeadlineExceeded(delivery.status()) && !abort_) {
        abort_ = GroupError(delivery.status(), source_, group_);
      }
      action = NextAction();
    }
    Perform(action);
  }

  // Drops a reference taken for work off gRPC's threads; the last one, once
  // gRPC is done with the call, deletes it.
  void Release() override {
    bool last = false;
    {
      internal::MutexLock lock(&mu_);
      last = --refs_ == 0 && done_;
    }
    if (last) delete this;
  }

 private:
  // The first message: the group joined, its confirmation queued.
  std::optional<CallError> JoinGroup() {
    if (!request_.has_options()) {
      return InvalidArgument("a persistent subscription's first message carries its options");
    }
    const ps::ReadReq::Options& options = request_.options();
    source_ = options.has_all() ? kAll : StreamName(options.stream_identifier());
    group_ = options.group_name();
    if (source_.empty() || group_.empty()) {
      return InvalidArgument("a persistent subscription needs a stream (or $all) and a group");
    }
    absl::StatusOr<ConsumerGroups*> groups = groups_.Get();
    if (!groups.ok()) return FromStatus(groups.status());
    ConsumerOptions consumer;
    consumer.buffer_size = options.buffer_size() > 0 ? options.buffer_size() : 10;
    consumer.name = context_->peer();
    absl::StatusOr<std::unique_ptr<Consumer>> joined =
        (*groups)->Join(GroupId(source_, group_), consumer);
    if (!joined.ok()) return GroupError(joined.status(), source_, group_);
    structured_ = options.uuid_option().has_structured();
    ps::ReadResp confirmation;
    confirmation.mutable_subscription_confirmation()->set_subscription_id(GroupId(source_, group_));
    {
      internal::MutexLock lock(&mu_);
      consumer_ = *std::move(joined);
      queue_.push_back(std::move(confirmation));
    }
    pump_.Add(this);
    return std::nullopt;
  }

  // An ack (no action) or a nack of the event delivered with `id`. One no
  // longer held (its timeout passed) is ignored, as KurrentDB does.
  void Settle(const wire::UUID& id, std::optional<NackAction> action, const std::string& reason) {
    std::optional<EventId> event_id = IdFromWire(id);
    if (!event_id) return;
    std::optional<Position> position;
    {
      internal::MutexLock lock(&mu_);
      auto it = held_.find(std::string(event_id->AsBytes()));
      if (it == held_.end()) return;
      position = it->second.front();
      it->second.pop_front();
      if (it->second.empty()) held_.erase(it);
    }
    if (action) {
      consumer_->Nack(*position, *action, reason).IgnoreError();
    } else {
      consumer_->Ack(*position).IgnoreError();
    }
  }

  ps::ReadResp EventMessage(const Delivery& delivery) const {
    ps::ReadResp message;
    ps::ReadResp::ReadEvent* event = message.mutable_event();
    // The same fields as the Streams service's RecordedEvent.
    streams::ReadResp::ReadEvent::RecordedEvent recorded;
    ToRecorded(delivery.event, structured_, &recorded);
    event->mutable_event()->ParseFromString(recorded.SerializeAsString());
    event->set_commit_position(delivery.event.position.value());
    event->set_retry_count(delivery.retry_count);
    return message;
  }

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
      return {Action::kWrite, {}};
    }
    return {};
  }

  void Perform(const Action& action) ABSL_LOCKS_EXCLUDED(mu_) {
    if (action.kind == Action::kWrite) StartWrite(&current_);
    if (action.kind == Action::kFinish) Finish(action.status);
  }

  ServerState& state_;
  Groups& groups_;
  Pump& pump_;
  grpc::CallbackServerContext* const context_;
  ps::ReadReq request_;  // the read in flight (one at a time)
  // Set by the first OnReadDone (under mu_, read after it without), then
  // fixed; destroyed with the call, which leaves the group.
  std::unique_ptr<Consumer> consumer_;
  std::string source_, group_;
  bool structured_ = false;

  internal::Mutex mu_;
  std::deque<ps::ReadResp> queue_ ABSL_GUARDED_BY(mu_);
  ps::ReadResp current_ ABSL_GUARDED_BY(mu_);  // the write in flight
  // Delivered, not yet acked or nacked: event id bytes -> positions.
  absl::flat_hash_map<std::string, std::deque<Position>> held_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool asking_ ABSL_GUARDED_BY(mu_) = false;  // a Poke is in Consumer::Next
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<CallError> abort_ ABSL_GUARDED_BY(mu_);
  int refs_ ABSL_GUARDED_BY(mu_) = 0;
};

class PersistentService final : public ps::PersistentSubscriptions::CallbackService {
 public:
  explicit PersistentService(ServerState& state)
      : state_(state), groups_(state.store), pump_(state.store) {}
  // Members go in reverse: the pump stops, then the groups close.

  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* context,
                                   const ps::CreateReq* request, ps::CreateResp*) override {
    return Unary(context, [this, request] { return DoCreate(*request); });
  }

  grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* context,
                                   const ps::UpdateReq* request, ps::UpdateResp*) override {
    return Unary(context, [this, request] { return DoUpdate(*request); });
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const ps::DeleteReq* request, ps::DeleteResp*) override {
    return Unary(context, [this, request]() -> CallError {
      const auto& options = request->options();
      const std::string source = options.has_all() ? kAll : StreamName(options.stream_identifier());
      return WithGroups(source, options.group_name(), [&](ConsumerGroups& groups) {
        return groups.Delete(GroupId(source, options.group_name()));
      });
    });
  }

  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* context,
                                    const ps::GetInfoReq* request,
                                    ps::GetInfoResp* response) override {
    return Unary(context, [this, request, response]() -> CallError {
      const auto& options = request->options();
      const std::string source = options.has_all() ? kAll : StreamName(options.stream_identifier());
      return WithGroups(source, options.group_name(), [&](ConsumerGroups& groups) {
        absl::StatusOr<ConsumerGroupInfo> info = groups.Get(GroupId(source, options.group_name()));
        if (info.ok()) InfoToWire(*info, response->mutable_subscription_info());
        return info.status();
      });
    });
  }

  grpc::ServerUnaryReactor* ReplayParked(grpc::CallbackServerContext* context,
                                         const ps::ReplayParkedReq* request,
                                         ps::ReplayParkedResp*) override {
    return Unary(context, [this, request]() -> CallError {
      const auto& options = request->options();
      const std::string source = options.has_all() ? kAll : StreamName(options.stream_identifier());
      size_t max = std::numeric_limits<size_t>::max();
      if (options.stop_at_option_case() == ps::ReplayParkedReq::Options::kStopAt) {
        max = options.stop_at() > 0 ? static_cast<size_t>(options.stop_at()) : 0;
      }
      return WithGroups(source, options.group_name(), [&](ConsumerGroups& groups) {
        return groups.ReplayParked(GroupId(source, options.group_name()), max).status();
      });
    });
  }

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context, const ps::ListReq* request,
                                 ps::ListResp* response) override {
    return Unary(context, [this, request, response]() -> CallError {
      absl::StatusOr<ConsumerGroups*> groups = groups_.Get();
      if (!groups.ok()) return FromStatus(groups.status());
      absl::StatusOr<std::vector<ConsumerGroupInfo>> all = (*groups)->List();
      if (!all.ok()) return FromStatus(all.status());
      std::optional<std::string> only;
      if (request->options().has_list_for_stream()) {
        const auto& option = request->options().list_for_stream();
        only = option.has_all() ? kAll : StreamName(option.stream());
      }
      for (const ConsumerGroupInfo& group : *all) {
        if (only && NamesOf(group).first != *only) continue;
        InfoToWire(group, response->add_subscriptions());
      }
      // KurrentDB answers a stream without any with NotFound.
      if (only && response->subscriptions().empty()) {
        return GroupError(absl::NotFoundError("no persistent subscription to it"), *only, "");
      }
      return CallError{};
    });
  }

  grpc::ServerUnaryReactor* RestartSubsystem(grpc::CallbackServerContext* context,
                                             const wire::Empty*, wire::Empty*) override {
    return Unary(context, [] { return CallError{}; });  // nothing to restart
  }

  grpc::ServerBidiReactor<ps::ReadReq, ps::ReadResp>* Read(
      grpc::CallbackServerContext* context) override {
    return new ReadCall(state_, groups_, pump_, context);
  }

 private:
  // `work` on the worker pool; a read-only server answers not-leader.
  template <typename Work>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, Work work) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (state_.options.read_only) {
      reactor->Finish(NotLeader(state_.options.bind, state_.port).Finish(context));
      return reactor;
    }
    state_.pool.Run([reactor, context, work = std::move(work)] {
      const CallError error = work();
      reactor->Finish(error.code == grpc::StatusCode::OK ? grpc::Status::OK
                                                         : error.Finish(context));
    });
    return reactor;
  }

  template <typename Fn>
  CallError WithGroups(const std::string& source, const std::string& group, Fn fn) {
    if (source.empty() || group.empty()) {
      return InvalidArgument("a persistent subscription needs a stream (or $all) and a group");
    }
    absl::StatusOr<ConsumerGroups*> groups = groups_.Get();
    if (!groups.ok()) return FromStatus(groups.status());
    const absl::Status status = fn(**groups);
    return status.ok() ? CallError{} : GroupError(status, source, group);
  }

  CallError DoCreate(const ps::CreateReq& request) {
    using Options = ps::CreateReq::Options;
    if (!request.has_options()) return InvalidArgument("a create needs its options");
    const Options& options = request.options();
    ConsumerGroupSettings settings;
    std::string source;
    switch (options.stream_option_case()) {
      case Options::kStream: {
        const auto& stream = options.stream();
        source = StreamName(stream.stream_identifier());
        settings.stream = source;
        if (stream.has_end()) settings.start = StartFrom::End();
        if (stream.revision_option_case() == ps::CreateReq::StreamOptions::kRevision) {
          settings.start = AtRevision(stream.revision());
        }
        break;
      }
      case Options::kAll: {
        const auto& all = options.all();
        source = kAll;
        if (all.has_end()) settings.start = StartFrom::End();
        if (all.has_position()) settings.start = AtPosition(all.position().commit_position());
        if (all.has_filter()) {
          if (absl::Status s = FilterFromWire(all.filter(), settings.filter); !s.ok()) {
            return FromStatus(s);
          }
        }
        break;
      }
      default: {
        // Clients before 21.10 (and 6.2.1 for streams): the stream, and the
        // start in the settings' revision.
        source = StreamName(options.stream_identifier());
        settings.stream = source;
        const uint64_t revision = options.settings().revision();
        settings.start = revision == std::numeric_limits<uint64_t>::max() ? StartFrom::End()
                                                                          : AtRevision(revision);
        break;
      }
    }
    if (absl::Status s = TunablesFromWire(options.settings(), settings); !s.ok()) {
      return FromStatus(s);
    }
    return WithGroups(source, options.group_name(), [&](ConsumerGroups& groups) {
      return groups.Create(GroupId(source, options.group_name()), settings);
    });
  }

  // The tunables change; stream, filter and start stay as created.
  CallError DoUpdate(const ps::UpdateReq& request) {
    using Options = ps::UpdateReq::Options;
    if (!request.has_options()) return InvalidArgument("an update needs its options");
    const Options& options = request.options();
    std::string source;
    switch (options.stream_option_case()) {
      case Options::kStream:
        source = StreamName(options.stream().stream_identifier());
        break;
      case Options::kAll:
        source = kAll;
        break;
      default:
        source = StreamName(options.stream_identifier());
        break;
    }
    return WithGroups(source, options.group_name(), [&](ConsumerGroups& groups) -> absl::Status {
      const std::string id = GroupId(source, options.group_name());
      absl::StatusOr<ConsumerGroupInfo> info = groups.Get(id);
      if (!info.ok()) return info.status();
      ConsumerGroupSettings settings = info->settings;
      if (absl::Status s = TunablesFromWire(options.settings(), settings); !s.ok()) return s;
      return groups.Update(id, settings);
    });
  }

  ServerState& state_;
  Groups groups_;
  Pump pump_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakePersistentService(ServerState& state) {
  return std::make_unique<PersistentService>(state);
}

}  // namespace annals::server
