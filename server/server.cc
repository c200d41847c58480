// Server::Start: binds the port, registers the services (services.h) and
// records the server's start as a system event; Shutdown ends every call.
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "annals/server.h"
#include "annals/stats.h"
#include "grpcpp/grpcpp.h"
#include "services.h"
#ifdef ANNALS_SERVER_METRICS
#include "httplib.h"
#endif

namespace annals {
namespace {

using server::ServerState;

// KurrentDB's $all holds system events from the start, and clients expect
// more events in $all than they wrote: a new store gets one, as KurrentDB's
// does (docs/SERVER.md, "System events").
constexpr char kSettingsStream[] = "$settings";

void RecordStart(EventStore& store) {
  EventData settings;
  settings.type = "$settings";
  settings.content_type = "application/json";
  settings.data = R"({"server":"annals serve"})";
  // Only a store that has none yet; a store opened without `$settings` in
  // StoreOptions::system_streams refuses it, and goes without.
  store
      .Append({.stream = kSettingsStream,
               .expected = ExpectedRevision::NoStream(),
               .events = {std::move(settings)}})
      .IgnoreError();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return absl::NotFoundError(absl::StrCat("cannot read the TLS ", what, " '", path, "'"));
  std::stringstream bytes;
  bytes << file.rdbuf();
  if (bytes.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS ", what, " '", path, "' is not a PEM file"));
  }
  return bytes.str();
}

// Plaintext HTTP/2, or TLS with the certificate and key of `options`.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and its private key");
  }
  absl::StatusOr<std::string> cert = ReadPem(options.tls_cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(options.tls_key_file, "private key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

class ServerImpl final : public Server {
 public:
  ServerImpl(std::unique_ptr<ServerState> state,
             std::vector<std::unique_ptr<grpc::Service>> services)
      : state_(std::move(state)), services_(std::move(services)) {}

  ~ServerImpl() override { Shutdown(absl::Seconds(3)); }

  absl::Status Listen(std::shared_ptr<grpc::ServerCredentials> credentials) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat(state_->options.bind, ":", state_->options.port),
                             std::move(credentials), &state_->port);
    builder.SetMaxReceiveMessageSize(static_cast<int>(state_->options.max_message_bytes));
    builder.SetMaxSendMessageSize(static_cast<int>(state_->options.max_message_bytes));
    // The clients ping idle connections (KurrentDB's keepAliveInterval,
    // 10 s by default, as low as the user sets it): gRPC's default policy
    // would answer frequent pings with GOAWAY (too_many_pings), which the
    // clients report as RESOURCE_EXHAUSTED on every open subscription.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
    for (const auto& service : services_) builder.RegisterService(service.get());
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || state_->port == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", state_->options.bind, ":", state_->options.port));
    }
    return absl::OkStatus();
  }

  int port() const override { return state_->port; }
  int metrics_port() const override { return metrics_port_; }

#ifdef ANNALS_SERVER_METRICS
  // GET /metrics on its own thread (cpp-httplib's server runs its own
  // small pool for the connections).
  absl::Status ServeMetrics() {
    const ServerOptions& options = state_->options;
    if (options.metrics_port < 0) return absl::OkStatus();
    // Under TLS the metrics are served over TLS too, with the same
    // certificate (cpp-httplib's SSLServer, on OpenSSL).
    if (!options.tls_cert_file.empty()) {
      auto tls = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                      options.tls_key_file.c_str());
      if (!tls->is_valid()) {
        return absl::InvalidArgumentError(
            "the metrics endpoint cannot use the TLS certificate and key");
      }
      http_ = std::move(tls);
    } else {
      http_ = std::make_unique<httplib::Server>();
    }
    http_->Get("/metrics", [state = state_.get()](const httplib::Request&, httplib::Response& res) {
      res.set_content(RenderPrometheus(state->metrics, state->store),
                      "text/plain; version=0.0.4; charset=utf-8");
    });
    if (options.metrics_port == 0) {
      metrics_port_ = http_->bind_to_any_port(options.bind);
    } else if (http_->bind_to_port(options.bind, options.metrics_port)) {
      metrics_port_ = options.metrics_port;
    }
    if (metrics_port_ <= 0) {
      metrics_port_ = -1;
      http_.reset();
      return absl::UnavailableError(
          absl::StrCat("cannot listen for metrics on ", options.bind, ":", options.metrics_port));
    }
    http_thread_ = std::thread([http = http_.get()] { http->listen_after_bind(); });
    // httplib's stop() does nothing until the loop runs: wait for it
    // (bounded), so that a Shutdown right after Start ends the thread.
    for (int i = 0; i < 5000 && !http_->is_running(); ++i) absl::SleepFor(absl::Milliseconds(1));
    return absl::OkStatus();
  }
#else
  absl::Status ServeMetrics() { return absl::OkStatus(); }  // CheckOptions refused a port
#endif

  void Shutdown(absl::Duration grace) override {
#ifdef ANNALS_SERVER_METRICS
    if (http_ != nullptr) {
      http_->stop();
      http_thread_.join();
      http_.reset();
    }
#endif
    if (server_ == nullptr) return;
    // Subscriptions never end on their own: end them first, then give
    // calls in flight (appends) the grace period.
    state_->hub.CloseAll();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    server_.reset();
    state_->hub.Stop();
    state_->funnel.Stop();
  }

 private:
  std::unique_ptr<ServerState> state_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  int metrics_port_ = -1;
#ifdef ANNALS_SERVER_METRICS
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
#endif
};

}  // namespace

absl::Status Server::CheckOptions(const ServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " is not 0..65535"));
  }
  if (options.worker_threads < 1) {
    return absl::InvalidArgumentError("worker_threads must be at least 1");
  }
  if (options.read_batch < 1) return absl::InvalidArgumentError("read_batch must be at least 1");
  if (options.metrics_port < -1 || options.metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics port ", options.metrics_port, " is not -1..65535"));
  }
#ifndef ANNALS_SERVER_METRICS
  if (options.metrics_port != -1) {
    return absl::UnimplementedError("this build serves no metrics (built without cpp-httplib)");
  }
#endif
  if (options.max_message_bytes < 1024 || options.max_message_bytes > (1u << 30)) {
    return absl::InvalidArgumentError("max_message_bytes must be 1 KiB..1 GiB");
  }
  return Credentials(options).status();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(EventStore& store,
                                                      const ServerOptions& asked) {
  if (absl::Status checked = CheckOptions(asked); !checked.ok()) return checked;
  ServerOptions options = asked;
  // A read replica (annals follow) takes no writes: answer them as a
  // read-only server does, with the not-leader error the clients know.
  if (absl::StatusOr<std::optional<std::string>> primary = GetReplicaOf(store);
      primary.ok() && primary->has_value()) {
    options.read_only = true;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();
  if (!options.read_only) RecordStart(store);
  auto state = std::make_unique<ServerState>(store, options);
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(server::MakeStreamsService(*state));
  services.push_back(server::MakeFeaturesService(*state));
  services.push_back(server::MakeGossipService(*state));
  services.push_back(server::MakePersistentService(*state));
  auto server = std::make_unique<ServerImpl>(std::move(state), std::move(services));
  if (absl::Status listening = server->Listen(*std::move(credentials)); !listening.ok()) {
    return listening;
  }
  if (absl::Status metrics = server->ServeMetrics(); !metrics.ok()) return metrics;
  return server;
}

}  // namespace annals
