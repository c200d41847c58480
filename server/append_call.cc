// Streams.Append: the options message, then one message per event; nothing
// is written until the client half-closes, so a client that dies or times
// out midway writes nothing.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "annals/errors.h"
#include "calls.h"
#include "errors.h"
#include "mapping.h"
#include "metadata.h"

namespace annals::server {
namespace {

using streams::AppendReq;
using streams::AppendResp;

class AppendCall final : public grpc::ServerReadReactor<AppendReq> {
 public:
  AppendCall(ServerState& state, grpc::CallbackServerContext* context, AppendResp* response)
      : state_(state), context_(context), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-close (all events sent), or a client that went away.
      if (context_->IsCancelled()) return End(grpc::Status::CANCELLED);
      if (!options_) return Fail(InvalidArgument("an append needs its options message first"));
      state_.pool.Run([this] { End(Commit()); });
      return;
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
        options_ = request_.options();
        return std::nullopt;
      case AppendReq::kProposedMessage: {
        if (!options_) return InvalidArgument("an append needs its options message first");
        const AppendReq::ProposedMessage& message = request_.proposed_message();
        bytes_ += ProposedBytes(message);
        if (bytes_ > state_.options.max_append_bytes) {
          return MaximumAppendSizeExceeded(state_.options.max_append_bytes);
        }
        absl::StatusOr<EventData> event = FromProposed(message);
        if (absl::IsFailedPrecondition(event.status())) return MissingRequiredMetadata();
        if (!event.ok()) return InvalidArgument(std::string(event.status().message()));
        events_.push_back(*std::move(event));
        return std::nullopt;
      }
      default:
        return InvalidArgument("an append message holds neither options nor an event");
    }
  }

  // On a worker: the store's append, and the answer.
  grpc::Status Commit() {
    const std::string& stream = StreamName(options_->stream_identifier());
    const ExpectedRevision expected = ExpectedFromWire(*options_);
    if (stream.starts_with(kMetastreamPrefix)) return CommitMetadata(stream, expected);
    if (stream.starts_with("$")) {
      return InvalidArgument(
                 absl::StrCat("stream '", stream, "': names starting with '$' are the system's"))
          .Finish(context_);
    }
    if (events_.empty()) return CheckOnly(stream, expected);
    const size_t events = events_.size();
    absl::StatusOr<AppendResult> result =
        state_.store.Append({.stream = stream, .expected = expected, .events = std::move(events_)});
    if (!result.ok()) return Refused(stream, expected, result.status());
    state_.metrics.Appended(events, bytes_);
    Succeed(result->last_revision, result->last_position);
    return grpc::Status::OK;
  }

  // A write to `$$<stream>`: one `$metadata` event whose JSON sets the
  // stream's metadata, checked against the metastream's revision.
  grpc::Status CommitMetadata(const std::string& metastream, ExpectedRevision expected) {
    const std::string stream = metastream.substr(kMetastreamPrefix.size());
    if (events_.size() != 1 || events_[0].type != kMetadataType) {
      return InvalidArgument(
                 absl::StrCat("a metastream '", metastream, "' takes one event of type $metadata"))
          .Finish(context_);
    }
    absl::StatusOr<StreamMetadata> metadata = MetadataFromJson(events_[0].data);
    if (!metadata.ok()) return FromStatus(metadata.status()).Finish(context_);
    LifecycleOptions options;
    options.expected_audit = expected;
    absl::StatusOr<Position> position = state_.store.SetStreamMetadata(stream, *metadata, options);
    if (!position.ok()) return Refused(metastream, expected, position.status());
    // The metastream's revision now: its newest event.
    absl::StatusOr<std::unique_ptr<EventIterator>> newest =
        state_.store.ReadStream(metastream, {.direction = Direction::kBackward, .max_count = 1});
    Revision revision;
    if (newest.ok() && (*newest)->Valid()) revision = (*newest)->record().revision;
    Succeed(revision, *position);
    return grpc::Status::OK;
  }

  // An append of no events: KurrentDB checks the expected revision only.
  grpc::Status CheckOnly(const std::string& stream, ExpectedRevision expected) {
    absl::StatusOr<StreamInfo> info = state_.store.GetStreamInfo(stream);
    std::optional<Revision> current;
    if (info.ok() && info->state == StreamState::kTombstoned) {
      return StreamDeleted(stream).Finish(context_);
    }
    if (info.ok() && info->state == StreamState::kActive) current = info->last_revision;
    if (!info.ok() && !absl::IsNotFound(info.status())) {
      return FromStatus(info.status()).Finish(context_);
    }
    bool matches = true;
    switch (expected.kind()) {
      case ExpectedRevision::Kind::kAny:
        break;
      case ExpectedRevision::Kind::kNoStream:
        matches = !current;
        break;
      case ExpectedRevision::Kind::kStreamExists:
        matches = current.has_value();
        break;
      case ExpectedRevision::Kind::kExact:
        matches = current && *current == expected.revision();
        break;
    }
    if (!matches) {
      WrongVersion(expected, current);
      return grpc::Status::OK;
    }
    AppendResp::Success* success = response_->mutable_success();
    if (current) {
      success->set_current_revision(current->value());
    } else {
      success->mutable_no_stream();
    }
    success->mutable_no_position();
    return grpc::Status::OK;
  }

  grpc::Status Refused(const std::string& stream, ExpectedRevision expected,
                       const absl::Status& status) {
    if (std::optional<WrongExpectedRevision> wrong = GetWrongExpectedRevision(status);
        wrong && !wrong->conflicts.empty()) {
      WrongVersion(expected, wrong->conflicts.front().actual);
      return grpc::Status::OK;  // in-band, as KurrentDB answers it
    }
    if (absl::IsFailedPrecondition(status)) {
      const std::string target =
          stream.starts_with(kMetastreamPrefix) ? stream.substr(kMetastreamPrefix.size()) : stream;
      absl::StatusOr<StreamInfo> info = state_.store.GetStreamInfo(target);
      if (info.ok() && info->state == StreamState::kTombstoned) {
        return StreamDeleted(target).Finish(context_);
      }
    }
    return FromStatus(status).Finish(context_);
  }

  void Succeed(Revision revision, Position position) {
    AppendResp::Success* success = response_->mutable_success();
    success->set_current_revision(revision.value());
    success->mutable_position()->set_commit_position(position.value());
    success->mutable_position()->set_prepare_position(position.value());
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
  std::vector<EventData> events_;
  size_t bytes_ = 0;
  const absl::Time started_ = absl::Now();
};

}  // namespace

grpc::ServerReadReactor<AppendReq>* NewAppendCall(ServerState& state,
                                                  grpc::CallbackServerContext* context,
                                                  AppendResp* response) {
  return new AppendCall(state, context, response);
}

}  // namespace annals::server
