// SubscriptionWorker: the handler is called in order on the worker's
// thread, a durable checkpoint is saved every N events and on stop, a
// handler error stops it without checkpointing the event, and Close ends it.
// Run under TSan in CI.
#include <cstdint>
#include <vector>

#include "annals/event_store.h"
#include "annals/subscription_worker.h"
#include "gtest/gtest.h"
#include "tests/testing/counter.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/testing/writers.h"

namespace annals::testing {
namespace {

TEST(SubscriptionWorkerTest, CallsTheHandlerInOrderAndCheckpointsOnStop) {
  TempStore store;
  std::vector<uint64_t> seen;  // the worker's thread only, read after Stop
  Counter handled;
  {
    ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.durable_name = "worker"}));
    SubscriptionWorker worker(
        std::move(sub),
        [&](const EventRecord& e) {
          seen.push_back(e.position.value());
          handled.Add();
          return absl::OkStatus();
        },
        /*checkpoint_every=*/7);
    { Writers writers(store.get(), 2, 50); }
    EXPECT_TRUE(handled.WaitFor(100));  // every event handled
    worker.Stop();
    EXPECT_OK(worker.status());
  }
  ASSERT_EQ(seen.size(), 100u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
  ASSERT_OK_AND_ASSIGN(auto subscribers, ListSubscribers(*store));
  EXPECT_EQ(subscribers[0].checkpoint, Position(100));
}

TEST(SubscriptionWorkerTest, AHandlerErrorStopsTheWorkerWithoutCheckpointingTheEvent) {
  TempStore store;
  { Writers writers(store.get(), 1, 10); }
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({.durable_name = "fails"}));
  Counter calls;
  SubscriptionWorker worker(
      std::move(sub),
      [&](const EventRecord& e) {
        calls.Add();
        return e.position == Position(5) ? absl::InternalError("boom") : absl::OkStatus();
      },
      /*checkpoint_every=*/1);
  EXPECT_TRUE(calls.WaitFor(5));
  worker.Stop();
  EXPECT_THAT(worker.status(), StatusIs(absl::StatusCode::kInternal));
  ASSERT_OK_AND_ASSIGN(auto subscribers, ListSubscribers(*store));
  EXPECT_EQ(subscribers[0].checkpoint, Position(4));
}

TEST(SubscriptionWorkerTest, CloseEndsTheWorkerAndStopJoinsIt) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto sub, store->Subscribe({}));
  SubscriptionWorker worker(std::move(sub), [](const EventRecord&) { return absl::OkStatus(); });
  ASSERT_OK(store->Close());
  worker.Stop();
  EXPECT_OK(worker.status());
}

}  // namespace
}  // namespace annals::testing
