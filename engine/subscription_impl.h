// Internal: SubscriptionImpl, the implementation behind annals/subscription.h.
//
// A subscription owns no thread and takes nothing from the writer but a
// wake-up: Next() reads the next batch of events from the store after the
// last position it scanned, bounded by the published head, and when it has
// caught up sleeps until the writer publishes a new head (Writer::
// AwaitHeadBeyond). Catch-up and live delivery are the same read, so the
// switch between them can neither skip nor repeat an event, and a slow
// consumer only reads further behind (docs/ARCHITECTURE.md).
#ifndef ANNALS_ENGINE_SUBSCRIPTION_IMPL_H_
#define ANNALS_ENGINE_SUBSCRIPTION_IMPL_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "annals/base/mutex.h"
#include "annals/subscription.h"
#include "storage.h"
#include "writer.h"

namespace annals::internal {

// The durable subscriber names with an open subscription (one per name).
struct OpenSubscribers {
  Mutex mu;
  absl::flat_hash_set<std::string> names ABSL_GUARDED_BY(mu);
};

// A canonical text of `filter`, stored with a checkpoint so that a reopened
// durable subscriber must ask for the same events.
std::string FilterKey(const EventFilter& filter);

class SubscriptionImpl final : public Subscription {
 public:
  // Validates `options`, claims the durable name and loads its checkpoint.
  static absl::StatusOr<std::unique_ptr<Subscription>> Create(std::shared_ptr<Storage> storage,
                                                              std::shared_ptr<Writer> writer,
                                                              std::shared_ptr<OpenSubscribers> open,
                                                              const SubscribeOptions& options,
                                                              bool sync);
  ~SubscriptionImpl() override;

  absl::StatusOr<EventRecord> Next(absl::Duration timeout) override;
  Position reached() const override { return Position(reached_.load(std::memory_order_acquire)); }
  absl::Status SaveCheckpoint() override;
  void Stop() override;

 private:
  SubscriptionImpl(std::shared_ptr<Storage> storage, std::shared_ptr<Writer> writer,
                   std::shared_ptr<OpenSubscribers> open, const SubscribeOptions& options,
                   bool sync);
  absl::Status Start();
  // Reads the events after scanned_ up to `head` (at most a batch) into
  // buffer_, and advances scanned_ over what it looked at.
  absl::Status Refill(Position head);
  absl::Status RefillStream(Position head);

  // Constant after construction.
  const std::shared_ptr<Storage> storage_;
  const std::shared_ptr<Writer> writer_;
  const std::shared_ptr<OpenSubscribers> open_;
  const SubscribeOptions options_;
  const bool sync_;
  const std::string filter_key_;

  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> reached_{0};
  bool holds_name_ = false;

  // The consumer's thread only (Next, SaveCheckpoint).
  uint64_t scanned_ = 0;                  // every position up to it is buffered or filtered out
  uint64_t next_revision_ = 0;            // stream: the next revision to read
  uint64_t delivered_next_revision_ = 0;  // stream: after the last event delivered
  std::deque<EventRecord> buffer_;
};

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_SUBSCRIPTION_IMPL_H_
