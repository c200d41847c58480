#include "subscriptions.h"

#include <algorithm>
#include <vector>

#include "annals/subscription.h"

namespace annals::server {
namespace {

// How long the hub waits on the head before it looks at `stopping_` again.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);

}  // namespace

SubscriptionHub::SubscriptionHub(EventStore& store) : store_(store) {
  thread_ = std::thread([this] { Loop(); });
}

SubscriptionHub::~SubscriptionHub() { Stop(); }

void SubscriptionHub::Join(HubMember* member) {
  internal::MutexLock lock(&mu_);
  members_.insert(member);
  if (closing_) member->OnServerClosing();
}

void SubscriptionHub::Leave(HubMember* member) {
  internal::MutexLock lock(&mu_);
  members_.erase(member);
  parked_.erase(member);
}

bool SubscriptionHub::Park(HubMember* member, Position reached) {
  internal::MutexLock lock(&mu_);
  // Checked under the lock the wake-up takes: an append after this check
  // moves the head past what Loop last saw, so Loop wakes us.
  if (store_.head() > reached || closing_) return false;
  if (parked_.empty()) mu_.SignalAll();  // Loop sleeps while none is parked
  parked_[member] = reached;
  return true;
}

void SubscriptionHub::CloseAll() {
  internal::MutexLock lock(&mu_);
  closing_ = true;
  parked_.clear();
  for (HubMember* member : members_) member->OnServerClosing();
}

void SubscriptionHub::Stop() {
  {
    internal::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void SubscriptionHub::Loop() {
  while (true) {
    // Waits on the head only while a call is parked: an idle hub costs the
    // writer no wake-up per commit.
    Position seen;
    {
      internal::MutexLock lock(&mu_);
      mu_.Await([this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !parked_.empty(); });
      if (stopping_) return;
      seen = parked_.begin()->second;
      for (const auto& [member, reached] : parked_) seen = std::min(seen, reached);
    }
    absl::StatusOr<Position> head = WaitForHead(store_, seen, kWaitSlice);
    if (!head.ok()) {
      if (absl::IsCancelled(head.status())) {
        // The store closed: nothing more will come. Wait to be stopped.
        internal::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; },
                             kWaitSlice);
      }
      continue;
    }
    internal::MutexLock lock(&mu_);
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (it->second < *head) {
        it->first->OnHeadMoved();
        parked_.erase(it++);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace annals::server
