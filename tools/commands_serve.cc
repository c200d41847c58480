// `annals serve`: the store as a KurrentDB-protocol server (annals/server.h,
// docs/SERVER.md), for the official clients of any language. Runs until
// SIGTERM or SIGINT, then ends open calls and closes the store.
#include <pthread.h>
#include <signal.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "annals/server.h"
#include "commands.h"
#include "context.h"

namespace annals::tool {
namespace {

struct ServeArgs {
  std::string bind = "127.0.0.1";
  int port = 2113;
  bool read_only = false;
  uint64_t max_append_bytes = 16 << 20;
  int workers = 4;
  std::string tls_cert, tls_key;
  int metrics_port = -1;
};

// How often a read-only server looks for what the application committed.
constexpr absl::Duration kRefreshEvery = absl::Milliseconds(50);

int RunServe(Context& ctx, const ServeArgs& args) {
  if (ctx.options().store.empty()) return ctx.Usage("--store is required");
  // The signals are taken by sigtimedwait below: blocked before any thread
  // starts, so gRPC's threads never receive them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ServerOptions server_options;
  server_options.bind = args.bind;
  server_options.port = args.port;
  server_options.read_only = args.read_only;
  server_options.max_append_bytes = args.max_append_bytes;
  server_options.worker_threads = args.workers;
  server_options.tls_cert_file = args.tls_cert;
  server_options.tls_key_file = args.tls_key;
  server_options.metrics_port = args.metrics_port;
  // Bad options (an unreadable TLS file) are refused before a store is
  // created.
  if (absl::Status checked = Server::CheckOptions(server_options); !checked.ok()) {
    return ctx.Fail(checked);
  }

  StoreOptions options;
  options.read_only = args.read_only;
  options.create_if_missing = !args.read_only;
  // The server records its start in `$settings`, as KurrentDB's $all holds
  // system events (docs/SERVER.md, "System events").
  options.system_streams = {"$settings"};
  absl::StatusOr<std::unique_ptr<EventStore>> store =
      EventStore::Open(ctx.options().store, options);
  if (!store.ok()) return ctx.Fail(store.status());

  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(**store, server_options);
  if (!server.ok()) return ctx.Fail(server.status());
  std::cout << "listening on " << args.bind << ":" << (*server)->port() << std::endl;
  if ((*server)->metrics_port() >= 0) {
    std::cout << "metrics on " << args.bind << ":" << (*server)->metrics_port() << std::endl;
  }

  const timespec wait = absl::ToTimespec(kRefreshEvery);
  while (true) {
    const int signal = sigtimedwait(&stop_signals, nullptr, &wait);
    if (signal == SIGINT || signal == SIGTERM) break;
    if (args.read_only) Refresh(**store).IgnoreError();  // a failed refresh: next time
  }
  (*server)->Shutdown();
  if (absl::Status closed = (*store)->Close(); !closed.ok()) return ctx.Fail(closed);
  std::cerr << "annals serve: stopped\n";
  return kExitOk;
}

}  // namespace

void AddServeCommands(CLI::App& app, Action& chosen) {
  auto [serve, args] = AddCommand(
      app, chosen, "serve",
      "Serve the store over the KurrentDB client protocol (gRPC) to the official clients",
      RunServe);
  serve->add_option("--bind", args->bind, "The address to listen on (default 127.0.0.1)");
  serve->add_option("--port", args->port, "The port (default 2113; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  serve->add_flag("--read-only", args->read_only,
                  "Serve reads and subscriptions beside the application that writes the store; "
                  "writes get the clients' not-leader error");
  serve
      ->add_option("--max-append-size", args->max_append_bytes,
                   "The largest append in bytes (default 16 MiB), KurrentDB's MaxAppendSize")
      ->check(CountCheck());
  serve->add_option("--tls-cert", args->tls_cert,
                    "PEM certificate (chain): serve over TLS (with --tls-key); default plaintext");
  serve->add_option("--tls-key", args->tls_key, "PEM private key of --tls-cert");
  serve
      ->add_option("--metrics-port", args->metrics_port,
                   "Serve GET /metrics (Prometheus text) on this port of --bind (0: any free "
                   "port; default: none)")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--workers", args->workers, "Threads that run the store's calls (default 4)")
      ->check(CLI::Range(1, 64));
}

}  // namespace annals::tool
