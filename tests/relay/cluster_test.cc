// The relay and a replica over a JetStream cluster of three nats-servers on
// loopback (a stream of 3 replicas): one member SIGKILLed while a writer
// appends, the relay publishes and the follower imports, then restarted.
// Nothing is lost, nothing doubled, and the replica converges to the log.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/event_store.h"
#include "annals/follow.h"
#include "annals/relay.h"
#include "annals/stats.h"
#include "gtest/gtest.h"
#include "tests/relay/nats_testing.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

constexpr int kRounds = 4000;  // 5 events each: 20,000

// Retries `open` until the cluster answers (its JetStream needs a leader
// first) or 60 s pass.
template <typename T, typename Open>
absl::StatusOr<T> WhenReady(Open open) {
  absl::StatusOr<T> opened = open();
  for (const absl::Time deadline = absl::Now() + absl::Seconds(60);
       !opened.ok() && absl::Now() < deadline; opened = open()) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  return opened;
}

TEST(RelayClusterTest, AMemberKilledDuringRelayingAndFollowingLosesAndDoublesNothing) {
  TempDir dir;
  NatsCluster cluster(dir.path());
  ASSERT_TRUE(cluster.Start()) << "nats-server did not start (apt-get install nats-server)";
  TempStore primary, replica;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<relay::Sink> sink,
                       WhenReady<std::unique_ptr<relay::Sink>>([&] {
                         return relay::OpenNatsSink({.url = cluster.urls(), .replicas = 3});
                       }));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<relay::Source> source,
                       WhenReady<std::unique_ptr<relay::Source>>(
                           [&] { return relay::OpenNatsSource({.url = cluster.urls()}); }));

  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_OK(primary
                    ->Append({.stream = absl::StrCat("order-", i % 40),
                              .events = {Event("Placed"), Event("Paid")}})
                    .status());
      MultiAppendRequest multi;
      for (int s = 0; s < 3; ++s) {
        multi.appends.push_back(
            {.stream = absl::StrCat("stock-", (i + s) % 30), .events = {Event("Moved")}});
      }
      ASSERT_OK(primary->AppendMulti(std::move(multi)).status());
      written = i + 1;
      if (i % 10 == 0) absl::SleepFor(absl::Milliseconds(2));
    }
  });
  relay::RelayStatus relayed;
  std::thread relayer([&] {
    absl::StatusOr<relay::RelayStatus> status = relay::Relay(*primary, *sink, {.stop = &stop});
    ASSERT_OK(status.status());
    relayed = *status;
  });
  relay::FollowStatus followed;
  std::thread follower([&] {
    absl::StatusOr<relay::FollowStatus> status = relay::Follow(*replica, *source, {.stop = &stop});
    ASSERT_OK(status.status());
    followed = *status;
  });

  // One member dies a while into the run and comes back later.
  while (written < kRounds / 4) absl::SleepFor(absl::Milliseconds(10));
  cluster.member(0).Kill();
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(cluster.member(0).Restart()) << "nats-server did not restart";

  writer.join();
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (replica->head() != primary->head() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  stop = true;
  relayer.join();
  follower.join();
  Reader reader(cluster.urls());
  ASSERT_EQ(replica->head(), primary->head())
      << "the replica did not converge; the stream holds " << reader.Count()
      << " messages; relay: " << relayed.retries << " retries, last " << relayed.last_error
      << "; follower: " << followed.retries << " retries, last " << followed.last_error;

  const std::vector<EventRecord> events = ReadAllOf(*primary);
  ASSERT_EQ(events.size(), static_cast<size_t>(kRounds * 5));
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*primary));
  ExpectSameLog(reader.All(), events, id);
  ExpectSameEvents(ReadAllOf(*replica), events);
  // (Whether a side retried depends on which member it was connected to.)
  EXPECT_GT(relayed.published, 0u);
  EXPECT_GT(followed.imported, 0u);
  RecordProperty("relay_retries", static_cast<int>(relayed.retries));
  RecordProperty("follow_retries", static_cast<int>(followed.retries));
}

}  // namespace
}  // namespace annals::testing
