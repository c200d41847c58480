// ServerFeatures.GetSupportedMethods — an honest list of what annals serve
// implements, with the server version the clients gate their features on —
// and Gossip.Read for `+discover` connection strings: one alive leader.
#include <string>

#include "kurrent/gossip.grpc.pb.h"
#include "kurrent/serverfeatures.grpc.pb.h"
#include "mapping.h"
#include "services.h"

namespace annals::server {
namespace {

namespace features = ::event_store::client::server_features;
namespace gossip = ::event_store::client::gossip;

// The KurrentDB release whose client features this server's list serves
// (clients treat an unknown version as 20.10 and turn checks off).
constexpr char kReportedVersion[] = "24.10.0";

class FeaturesService final : public features::ServerFeatures::CallbackService {
 public:
  explicit FeaturesService(bool read_only) : read_only_(read_only) {}

  grpc::ServerUnaryReactor* GetSupportedMethods(grpc::CallbackServerContext* context,
                                                const wire::Empty*,
                                                features::SupportedMethods* response) override {
    auto add = [response](const char* service, const char* method,
                          std::initializer_list<const char*> features) {
      features::SupportedMethod* m = response->add_methods();
      m->set_service_name(service);
      m->set_method_name(method);
      for (const char* feature : features) m->add_features(feature);
    };
    add("event_store.client.streams.streams", "read", {"position", "events"});
    add("event_store.client.streams.streams", "append", {});
    // The clients append through BatchAppend once it is listed; a read-only
    // server leaves it out, so they use Append and get the not-leader error.
    if (!read_only_) add("event_store.client.streams.streams", "batchappend", {});
    add("event_store.client.streams.streams", "delete", {});
    add("event_store.client.streams.streams", "tombstone", {});
    add("event_store.client.server_features.serverfeatures", "getsupportedmethods", {});
    // Persistent subscriptions write their state: not on a read-only server.
    if (!read_only_) {
      for (const char* method :
           {"create", "update", "delete", "read", "getinfo", "replayparked", "list"}) {
        add("event_store.client.persistent_subscriptions.persistentsubscriptions", method,
            {"stream", "all"});
      }
      add("event_store.client.persistent_subscriptions.persistentsubscriptions", "restartsubsystem",
          {});
    }
    add("event_store.client.gossip.gossip", "read", {});
    response->set_event_store_server_version(kReportedVersion);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const bool read_only_;
};

class GossipService final : public gossip::Gossip::CallbackService {
 public:
  explicit GossipService(ServerState& state) : state_(state) {}

  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context, const wire::Empty*,
                                 gossip::ClusterInfo* response) override {
    gossip::MemberInfo* member = response->add_members();
    IdToWire(instance_id_, /*structured=*/false, member->mutable_instance_id());
    member->set_time_stamp(Ticks(absl::Now()));
    member->set_state(gossip::MemberInfo::Leader);
    member->set_is_alive(true);
    member->mutable_http_end_point()->set_address(state_.options.bind);
    member->mutable_http_end_point()->set_port(static_cast<uint32_t>(state_.port));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  ServerState& state_;
  const EventId instance_id_ = EventId::Generate();
};

}  // namespace

std::unique_ptr<grpc::Service> MakeFeaturesService(ServerState& state) {
  return std::make_unique<FeaturesService>(state.options.read_only);
}

std::unique_ptr<grpc::Service> MakeGossipService(ServerState& state) {
  return std::make_unique<GossipService>(state);
}

}  // namespace annals::server
