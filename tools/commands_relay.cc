// `annals relay`: the store's log published exactly once to NATS JetStream
// (annals/relay.h, docs/RELAY.md), from a read-only handle beside the
// application; `annals follow`: a read replica kept from that stream
// (annals/follow.h). `--once` stops at the head as of the start; otherwise
// both go on until SIGTERM or SIGINT.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/follow.h"
#include "annals/relay.h"
#include "commands.h"
#include "context.h"
#include "nlohmann/json.hpp"

namespace annals::tool {
namespace {

// Sets stop() on SIGINT or SIGTERM once Start()ed. Constructed before any
// library thread exists, so that every thread inherits the blocked signals
// and only the sigwait below takes them.
class StopOnSignals {
 public:
  StopOnSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }
  ~StopOnSignals() {
    if (!thread_.joinable()) return;
    if (!stop_) pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait
    thread_.join();
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

  void Start() {
    thread_ = std::thread([this] {
      int signal = 0;
      sigwait(&signals_, &signal);
      stop_ = true;
    });
  }
  const std::atomic<bool>& stop() const { return stop_; }

 private:
  sigset_t signals_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Opens a NATS connection through `open`; a following command waits for a
// broker that is down (backing off to 5 s), a --once one fails at once.
template <typename T, typename OpenFn>
absl::StatusOr<T> OpenWaiting(bool once, const std::atomic<bool>& stop, OpenFn open) {
  for (absl::Duration backoff = absl::Milliseconds(50);;
       backoff = std::min(backoff * 2, absl::Seconds(5))) {
    absl::StatusOr<T> opened = open();
    if (opened.ok() || once || !absl::IsUnavailable(opened.status()) || stop) return opened;
    std::cerr << "waiting for the broker: " << opened.status().message() << std::endl;
    for (absl::Time until = absl::Now() + backoff; !stop && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
}

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
  StopOnSignals signals;  // before libnats starts threads

  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  if (!args.once) signals.Start();
  const std::atomic<bool>& stop = signals.stop();
  const bool json = ctx.options().json || ctx.options().jsonl;
  absl::StatusOr<std::unique_ptr<relay::Sink>> sink =
      OpenWaiting<std::unique_ptr<relay::Sink>>(args.once, stop, [&] {
        return relay::OpenNatsSink({.url = args.nats,
                                    .stream = args.stream,
                                    .subject_prefix = args.subjects,
                                    .replicas = args.replicas,
                                    .max_in_flight = args.window});
      });
  if (!sink.ok()) return ctx.Fail(sink.status());

  // --once is for scripts: it gives up after about 20 s of failures; a
  // following relay retries for as long as it runs.
  relay::RelayOptions options{.once = args.once, .stop = &stop, .max_retries = args.once ? 8 : -1};
  options.progress = [json](const relay::RelayStatus& status) {
    std::cerr << StatusLine(status, json) << std::endl;
  };
  absl::StatusOr<relay::RelayStatus> done = relay::Relay(**store, **sink, options);
  if (!done.ok()) return ctx.Fail(done.status());
  std::cout << StatusLine(*done, json) << std::endl;
  return kExitOk;
}

struct FollowArgs {
  std::string nats = "nats://127.0.0.1:4222";
  std::string stream = "ANNALS";
  std::string subjects = "annals";
  bool once = false;
};

std::string FollowLine(const relay::FollowStatus& s, bool json) {
  if (json) {
    return nlohmann::json{
        {"primary_id", s.primary_id}, {"started_at", s.started_at.value()},
        {"head", s.head.value()},     {"source_last", s.source_last.value()},
        {"imported", s.imported},     {"retries", s.retries},
        {"lag_events", s.lag_events}, {"lag_seconds", absl::ToDoubleSeconds(s.lag)},
        {"last_error", s.last_error}}
        .dump();
  }
  std::string line = absl::StrCat("followed ", s.imported, " events, at position ", s.head.value(),
                                  " of ", s.source_last.value(), " (lag ", s.lag_events,
                                  " events, ", absl::FormatDuration(s.lag), ")");
  if (s.retries > 0) absl::StrAppend(&line, "; ", s.retries, " retries, last: ", s.last_error);
  return line;
}

int RunFollow(Context& ctx, const FollowArgs& args) {
  if (ctx.options().store.empty()) return ctx.Usage("--store is required");
  StopOnSignals signals;  // before libnats starts threads
  if (!args.once) signals.Start();
  const std::atomic<bool>& stop = signals.stop();
  // The replica: created if missing, written by Import only.
  absl::StatusOr<EventStore*> store = ctx.OpenForWriting(/*create_if_missing=*/true);
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<std::unique_ptr<relay::Source>> source =
      OpenWaiting<std::unique_ptr<relay::Source>>(args.once, stop, [&] {
        return relay::OpenNatsSource(
            {.url = args.nats, .stream = args.stream, .subject_prefix = args.subjects});
      });
  if (!source.ok()) return ctx.Fail(source.status());
  const bool json = ctx.options().json || ctx.options().jsonl;
  relay::FollowOptions options{.once = args.once, .stop = &stop, .max_retries = args.once ? 8 : -1};
  options.progress = [json](const relay::FollowStatus& status) {
    std::cerr << FollowLine(status, json) << std::endl;
  };
  absl::StatusOr<relay::FollowStatus> done = relay::Follow(**store, **source, options);
  if (!done.ok()) return ctx.Fail(done.status());
  std::cout << FollowLine(*done, json) << std::endl;
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

  auto [follow, follow_args] = AddCommand(
      app, chosen, "follow",
      "Keep the store a read replica of the log `annals relay` publishes to NATS JetStream",
      RunFollow);
  follow->add_option("--nats", follow_args->nats,
                     "The NATS server (default nats://127.0.0.1:4222)");
  follow->add_option("--stream", follow_args->stream, "The JetStream stream (default ANNALS)");
  follow->add_option("--subjects", follow_args->subjects,
                     "The relay's subject prefix (default annals)");
  follow->add_flag("--once", follow_args->once,
                   "Import up to the stream's newest event as of the start, then exit");
}

}  // namespace annals::tool
