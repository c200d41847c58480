// The reactors of the Streams service (one object per call; each deletes
// itself when gRPC is done with it). streams_service.cc hands calls to them.
#ifndef ANNALS_SERVER_CALLS_H_
#define ANNALS_SERVER_CALLS_H_

#include "grpcpp/grpcpp.h"
#include "kurrent/streams.pb.h"
#include "services.h"

namespace annals::server {

// Client-streaming append: options, then proposed messages; the store's
// Append runs on the worker pool once the client half-closes.
grpc::ServerReadReactor<::event_store::client::streams::AppendReq>* NewAppendCall(
    ServerState& state, grpc::CallbackServerContext* context,
    ::event_store::client::streams::AppendResp* response);

// The long-lived bidirectional append of the official clients: appends
// multiplexed by correlation id, each committed on the worker pool.
grpc::ServerBidiReactor<::event_store::client::streams::BatchAppendReq,
                        ::event_store::client::streams::BatchAppendResp>*
NewBatchAppendCall(ServerState& state, grpc::CallbackServerContext* context);

// A read of a stream or $all, or a subscription: pumped from the worker
// pool with one write in flight, parked on the hub once caught up.
grpc::ServerWriteReactor<::event_store::client::streams::ReadResp>* NewReadCall(
    ServerState& state, grpc::CallbackServerContext* context,
    const ::event_store::client::streams::ReadReq* request);

}  // namespace annals::server

#endif  // ANNALS_SERVER_CALLS_H_
