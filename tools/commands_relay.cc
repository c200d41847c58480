// `annals relay`: the store's log published exactly once to NATS JetStream
// (annals/relay.h, docs/RELAY.md), from a read-only handle beside the
// application. `--once` stops at the head as of the start; otherwise it
// follows the log until SIGTERM or SIGINT.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/relay.h"
#include "commands.h"
#include "context.h"
#include "nlohmann/json.hpp"

namespace annals::tool {
namespace {

struct RelayArgs {
  std::string nats = "nats://127.0.0.1:4222";
  std::string stream = "ANNALS";
  std::string subjects = "annals";
  int replicas = 1;
  int window = 1024;
  bool once = false;
};

std::string StatusLine(const relay::RelayStatus& s, bool json) {
  if (json) {
    return nlohmann::json{{"store_id", s.store_id},
                          {"resumed_at", s.resumed_at.value()},
                          {"published_to", s.published_to.value()},
                          {"head", s.head.value()},
                          {"published", s.published},
                          {"retries", s.retries},
                          {"lag_events", s.lag_events},
                          {"lag_seconds", absl::ToDoubleSeconds(s.lag)},
                          {"last_error", s.last_error}}
        .dump();
  }
  std::string line = absl::StrCat("relayed ", s.published, " events, at position ",
                                  s.published_to.value(), " of ", s.head.value(), " (lag ",
                                  s.lag_events, " events, ", absl::FormatDuration(s.lag), ")");
  if (s.retries > 0) absl::StrAppend(&line, "; ", s.retries, " retries, last: ", s.last_error);
  return line;
}

int RunRelay(Context& ctx, const RelayArgs& args) {
  if (ctx.options().store.empty()) return ctx.Usage("--store is required");
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before libnats starts threads

  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  std::atomic<bool> stop{false};
  std::thread signals;
  if (!args.once) {
    // Stops the relay on SIGINT/SIGTERM; woken at the end by a signal of
    // our own if the relay ends first.
    signals = std::thread([&stop, &stop_signals] {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      stop = true;
    });
  }
  auto stop_signal_thread = [&] {
    if (!signals.joinable()) return;
    if (!stop) pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  };
  const bool json = ctx.options().json || ctx.options().jsonl;
  // A following relay waits for a broker that is down (backing off to
  // 5 s); --once fails at once, for scripts.
  absl::StatusOr<std::unique_ptr<relay::Sink>> sink;
  for (absl::Duration backoff = absl::Milliseconds(50);;
       backoff = std::min(backoff * 2, absl::Seconds(5))) {
    sink = relay::OpenNatsSink({.url = args.nats,
                                .stream = args.stream,
                                .subject_prefix = args.subjects,
                                .replicas = args.replicas,
                                .max_in_flight = args.window});
    if (sink.ok() || args.once || !absl::IsUnavailable(sink.status()) || stop) break;
    std::cerr << "waiting for the broker: " << sink.status().message() << std::endl;
    for (absl::Time until = absl::Now() + backoff; !stop && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  if (!sink.ok()) {
    stop_signal_thread();
    return ctx.Fail(sink.status());
  }

  // --once is for scripts: it gives up after about 20 s of failures; a
  // following relay retries for as long as it runs.
  relay::RelayOptions options{.once = args.once, .stop = &stop, .max_retries = args.once ? 8 : -1};
  options.progress = [json](const relay::RelayStatus& status) {
    std::cerr << StatusLine(status, json) << std::endl;
  };
  absl::StatusOr<relay::RelayStatus> done = relay::Relay(**store, **sink, options);
  stop_signal_thread();
  if (!done.ok()) return ctx.Fail(done.status());
  std::cout << StatusLine(*done, json) << std::endl;
  return kExitOk;
}

}  // namespace

void AddRelayCommands(CLI::App& app, Action& chosen) {
  auto [relay, args] = AddCommand(
      app, chosen, "relay",
      "Publish the store's log exactly once to a NATS JetStream stream, beside the application",
      RunRelay);
  relay->add_option("--nats", args->nats, "The NATS server (default nats://127.0.0.1:4222)");
  relay->add_option("--stream", args->stream,
                    "The JetStream stream, created if missing (default ANNALS)");
  relay->add_option("--subjects", args->subjects,
                    "Subject prefix: events go to PREFIX.<category>.<stream> (default annals)");
  relay->add_option("--replicas", args->replicas, "Replicas of a stream it creates (default 1)")
      ->check(CLI::Range(1, 5));
  relay->add_option("--window", args->window, "Publishes in flight at most (default 1024)")
      ->check(CLI::Range(1, 65536));
  relay->add_flag("--once", args->once,
                  "Publish up to the head as of the start, then exit (otherwise follow the log)");
}

}  // namespace annals::tool
