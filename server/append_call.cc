// Streams.Append: the options message, then one message per event; nothing
// is written until the client half-closes, so a client that dies or times
// out midway writes nothing.
#include <optional>
#include <string>

#include "append_commit.h"
#include "calls.h"
#include "errors.h"
#include "mapping.h"

namespace annals::server {
namespace {

using streams::AppendReq;
using streams::AppendResp;

class AppendCall final : public grpc::ServerReadReactor<AppendReq> {
 public:
  AppendCall(ServerState& state, grpc::CallbackServerContext* context, AppendResp* response)
      : state_(state),
        context_(context),
        response_(response),
        append_(state.options.max_append_bytes) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-close (all events sent), or a client that went away.
      if (context_->IsCancelled()) return End(grpc::Status::CANCELLED);
      if (!options_) return Fail(InvalidArgument("an append needs its options message first"));
      return Commit();
    }
    if (std::optional<CallError> error = Take(); error) return Fail(*error);
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  // Counted before the status is sent, so a client that has its answer sees it in /metrics.
  void End(const grpc::Status& status) {
    state_.metrics.AppendCallDone(absl::Now() - started_);
    Finish(status);
  }

  void Fail(const CallError& error) { End(error.Finish(context_)); }

  // One message of the stream. An error ends the call; nothing is written.
  std::optional<CallError> Take() {
    switch (request_.content_case()) {
      case AppendReq::kOptions:
        if (options_) return InvalidArgument("an append has one options message");
        if (state_.options.read_only) return NotLeader(state_.options.bind, state_.port);
        options_ = std::move(*request_.mutable_options());
        return std::nullopt;
      case AppendReq::kProposedMessage:
        if (!options_) return InvalidArgument("an append needs its options message first");
        return append_.Add(*request_.mutable_proposed_message());
      default:
        return InvalidArgument("an append message holds neither options nor an event");
    }
  }

  // The store's append; the answer once it is committed (on another thread).
  void Commit() {
    const ExpectedRevision expected = ExpectedFromWire(*options_);
    StartAppend(state_, StreamName(options_->stream_identifier()), expected, std::move(append_),
                [this, expected](AppendOutcome outcome) { End(Answer(expected, outcome)); });
  }

  grpc::Status Answer(ExpectedRevision expected, const AppendOutcome& outcome) {
    switch (outcome.kind) {
      case AppendOutcome::Kind::kError:
        return outcome.error.Finish(context_);
      case AppendOutcome::Kind::kWrongVersion:
        WrongVersion(expected, outcome.revision);  // in-band, as KurrentDB answers it
        return grpc::Status::OK;
      case AppendOutcome::Kind::kSuccess:
        break;
    }
    FillSuccess(outcome, response_->mutable_success());
    return grpc::Status::OK;
  }

  void WrongVersion(ExpectedRevision expected, std::optional<Revision> actual) {
    AppendResp::WrongExpectedVersion* wrong = response_->mutable_wrong_expected_version();
    if (actual) {
      wrong->set_current_revision(actual->value());
      wrong->set_current_revision_20_6_0(actual->value());
    } else {
      wrong->mutable_current_no_stream();
      wrong->mutable_no_stream_20_6_0();
    }
    switch (expected.kind()) {
      case ExpectedRevision::Kind::kAny:
        wrong->mutable_expected_any();
        wrong->mutable_any_20_6_0();
        break;
      case ExpectedRevision::Kind::kNoStream:
        wrong->mutable_expected_no_stream();
        // The old shape has no "no stream": KurrentDB sent -1 as a revision.
        wrong->set_expected_revision_20_6_0(static_cast<uint64_t>(-1));
        break;
      case ExpectedRevision::Kind::kStreamExists:
        wrong->mutable_expected_stream_exists();
        wrong->mutable_stream_exists_20_6_0();
        break;
      case ExpectedRevision::Kind::kExact:
        wrong->set_expected_revision(expected.revision().value());
        wrong->set_expected_revision_20_6_0(expected.revision().value());
        break;
    }
  }

  ServerState& state_;
  grpc::CallbackServerContext* const context_;
  AppendResp* const response_;
  AppendReq request_;
  std::optional<AppendReq::Options> options_;
  AppendBuilder append_;
  const absl::Time started_ = absl::Now();
};

}  // namespace

grpc::ServerReadReactor<AppendReq>* NewAppendCall(ServerState& state,
                                                  grpc::CallbackServerContext* context,
                                                  AppendResp* response) {
  return new AppendCall(state, context, response);
}

}  // namespace annals::server
