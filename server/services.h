// What every service of one server shares, and the services themselves
// (registered by server.cc).
#ifndef ANNALS_SERVER_SERVICES_H_
#define ANNALS_SERVER_SERVICES_H_

#include <memory>

#include "annals/event_store.h"
#include "annals/server.h"
#include "append_funnel.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/service_type.h"
#include "metrics.h"
#include "subscriptions.h"
#include "worker_pool.h"

namespace annals::server {

struct ServerState {
  ServerState(EventStore& store, const ServerOptions& options)
      : store(store), options(options), pool(options.worker_threads), hub(store), funnel(store) {}

  EventStore& store;
  const ServerOptions options;
  int port = 0;  // the bound port, once known
  WorkerPool pool;
  SubscriptionHub hub;
  AppendFunnel funnel;  // appends, committed in groups on its thread
  Metrics metrics;      // GET /metrics (metrics.h)
};

// Streams (Read, Append, BatchAppend, Delete, Tombstone).
std::unique_ptr<grpc::Service> MakeStreamsService(ServerState& state);
// ServerFeatures.GetSupportedMethods and Gossip.Read (one alive leader).
std::unique_ptr<grpc::Service> MakeFeaturesService(ServerState& state);
std::unique_ptr<grpc::Service> MakeGossipService(ServerState& state);
// PersistentSubscriptions (Create, Update, Delete, Read, GetInfo, List,
// ReplayParked) on the store's consumer groups.
std::unique_ptr<grpc::Service> MakePersistentService(ServerState& state);

}  // namespace annals::server

#endif  // ANNALS_SERVER_SERVICES_H_
