// The Streams service: Read, Append and BatchAppend are reactors
// (read_call.cc, append_call.cc, batch_append_call.cc); Delete and Tombstone
// are unary calls run on the worker pool.
#include <string>

#include "annals/errors.h"
#include "calls.h"
#include "errors.h"
#include "kurrent/streams.grpc.pb.h"
#include "mapping.h"
#include "services.h"

namespace annals::server {
namespace {

using streams::DeleteReq;
using streams::DeleteResp;
using streams::TombstoneReq;
using streams::TombstoneResp;

// Delete and Tombstone differ only in the store call and the messages.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Lifecycle(ServerState& state, grpc::CallbackServerContext* context,
                                    const Request* request, Response* response, bool tombstone) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (state.options.read_only) {
    reactor->Finish(NotLeader(state.options.bind, state.port).Finish(context));
    return reactor;
  }
  state.pool.Run([&state, context, request, response, reactor, tombstone] {
    if (!request->has_options()) {
      reactor->Finish(InvalidArgument("a delete needs its options").Finish(context));
      return;
    }
    const std::string& stream = StreamName(request->options().stream_identifier());
    const ExpectedRevision expected = ExpectedFromWire(request->options());
    LifecycleOptions options;
    options.expected = expected;
    options.actor = "annals serve";
    absl::StatusOr<Position> position = tombstone ? state.store.TombstoneStream(stream, options)
                                                  : state.store.DeleteStream(stream, options);
    if (position.ok()) {
      response->mutable_position()->set_commit_position(position->value());
      response->mutable_position()->set_prepare_position(position->value());
      reactor->Finish(grpc::Status::OK);
      return;
    }
    const absl::Status& status = position.status();
    if (std::optional<WrongExpectedRevision> wrong = GetWrongExpectedRevision(status);
        wrong && !wrong->conflicts.empty()) {
      const std::optional<Revision>& actual = wrong->conflicts.front().actual;
      reactor->Finish(
          WrongExpectedVersion(stream, expected.ToWireValue(),
                               actual ? static_cast<int64_t>(actual->value()) : int64_t{-1})
              .Finish(context));
      return;
    }
    if (absl::IsNotFound(status) && expected.kind() != ExpectedRevision::Kind::kStreamExists &&
        expected.kind() != ExpectedRevision::Kind::kExact) {
      // Nothing to delete: KurrentDB answers success without a position.
      response->mutable_no_position();
      reactor->Finish(grpc::Status::OK);
      return;
    }
    if (absl::IsNotFound(status)) {
      reactor->Finish(WrongExpectedVersion(stream, expected.ToWireValue(), -1).Finish(context));
      return;
    }
    if (absl::IsFailedPrecondition(status)) {
      absl::StatusOr<StreamInfo> info = state.store.GetStreamInfo(stream);
      if (info.ok() && info->state == StreamState::kTombstoned) {
        reactor->Finish(StreamDeleted(stream).Finish(context));
        return;
      }
    }
    reactor->Finish(FromStatus(status).Finish(context));
  });
  return reactor;
}

class StreamsService final : public streams::Streams::CallbackService {
 public:
  explicit StreamsService(ServerState& state) : state_(state) {}

  grpc::ServerWriteReactor<streams::ReadResp>* Read(grpc::CallbackServerContext* context,
                                                    const streams::ReadReq* request) override {
    return NewReadCall(state_, context, request);
  }

  grpc::ServerReadReactor<streams::AppendReq>* Append(grpc::CallbackServerContext* context,
                                                      streams::AppendResp* response) override {
    return NewAppendCall(state_, context, response);
  }

  grpc::ServerBidiReactor<streams::BatchAppendReq, streams::BatchAppendResp>* BatchAppend(
      grpc::CallbackServerContext* context) override {
    return NewBatchAppendCall(state_, context);
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context, const DeleteReq* request,
                                   DeleteResp* response) override {
    return Lifecycle(state_, context, request, response, /*tombstone=*/false);
  }

  grpc::ServerUnaryReactor* Tombstone(grpc::CallbackServerContext* context,
                                      const TombstoneReq* request,
                                      TombstoneResp* response) override {
    return Lifecycle(state_, context, request, response, /*tombstone=*/true);
  }

 private:
  ServerState& state_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeStreamsService(ServerState& state) {
  return std::make_unique<StreamsService>(state);
}

}  // namespace annals::server
