// annals/server.h: serves one open store over the KurrentDB (EventStoreDB)
// client protocol v1 (gRPC, plaintext HTTP/2), so the official clients in
// any language append, read, subscribe and manage streams unchanged.
// `annals serve` (docs/CLI.md) runs it; docs/SERVER.md says what is covered.
//
//   ASSIGN_OR_RETURN(auto server, Server::Start(*store, {.port = 2113}));
//   ... // clients connect to kurrentdb://127.0.0.1:2113?tls=false
//   server->Shutdown();
#ifndef ANNALS_SERVER_H_
#define ANNALS_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event_store.h"

namespace annals {

struct ServerOptions {
  // The address to listen on; loopback unless told otherwise.
  std::string bind = "127.0.0.1";
  // 0: any free port (Server::port() says which).
  int port = 2113;
  // Serves reads and subscriptions only: every write is answered with the
  // not-leader error the clients know. Set it for a store opened read-only
  // beside a running application (the server then Refreshes the store). A
  // read replica (annals/follow.h) is always served so.
  bool read_only = false;
  // Threads that run the store's calls other than appends (reads, metadata
  // writes, deletes); appends go to one funnel thread that commits them in
  // groups (docs/SERVER.md, "Threads and memory").
  int worker_threads = 4;
  // The largest gRPC message accepted (the clients allow ~17 MiB).
  size_t max_message_bytes = 17 << 20;
  // The largest append (data + metadata of its events), KurrentDB's
  // MaxAppendSize: a larger one is refused and nothing written.
  size_t max_append_bytes = 16 << 20;
  // PEM files of the server's certificate (chain) and private key: serve
  // over TLS (clients connect with tls=true, and tlsCAFile naming the CA
  // when it is not a public one). Both or neither; default: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Events a read or subscription buffers per call before it waits for the
  // client: what a slow client can cost the server.
  size_t read_batch = 128;
  // The port of the HTTP endpoint GET /metrics (Prometheus text format,
  // docs/SERVER.md "Metrics"), on `bind`, plaintext: -1 (default) serves
  // none, 0 any free port (Server::metrics_port() says which). A build
  // without cpp-httplib refuses any other value (Unimplemented).
  int metrics_port = -1;
};

// A running server over one store. The store must outlive it.
class Server {
 public:
  // Starts serving `store`. Returns once the port accepts connections.
  // InvalidArgument for bad options (a TLS file that is not PEM); NotFound
  // for a TLS file that cannot be read; Unavailable if the address (or the
  // metrics port) cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(EventStore& store,
                                                       const ServerOptions& options);

  // The checks Start makes of `options` (the TLS files read too), without
  // a store: a caller that would create one checks first, so that bad
  // options write nothing.
  static absl::Status CheckOptions(const ServerOptions& options);

  // Shutdown().
  virtual ~Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port it listens on.
  virtual int port() const = 0;
  // The port of GET /metrics; -1 when ServerOptions::metrics_port is -1.
  virtual int metrics_port() const = 0;

  // Stops accepting calls, ends open ones (subscriptions get UNAVAILABLE)
  // and waits at most `grace` for calls in flight. Idempotent.
  virtual void Shutdown(absl::Duration grace = absl::Seconds(3)) = 0;

 protected:
  Server() = default;
};

}  // namespace annals

#endif  // ANNALS_SERVER_H_
