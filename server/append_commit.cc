#include "append_commit.h"

#include "absl/strings/str_cat.h"
#include "annals/errors.h"
#include "kurrent/streams.pb.h"
#include "mapping.h"
#include "metadata.h"

namespace annals::server {
namespace {

AppendOutcome Failed(CallError error) {
  return {.kind = AppendOutcome::Kind::kError, .error = std::move(error)};
}

AppendOutcome Succeeded(std::optional<Revision> revision, std::optional<Position> position) {
  return {.revision = revision, .position = position};
}

AppendOutcome WrongVersion(std::optional<Revision> actual) {
  return {.kind = AppendOutcome::Kind::kWrongVersion, .revision = actual};
}

// The store's refusal as the protocol answers it.
AppendOutcome Refused(ServerState& state, const std::string& stream, const absl::Status& status) {
  if (std::optional<WrongExpectedRevision> wrong = GetWrongExpectedRevision(status);
      wrong && !wrong->conflicts.empty()) {
    return WrongVersion(wrong->conflicts.front().actual);
  }
  if (absl::IsFailedPrecondition(status)) {
    const std::string target =
        stream.starts_with(kMetastreamPrefix) ? stream.substr(kMetastreamPrefix.size()) : stream;
    absl::StatusOr<StreamInfo> info = state.store.GetStreamInfo(target);
    if (info.ok() && info->state == StreamState::kTombstoned) return Failed(StreamDeleted(target));
  }
  return Failed(FromStatus(status));
}

// A write to `$$<stream>`: one `$metadata` event whose JSON sets the
// stream's metadata, checked against the metastream's revision.
AppendOutcome CommitMetadata(ServerState& state, const std::string& metastream,
                             ExpectedRevision expected, std::vector<EventData>& events) {
  const std::string stream = metastream.substr(kMetastreamPrefix.size());
  if (events.size() != 1 || events[0].type != kMetadataType) {
    return Failed(InvalidArgument(
        absl::StrCat("a metastream '", metastream, "' takes one event of type $metadata")));
  }
  absl::StatusOr<StreamMetadata> metadata = MetadataFromJson(events[0].data);
  if (!metadata.ok()) return Failed(FromStatus(metadata.status()));
  LifecycleOptions options;
  options.expected_audit = expected;
  // The client's event id: a retry of the write is answered as the first.
  options.event_id = events[0].event_id;
  absl::StatusOr<Position> position = state.store.SetStreamMetadata(stream, *metadata, options);
  if (!position.ok()) return Refused(state, metastream, position.status());
  // The metastream's revision of the event at that position (the original's
  // on a retry, not whatever was written since).
  absl::StatusOr<std::unique_ptr<EventIterator>> written =
      state.store.ReadAll({.from = *position, .max_count = 1});
  Revision revision;
  if (written.ok() && (*written)->Valid()) revision = (*written)->record().revision;
  return Succeeded(revision, *position);
}

// An append of no events: KurrentDB checks the expected revision only.
AppendOutcome CheckOnly(ServerState& state, const std::string& stream, ExpectedRevision expected) {
  absl::StatusOr<StreamInfo> info = state.store.GetStreamInfo(stream);
  if (info.ok() && info->state == StreamState::kTombstoned) return Failed(StreamDeleted(stream));
  if (!info.ok() && !absl::IsNotFound(info.status())) return Failed(FromStatus(info.status()));
  std::optional<Revision> current;
  if (info.ok() && info->state == StreamState::kActive) current = info->last_revision;
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
  if (!matches) return WrongVersion(current);
  return Succeeded(current, std::nullopt);
}

}  // namespace

template <typename Proposed>
std::optional<CallError> AppendBuilder::Add(Proposed& message) {
  bytes_ += ProposedBytes(message);
  if (bytes_ > max_bytes_) return MaximumAppendSizeExceeded(max_bytes_);
  absl::StatusOr<EventData> event = FromProposed(message);
  if (absl::IsFailedPrecondition(event.status())) return MissingRequiredMetadata();
  if (!event.ok()) return InvalidArgument(std::string(event.status().message()));
  events_.push_back(*std::move(event));
  return std::nullopt;
}

template std::optional<CallError> AppendBuilder::Add(streams::AppendReq::ProposedMessage&);
template std::optional<CallError> AppendBuilder::Add(streams::BatchAppendReq::ProposedMessage&);

void StartAppend(ServerState& state, std::string stream, ExpectedRevision expected,
                 AppendBuilder append, std::function<void(AppendOutcome)> done) {
  if (stream.starts_with("$") || append.events().empty()) {
    state.pool.Run([&state, stream = std::move(stream), expected, append = std::move(append),
                    done = std::move(done)]() mutable {
      std::vector<EventData>& events = append.events();
      if (stream.starts_with(kMetastreamPrefix)) {
        return done(CommitMetadata(state, stream, expected, events));
      }
      if (stream.starts_with("$")) {
        return done(Failed(InvalidArgument(
            absl::StrCat("stream '", stream, "': names starting with '$' are the system's"))));
      }
      done(CheckOnly(state, stream, expected));
    });
    return;
  }
  const size_t count = append.events().size();
  const size_t bytes = append.bytes();
  AppendRequest request{
      .stream = stream, .expected = expected, .events = std::move(append.events())};
  state.funnel.Submit(std::move(request),
                      [&state, stream = std::move(stream), count, bytes,
                       done = std::move(done)](absl::StatusOr<AppendResult> result) {
                        if (!result.ok()) return done(Refused(state, stream, result.status()));
                        state.metrics.Appended(count, bytes);
                        done(Succeeded(result->last_revision, result->last_position));
                      });
}

}  // namespace annals::server
