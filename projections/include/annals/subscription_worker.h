// annals/subscription_worker.h: SubscriptionWorker, the callback convenience
// over a Subscription (annals/subscription.h, EventStore::Subscribe): a
// read-side consumer with a thread of its own, built on the public API only.
//
//   auto sub = store->Subscribe({.durable_name = "mailer"});
//   annals::SubscriptionWorker worker(*std::move(sub), [](const annals::EventRecord& e) {
//     return SendMail(e);  // a non-OK status stops the worker
//   });
//   ...
//   worker.Stop();
#ifndef ANNALS_SUBSCRIPTION_WORKER_H_
#define ANNALS_SUBSCRIPTION_WORKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include "annals/export.h"

#include "absl/status/status.h"
#include "annals/event.h"
#include "annals/subscription.h"

namespace annals {

// One thread of its own pulls events and calls `handler` for each, in order.
// After each handled event a durable subscription's checkpoint is saved
// every `checkpoint_every` events and on stop. The handler runs on that
// thread only; a non-OK status from it stops the worker (status() reports
// it).
class ANNALS_EXPORT SubscriptionWorker {
 public:
  using Handler = std::function<absl::Status(const EventRecord&)>;
  // Starts the thread at once. `checkpoint_every` 0 counts as 1.
  SubscriptionWorker(std::unique_ptr<Subscription> subscription, Handler handler,
                     uint64_t checkpoint_every = 100);
  // Stops and joins (see Stop).
  ~SubscriptionWorker();
  SubscriptionWorker(const SubscriptionWorker&) = delete;
  SubscriptionWorker& operator=(const SubscriptionWorker&) = delete;

  // Stops the subscription, waits for the handler call in progress, saves a
  // durable checkpoint, and joins the thread. Idempotent.
  void Stop();
  // Why the worker stopped by itself (handler error, store closed, ...);
  // OK while running or after Stop(). Call after Stop().
  absl::Status status() const;

 private:
  void Run();

  std::unique_ptr<Subscription> subscription_;
  Handler handler_;
  uint64_t checkpoint_every_;
  absl::Status status_;  // written by the thread, read after join
  std::thread thread_;
};

}  // namespace annals

#endif  // ANNALS_SUBSCRIPTION_WORKER_H_
