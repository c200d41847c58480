// Durable subscribers across crashes: crash_subscriber appends and follows
// its own log with a durable subscription; the test SIGKILLs it at random
// moments and restarts it. Within a run delivery is exactly once (positions
// consecutive); across a crash it is at least once: a restart resumes
// after a checkpoint no older than the last one acknowledged (saved
// checkpoints are durable) and no newer than the last event handled (no
// event is skipped). ANNALS_CRASH_ROUNDS sets the rounds (default 20).
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gtest/gtest.h"
#include "tests/crash/kill_child.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

TEST(SubscriberCrashTest, DurableSubscribersResumeAtLeastOnceAfterSigkill) {
  const char* rounds_env = std::getenv("ANNALS_CRASH_ROUNDS");
  const int rounds = rounds_env ? std::max(1, std::atoi(rounds_env) / 25) : 20;
  testing::TempDir dir;
  const std::string path = dir.Sub("store");
  std::mt19937_64 rng(7);
  uint64_t last_checkpoint = 0, last_handled = 0, handled_total = 0;
  for (int round = 0; round < rounds; ++round) {
    std::istringstream lines(testing::RunAndKill(ANNALS_CRASH_SUBSCRIBER_PATH, path, rng));
    std::string kind;
    uint64_t position = 0;
    uint64_t previous = 0;
    bool first = true;
    while (lines >> kind >> position) {
      if (kind == "C") {
        // Every event matches the filter: the checkpoint is the last handled.
        ASSERT_EQ(position, previous)
            << "round " << round << ": checkpoint is not the last event handled";
        last_checkpoint = position;
        continue;
      }
      ASSERT_EQ(kind, "E");
      if (first) {
        // Resumes after a checkpoint at least as new as the last one
        // acknowledged, and skips nothing handled-or-not after it.
        ASSERT_GT(position, last_checkpoint)
            << "round " << round << ": resumed before a saved checkpoint";
        ASSERT_LE(position, last_handled + 1) << "round " << round << ": skipped events";
        first = false;
      } else {
        ASSERT_EQ(position, previous + 1) << "round " << round << ": gap or duplicate in one run";
      }
      previous = position;
      last_handled = std::max(last_handled, position);
      ++handled_total;
    }
    ASSERT_FALSE(first) << "round " << round << " handled nothing";
  }
  auto store = EventStore::Open(path, testing::TestOptions());
  ASSERT_OK(store.status());
  ASSERT_OK_AND_ASSIGN(auto subscribers, ListSubscribers(**store));
  ASSERT_EQ(subscribers.size(), 1u);
  EXPECT_GE(subscribers[0].checkpoint.value(), last_checkpoint);
  EXPECT_LE(subscribers[0].checkpoint.value(), last_handled);
  std::printf("%d rounds: %lu events handled, last checkpoint %lu\n", rounds,
              static_cast<unsigned long>(handled_total),
              static_cast<unsigned long>(last_checkpoint));
}

}  // namespace
}  // namespace annals
