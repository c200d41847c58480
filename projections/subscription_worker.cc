// SubscriptionWorker (annals/subscription_worker.h): the callback
// convenience, a client of the public Subscription API. Its thread runs only
// the handler its user gave it.
#include "annals/subscription_worker.h"

#include <utility>

namespace annals {
namespace {

// Next() is woken at once by Stop(); the timeout only bounds each wait.
constexpr absl::Duration kPollTimeout = absl::Seconds(1);

}  // namespace

SubscriptionWorker::SubscriptionWorker(std::unique_ptr<Subscription> subscription, Handler handler,
                                       uint64_t checkpoint_every)
    : subscription_(std::move(subscription)),
      handler_(std::move(handler)),
      checkpoint_every_(checkpoint_every == 0 ? 1 : checkpoint_every),
      thread_([this] { Run(); }) {}

SubscriptionWorker::~SubscriptionWorker() { Stop(); }

void SubscriptionWorker::Stop() {
  subscription_->Stop();
  if (thread_.joinable()) thread_.join();
}

absl::Status SubscriptionWorker::status() const { return status_; }

void SubscriptionWorker::Run() {
  uint64_t unsaved = 0;
  auto save = [&]() -> absl::Status {
    absl::Status s = subscription_->SaveCheckpoint();
    unsaved = 0;
    // Not durable: nothing to save.
    return absl::IsFailedPrecondition(s) ? absl::OkStatus() : s;
  };
  for (;;) {
    absl::StatusOr<EventRecord> event = subscription_->Next(kPollTimeout);
    if (absl::IsDeadlineExceeded(event.status())) continue;
    if (!event.ok()) {
      // Cancelled: stopped (by Stop or Close). Everything handled is saved.
      if (unsaved > 0) {
        absl::Status saved = save();
        if (!saved.ok() && absl::IsCancelled(event.status())) {
          status_ = saved;
          return;
        }
      }
      if (!absl::IsCancelled(event.status())) status_ = event.status();
      return;
    }
    if (absl::Status handled = handler_(*event); !handled.ok()) {
      // The failed event is not checkpointed: a restart delivers it again.
      status_ = handled;
      return;
    }
    if (++unsaved >= checkpoint_every_) {
      if (absl::Status saved = save(); !saved.ok()) {
        status_ = saved;
        return;
      }
    }
  }
}

}  // namespace annals
