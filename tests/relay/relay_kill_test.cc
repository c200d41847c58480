// The relay's exactly-once claim under crashes: while a writer appends 50k
// events (single, multi-event and multi-stream appends), `annals relay`
// follows the log from a read-only handle and is SIGKILLed at random moments
// (at least 10 times, restarted each time), and nats-server is SIGKILLed and
// restarted under it (at least twice). Afterwards the JetStream stream holds
// exactly the store's log: the same count, each position once, in order, with
// bodies and headers equal to ReadAll's records.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/event_store.h"
#include "annals/stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/relay/nats_testing.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kEvents = 50'000;
constexpr int kRelayKills = 12;
constexpr int kBrokerRestarts = 3;

// `annals relay` following the log, its output appended to `log`.
pid_t StartRelay(const std::string& store, const std::string& url, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execl(ANNALS_TOOL_PATH, ANNALS_TOOL_PATH, "relay", "--store", store.c_str(), "--nats",
          url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// SIGKILLs a relay; true if it was still running (it must never end by
// itself while following).
bool KillRelay(pid_t pid) {
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Appends kEvents events in every shape, a few at a time, paced so that the
// relay is killed and the broker restarted while the writer is busy.
void Write(EventStore& store, std::atomic<bool>& done, std::atomic<int>& failures) {
  std::mt19937_64 rng(7);
  int written = 0;
  for (int i = 0; written < kEvents; ++i) {
    const int left = kEvents - written;
    absl::Status appended;
    switch (i % 3) {
      case 0:
        appended = store
                       .Append({.stream = absl::StrCat("order-", rng() % 50),
                                .events = {Event("Placed", absl::StrCat(R"({"i":)", i, "}"))}})
                       .status();
        written += 1;
        break;
      case 1: {
        std::vector<EventData> events;
        const int n = std::min<int>(left, 1 + static_cast<int>(rng() % 10));
        for (int j = 0; j < n; ++j) events.push_back(Event("Line", absl::StrCat(i, "/", j)));
        appended =
            store.Append({.stream = absl::StrCat("cart-", rng() % 50), .events = std::move(events)})
                .status();
        written += n;
        break;
      }
      default: {
        MultiAppendRequest multi;
        int n = 0;
        for (int s = 0; s < 3 && n < left; ++s) {
          EventData e = Event("Moved", std::string("\0\xff bin", 6));
          e.metadata = {{"leg", absl::StrCat(s)}};
          multi.appends.push_back(
              {.stream = absl::StrCat("stock.", s, "-", rng() % 20), .events = {std::move(e)}});
          ++n;
        }
        appended = store.AppendMulti(std::move(multi)).status();
        written += n;
      }
    }
    if (!appended.ok()) {
      ADD_FAILURE() << appended;
      failures.fetch_add(1);
      break;
    }
    absl::SleepFor(absl::Microseconds(400));
  }
  done = true;
}

TEST(RelayKillTest, KilledRelaysAndARestartedBrokerStillLeaveEachEventOnceInOrder) {
  TempStore store;  // the application: open for writing throughout
  const std::string path = store.path() + "/store";
  const std::string log = store.path() + "/relay.log";
  NatsServer nats(store.path() + "/nats");
  ASSERT_TRUE(nats.Start()) << "nats-server did not start (apt-get install nats-server)";
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE(absl::StrCat("seed ", seed, "; the relays' output: ", log));

  std::atomic<bool> written{false};
  std::atomic<int> failures{0};
  std::thread writer([&] { Write(*store, written, failures); });
  int kills = 0;
  int restarts = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while ((kills < kRelayKills || !written) && absl::Now() < deadline) {
    const pid_t relay = StartRelay(path, nats.url(), log);
    ASSERT_GT(relay, 0);
    absl::SleepFor(absl::Milliseconds(100 + rng() % 700));
    // Every fourth run the broker dies under the relay and comes back: the
    // relay reconnects and resumes from what the broker kept (given time
    // for it before it is killed in turn).
    if (restarts < kBrokerRestarts && kills % 4 == 2) {
      ASSERT_TRUE(nats.Restart()) << "nats-server did not restart";
      ++restarts;
      absl::SleepFor(absl::Milliseconds(1500 + rng() % 1000));
    }
    ASSERT_TRUE(KillRelay(relay)) << "a following relay ended by itself:\n" << Slurp(log);
    ++kills;
  }
  writer.join();
  ASSERT_EQ(failures, 0);
  ASSERT_TRUE(written) << "the writer did not finish in time";
  EXPECT_GE(kills, kRelayKills);
  EXPECT_EQ(restarts, kBrokerRestarts);

  // The relays did the work while being killed, not only the last run, and
  // one that lived through a broker restart went on by itself.
  Reader reader(nats.url());
  EXPECT_GE(reader.Count(), static_cast<uint64_t>(kEvents / 2));
  EXPECT_THAT(Slurp(log), HasSubstr("lost the connection to the broker"));

  // A last run up to the head, then the stream must be the log.
  std::string out;
  const std::string once = absl::StrCat(ANNALS_TOOL_PATH, " relay --store ", path, " --nats ",
                                        nats.url(), " --once 2>&1");
  FILE* pipe = popen(once.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << out;
  const std::vector<EventRecord> events = ReadAllOf(*store);
  ASSERT_EQ(events.size(), static_cast<size_t>(kEvents));
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*store));
  ExpectSameLog(reader.All(), events, id);
}

}  // namespace
}  // namespace annals::testing
