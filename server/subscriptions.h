// SubscriptionHub: one thread that waits on the store's head (WaitForHead)
// and wakes the calls parked on it, so a caught-up subscription costs no
// thread and no polling; it also ends every open call on shutdown.
#ifndef ANNALS_SERVER_SUBSCRIPTIONS_H_
#define ANNALS_SERVER_SUBSCRIPTIONS_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "annals/base/mutex.h"
#include "annals/event_store.h"

namespace annals::server {

// A call the hub knows. Its callbacks run under the hub's lock: they must
// not call back into the hub, and must be quick (they schedule work).
class HubMember {
 public:
  virtual void OnHeadMoved() = 0;
  virtual void OnServerClosing() = 0;

 protected:
  ~HubMember() = default;
};

class SubscriptionHub {
 public:
  explicit SubscriptionHub(EventStore& store);
  ~SubscriptionHub();  // Stop()
  SubscriptionHub(const SubscriptionHub&) = delete;
  SubscriptionHub& operator=(const SubscriptionHub&) = delete;

  // A call joins when it starts and leaves from its OnDone; once Leave
  // returns, the hub never calls it again. Join after CloseAll: the member
  // is told OnServerClosing at once.
  void Join(HubMember* member) ABSL_LOCKS_EXCLUDED(mu_);
  void Leave(HubMember* member) ABSL_LOCKS_EXCLUDED(mu_);

  // Parks `member` until the head passes `reached`. False if it already has
  // (the member goes on at once).
  bool Park(HubMember* member, Position reached) ABSL_LOCKS_EXCLUDED(mu_);

  // OnServerClosing for every member, now and for any that joins later.
  void CloseAll() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the thread. Idempotent; called by the hub's owner only.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();

  EventStore& store_;
  internal::Mutex mu_;
  absl::flat_hash_set<HubMember*> members_ ABSL_GUARDED_BY(mu_);
  // Each parked call, and the head it had read up to when it parked.
  absl::flat_hash_map<HubMember*, Position> parked_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace annals::server

#endif  // ANNALS_SERVER_SUBSCRIPTIONS_H_
