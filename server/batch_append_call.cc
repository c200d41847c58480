// Streams.BatchAppend: one long-lived bidirectional call per client
// connection over which the official clients multiplex every append. Each
// append (a correlation id) arrives as one or more messages, the first with
// its options, the last marked final; then it is handed to the store
// (StartAppend: the append funnel) while the call reads on, so the appends
// of one connection meet in the store's group commit like those of many. Answers, tagged with their
// correlation id, go out in commit order with one write in flight; errors
// are in-band (a google.rpc.Status whose details the clients switch on), and
// a correlation that fails writes nothing.
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "annals/base/mutex.h"
#include "append_commit.h"
#include "calls.h"
#include "errors.h"
#include "mapping.h"

namespace annals::server {
namespace {

using streams::BatchAppendReq;
using streams::BatchAppendResp;

// Appends open (first message seen, final one not yet) per call: each holds
// at most max_append_bytes.
constexpr size_t kMaxOpenAppends = 1024;

// An error as BatchAppend answers it: the status with one packed detail
// message, which the clients map to their typed errors.
void PackError(const CallError& error, streams::RpcStatus* out) {
  out->set_code(static_cast<int>(error.code));
  out->set_message(error.message);
  auto trailer = [&error](std::string_view key) -> std::string {
    for (const auto& [k, v] : error.trailers) {
      if (k == key) return v;
    }
    return "";
  };
  const std::string exception = trailer("exception");
  if (exception == "stream-deleted") {
    wire::StreamDeleted deleted;
    deleted.mutable_stream_identifier()->set_stream_name(trailer("stream-name"));
    out->mutable_details()->PackFrom(deleted);
  } else if (exception == "maximum-append-size-exceeded") {
    wire::MaximumAppendSizeExceeded exceeded;
    uint32_t limit = 0;
    if (absl::SimpleAtoi(trailer("maximum-append-size"), &limit)) exceeded.set_maxappendsize(limit);
    out->mutable_details()->PackFrom(exceeded);
  } else if (error.code == grpc::StatusCode::INVALID_ARGUMENT) {
    wire::BadRequest bad;
    bad.set_message(error.message);
    out->mutable_details()->PackFrom(bad);
  } else if (error.code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    out->mutable_details()->PackFrom(wire::Timeout());
  } else if (error.code == grpc::StatusCode::PERMISSION_DENIED) {
    out->mutable_details()->PackFrom(wire::AccessDenied());
  } else {
    out->mutable_details()->PackFrom(wire::Unknown());
  }
}

ExpectedRevision ExpectedOf(const BatchAppendReq::Options& options) {
  switch (options.expected_stream_position_case()) {
    case BatchAppendReq::Options::kStreamPosition:
      return ExpectedRevision::Exact(Revision(options.stream_position()));
    case BatchAppendReq::Options::kNoStream:
      return ExpectedRevision::NoStream();
    case BatchAppendReq::Options::kStreamExists:
      return ExpectedRevision::StreamExists();
    default:
      return ExpectedRevision::Any();
  }
}

// The append's deadline: a duration from now (current clients) or a
// point in time (21.10 clients); none when neither is set.
absl::Time DeadlineOf(const BatchAppendReq::Options& options, absl::Time now) {
  switch (options.deadline_option_case()) {
    case BatchAppendReq::Options::kDeadline:
      return now + absl::Seconds(options.deadline().seconds()) +
             absl::Nanoseconds(options.deadline().nanos());
    case BatchAppendReq::Options::kDeadline21100:
      return absl::FromUnixSeconds(options.deadline_21_10_0().seconds()) +
             absl::Nanoseconds(options.deadline_21_10_0().nanos());
    default:
      return absl::InfiniteFuture();
  }
}

// One append being received.
struct OpenAppend {
  OpenAppend(BatchAppendReq::Options options, size_t max_bytes, absl::Time now)
      : options(std::move(options)),
        append(max_bytes),
        started(now),
        deadline(DeadlineOf(this->options, now)) {}

  BatchAppendReq::Options options;
  AppendBuilder append;
  absl::Time started;
  absl::Time deadline;
  bool failed = false;  // answered with an error: the rest of its messages are dropped
};

class BatchAppendCall final : public grpc::ServerBidiReactor<BatchAppendReq, BatchAppendResp>,
                              public HubMember {
 public:
  BatchAppendCall(ServerState& state, grpc::CallbackServerContext* context)
      : state_(state), context_(context) {
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

  // gRPC runs one OnReadDone at a time, each after the previous one: the
  // open appends are theirs alone.
  void OnReadDone(bool ok) override {
    std::optional<BatchAppendResp> answer;
    std::optional<std::pair<std::string, OpenAppend>> ready;
    if (ok) Take(&answer, &ready);
    Action action;
    bool read_on = false;
    bool dispatch = false;
    {
      internal::MutexLock lock(&mu_);
      if (!ok) reads_done_ = true;
      if (answer) queue_.push_back(*std::move(answer));
      if (ready && !finished_ && !abort_) {
        dispatch = true;
        ++commits_;  // both released by Answered
        ++refs_;
      }
      read_on = ok && !finished_ && !abort_;
      action = NextAction();
    }
    if (dispatch) Dispatch(std::move(ready->first), std::move(ready->second));
    if (read_on) {
      request_.Clear();
      StartRead(&request_);
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
    bool last = false;
    {
      internal::MutexLock lock(&mu_);
      done_ = true;
      last = refs_ == 0;
    }
    if (last) delete this;
  }

  void OnHeadMoved() override {}

  // Under the hub's lock: only schedules work (gRPC may run reactions
  // inline, and those call the hub).
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

 private:
  // One message: it opens, extends or ends an append. An answer now (an
  // error) or an append ready to commit.
  void Take(std::optional<BatchAppendResp>* answer,
            std::optional<std::pair<std::string, OpenAppend>>* ready) {
    std::string key = request_.correlation_id().SerializeAsString();
    auto it = open_.find(key);
    if (it == open_.end()) {
      if (!request_.has_options()) {
        *answer =
            ErrorAnswer(request_.correlation_id(), nullptr,
                        InvalidArgument("a batch append's first message carries its options"));
        return;
      }
      if (open_.size() >= kMaxOpenAppends) {
        *answer = ErrorAnswer(request_.correlation_id(), &request_.options(),
                              InvalidArgument("too many appends open on one call"));
        return;
      }
      it = open_
               .emplace(key, OpenAppend(std::move(*request_.mutable_options()),
                                        state_.options.max_append_bytes, absl::Now()))
               .first;
    }
    OpenAppend& open = it->second;
    for (int i = 0; i < request_.proposed_messages_size() && !open.failed; ++i) {
      if (std::optional<CallError> error = open.append.Add(*request_.mutable_proposed_messages(i));
          error) {
        *answer = ErrorAnswer(request_.correlation_id(), &open.options, *error);
        open.failed = true;
        open.append = AppendBuilder(0);  // frees what it held
      }
    }
    if (!request_.is_final()) return;
    if (!open.failed) ready->emplace(std::move(key), std::move(open));
    open_.erase(it);
  }

  // Hands `open` to the store (StartAppend); its answer joins the queue.
  // Holds a commit and a reference (taken under the lock by the caller).
  void Dispatch(std::string correlation, OpenAppend open) ABSL_LOCKS_EXCLUDED(mu_) {
    BatchAppendResp answer;
    answer.mutable_correlation_id()->ParseFromString(correlation);
    Echo(open.options, &answer);
    if (absl::Now() > open.deadline) {
      PackError(CallError{grpc::StatusCode::DEADLINE_EXCEEDED,
                          "the append's deadline passed before it was committed",
                          {}},
                answer.mutable_error());
      return Answered(std::move(answer), open.started);
    }
    const ExpectedRevision expected = ExpectedOf(open.options);
    std::string stream = StreamName(open.options.stream_identifier());
    StartAppend(state_, stream, expected, std::move(open.append),
                [this, expected, stream, started = open.started,
                 answer = std::move(answer)](AppendOutcome outcome) mutable {
                  Spell(stream, expected, outcome, &answer);
                  Answered(std::move(answer), started);
                });
  }

  // Queues an append's answer; drops the commit and reference it held.
  void Answered(BatchAppendResp answer, absl::Time started) ABSL_LOCKS_EXCLUDED(mu_) {
    state_.metrics.AppendCallDone(absl::Now() - started);
    Action action;
    {
      internal::MutexLock lock(&mu_);
      --commits_;
      queue_.push_back(std::move(answer));
      action = NextAction();
    }
    Perform(action);
    Release();
  }

  static void Spell(const std::string& stream, ExpectedRevision expected,
                    const AppendOutcome& outcome, BatchAppendResp* answer) {
    switch (outcome.kind) {
      case AppendOutcome::Kind::kError:
        PackError(outcome.error, answer->mutable_error());
        return;
      case AppendOutcome::Kind::kWrongVersion:
        WrongVersion(stream, expected, outcome.revision, answer->mutable_error());
        return;
      case AppendOutcome::Kind::kSuccess:
        break;
    }
    FillSuccess(outcome, answer->mutable_success());
  }

  // Every answer names the append's stream and expected position back.
  static void Echo(const BatchAppendReq::Options& options, BatchAppendResp* answer) {
    *answer->mutable_stream_identifier() = options.stream_identifier();
    switch (options.expected_stream_position_case()) {
      case BatchAppendReq::Options::kStreamPosition:
        answer->set_stream_position(options.stream_position());
        break;
      case BatchAppendReq::Options::kNoStream:
        answer->mutable_no_stream();
        break;
      case BatchAppendReq::Options::kStreamExists:
        answer->mutable_stream_exists();
        break;
      default:
        answer->mutable_any();
        break;
    }
  }

  static BatchAppendResp ErrorAnswer(const wire::UUID& correlation,
                                     const BatchAppendReq::Options* options,
                                     const CallError& error) {
    BatchAppendResp answer;
    *answer.mutable_correlation_id() = correlation;
    if (options != nullptr) {
      Echo(*options, &answer);
    } else {
      answer.mutable_stream_identifier();  // the clients read it from every error
    }
    PackError(error, answer.mutable_error());
    return answer;
  }

  static void WrongVersion(const std::string& stream, ExpectedRevision expected,
                           std::optional<Revision> actual, streams::RpcStatus* out) {
    wire::WrongExpectedVersion wrong;
    if (actual) {
      wrong.set_current_stream_revision(actual->value());
    } else {
      wrong.mutable_current_no_stream();
    }
    switch (expected.kind()) {
      case ExpectedRevision::Kind::kAny:
        wrong.mutable_expected_any();
        break;
      case ExpectedRevision::Kind::kNoStream:
        wrong.mutable_expected_no_stream();
        break;
      case ExpectedRevision::Kind::kStreamExists:
        wrong.mutable_expected_stream_exists();
        break;
      case ExpectedRevision::Kind::kExact:
        wrong.set_expected_stream_position(expected.revision().value());
        break;
    }
    const CallError error = WrongExpectedVersion(
        stream, expected.ToWireValue(), actual ? static_cast<int64_t>(actual->value()) : -1);
    out->set_code(static_cast<int>(error.code));
    out->set_message(error.message);
    out->mutable_details()->PackFrom(wrong);
  }

  struct Action {
    enum Kind { kNone, kWrite, kFinish } kind = kNone;
    grpc::Status status;
  };

  // What to do next, decided under the lock and performed after it.
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
    if (reads_done_ && commits_ == 0) {
      finished_ = true;  // the client half-closed and has every answer
      return {Action::kFinish, grpc::Status::OK};
    }
    return {};
  }

  void Perform(const Action& action) ABSL_LOCKS_EXCLUDED(mu_) {
    if (action.kind == Action::kWrite) StartWrite(&current_);
    if (action.kind == Action::kFinish) Finish(action.status);
  }

  // Drops a reference taken for work off gRPC's threads; the last one, once gRPC
  // is done with the call, deletes it.
  void Release() ABSL_LOCKS_EXCLUDED(mu_) {
    bool last = false;
    {
      internal::MutexLock lock(&mu_);
      last = --refs_ == 0 && done_;
    }
    if (last) delete this;
  }

  ServerState& state_;
  grpc::CallbackServerContext* const context_;
  BatchAppendReq request_;                             // the read in flight (one at a time)
  absl::flat_hash_map<std::string, OpenAppend> open_;  // OnReadDone's alone

  internal::Mutex mu_;
  std::deque<BatchAppendResp> queue_ ABSL_GUARDED_BY(mu_);
  BatchAppendResp current_ ABSL_GUARDED_BY(mu_);  // the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<CallError> abort_ ABSL_GUARDED_BY(mu_);
  int commits_ ABSL_GUARDED_BY(mu_) = 0;  // appends handed to the store, not yet answered
  int refs_ ABSL_GUARDED_BY(mu_) = 0;     // work off gRPC's threads holding the call
};

}  // namespace

grpc::ServerBidiReactor<BatchAppendReq, BatchAppendResp>* NewBatchAppendCall(
    ServerState& state, grpc::CallbackServerContext* context) {
  return new BatchAppendCall(state, context);
}

}  // namespace annals::server
