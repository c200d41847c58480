// Read replicas fed from the relayed log (annals/follow.h) against a real
// nats-server: position-identical to the primary (every field, the hash
// chain), read-only for applications at every open, converging while the
// primary writes, resuming without gap or duplicate after SIGKILL, and
// refusing another store's stream, foreign messages and a store with
// events of its own.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/event_store.h"
#include "annals/follow.h"
#include "annals/maintenance.h"
#include "annals/relay.h"
#include "annals/stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/relay/nats_testing.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#ifdef ANNALS_TOOL_PATH
#include "tests/tools/run_tool.h"
#endif

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

// Events of every shape.
void AppendShapes(EventStore& store, int rounds, int offset = 0) {
  for (int i = offset; i < offset + rounds; ++i) {
    EventData a = Event("Placed", absl::StrCat(R"({"i":)", i, "}"));
    a.metadata = {{"user", "ana & bob=1"}, {"bin", std::string("\0\n\xff", 3)}};
    a.correlation_id = absl::StrCat("corr-", i);
    a.causation_id = "cause 1";
    EventData b = Event("Shipped", std::string("\0\x01\x02 body\r\n", 10));
    b.content_type = "application/octet-stream";
    ASSERT_OK(store.Append({.stream = absl::StrCat("order-", i % 5), .events = {a, b}}));
    MultiAppendRequest multi;
    multi.appends.push_back({.stream = "weird.name *> x", .events = {Event("Odd")}});
    multi.appends.push_back({.stream = "kunde-Grüße%", .events = {Event("Unicode")}});
    ASSERT_OK(store.AppendMulti(std::move(multi)));
  }
}

class FollowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = std::make_unique<NatsServer>(dir_.Sub("nats"));
    ASSERT_TRUE(nats_->Start()) << "nats-server did not start (apt-get install nats-server)";
  }

  absl::Status RelayOnce(EventStore& store) {
    absl::StatusOr<std::unique_ptr<relay::Sink>> sink = relay::OpenNatsSink({.url = nats_->url()});
    if (!sink.ok()) return sink.status();
    return relay::Relay(store, **sink, {.once = true, .max_retries = 3}).status();
  }

  absl::StatusOr<relay::FollowStatus> FollowOnce(EventStore& replica) {
    absl::StatusOr<std::unique_ptr<relay::Source>> source =
        relay::OpenNatsSource({.url = nats_->url()});
    if (!source.ok()) return source.status();
    return relay::Follow(replica, **source, {.once = true, .max_retries = 3});
  }

  TempDir dir_;
  std::unique_ptr<NatsServer> nats_;
};

TEST_F(FollowTest, AReplicaIsPositionIdenticalToItsPrimaryWithTheSameHashChain) {
  TempStore primary, replica;
  AppendShapes(*primary, 25);
  ASSERT_OK(RelayOnce(*primary));
  ASSERT_OK_AND_ASSIGN(relay::FollowStatus status, FollowOnce(*replica));
  EXPECT_EQ(status.imported, 100u);
  EXPECT_EQ(status.head, primary->head());
  ASSERT_OK_AND_ASSIGN(const std::string primary_id, GetStoreId(*primary));
  EXPECT_EQ(status.primary_id, primary_id);
  EXPECT_THAT(GetReplicaOf(*replica), IsOkAndHolds(std::optional<std::string>(primary_id)));
  EXPECT_THAT(GetReplicaOf(*primary), IsOkAndHolds(std::optional<std::string>()));
  ASSERT_OK_AND_ASSIGN(const std::string replica_id, GetStoreId(*replica));
  EXPECT_NE(replica_id, primary_id);  // a store of its own, copying another
  ExpectSameEvents(ReadAllOf(*replica), ReadAllOf(*primary));
  ASSERT_OK_AND_ASSIGN(ChainHead primary_chain, ReadChainHead(*primary));
  ASSERT_OK_AND_ASSIGN(ChainHead replica_chain, ReadChainHead(*replica));
  EXPECT_EQ(replica_chain, primary_chain);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*replica));
  EXPECT_TRUE(report.ok());

  // Then more, and a second run imports only what is new.
  AppendShapes(*primary, 5, 100);
  ASSERT_OK(RelayOnce(*primary));
  ASSERT_OK_AND_ASSIGN(relay::FollowStatus more, FollowOnce(*replica));
  EXPECT_EQ(more.imported, 20u);
  ExpectSameEvents(ReadAllOf(*replica), ReadAllOf(*primary));
}

TEST_F(FollowTest, LifecycleChangesAndStreamMetadataReachTheReplica) {
  TempStore primary, replica;
  AppendShapes(*primary, 5);
  ASSERT_OK(primary->SetStreamMetadata("order-1", {.max_count = 1}).status());
  ASSERT_OK(primary->DeleteStream("order-2").status());
  ASSERT_OK(primary->TombstoneStream("order-3").status());
  ASSERT_OK(RelayOnce(*primary));
  ASSERT_OK(FollowOnce(*replica).status());
  ExpectSameEvents(ReadAllOf(*replica), ReadAllOf(*primary));
  EXPECT_THAT(replica->ReadStream("order-2"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(replica->ReadStream("order-3"), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(auto it, replica->ReadStream("order-1"));
  EXPECT_EQ(Drain(*it).size(), 1u);  // $maxCount holds there too
}

// (Every refusal, and after reopening: EventStoreTest in tests/engine.)
TEST_F(FollowTest, AFollowedReplicaRefusesAppendsAndFollowingStillWritesIt) {
  TempStore primary;
  AppendShapes(*primary, 2);
  ASSERT_OK(RelayOnce(*primary));
  TempStore replica;
  ASSERT_OK(FollowOnce(*replica).status());
  ASSERT_OK_AND_ASSIGN(const std::string primary_id, GetStoreId(*primary));
  EXPECT_THAT(replica->Append({.stream = "order-1", .events = {Event("X")}}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("read replica of store ", primary_id))));
  const Position head = replica->head();
  AppendShapes(*primary, 1, 50);
  ASSERT_OK(RelayOnce(*primary));
  ASSERT_OK(FollowOnce(*replica).status());
  EXPECT_GT(replica->head(), head);
  ExpectSameEvents(ReadAllOf(*replica), ReadAllOf(*primary));
}

TEST_F(FollowTest, AStoreWithEventsOfItsOwnAnotherStoresStreamAndForeignMessagesAreRefused) {
  TempStore primary, other;
  AppendShapes(*primary, 2);
  ASSERT_OK(RelayOnce(*primary));
  // A store with events of its own never becomes a replica.
  AppendShapes(*other, 1);
  EXPECT_THAT(FollowOnce(*other),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("events of its own")));
  // A replica of another primary is not fed from this stream.
  TempStore stranger;
  ASSERT_OK(MakeReplica(*stranger, EventId::Generate().ToString()));
  EXPECT_THAT(FollowOnce(*stranger),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not of")));
  EXPECT_EQ(stranger->head(), Position(0));
  // A foreign message after the events stops the follower where it is.
  TempStore replica;
  ASSERT_OK(FollowOnce(*replica).status());
  const Position head = replica->head();
  Reader reader(nats_->url());
  reader.PublishForeign();
  AppendShapes(*primary, 1, 10);
  EXPECT_THAT(FollowOnce(*replica),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not an annals event")));
  EXPECT_EQ(replica->head(), head);
}

TEST_F(FollowTest, BadOptionsAndAnUnreachableBrokerAreClearErrors) {
  EXPECT_THAT(relay::OpenNatsSource({.url = nats_->url(), .stream = "a.b"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(relay::OpenNatsSource({.url = nats_->url(), .subject_prefix = "x.>"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(relay::OpenNatsSource({.url = absl::StrCat("nats://127.0.0.1:", FreePort())}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("connect")));
  TempStore replica;
  ASSERT_OK_AND_ASSIGN(auto source, relay::OpenNatsSource({.url = nats_->url()}));
  EXPECT_THAT(relay::Follow(*replica, *source, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stop flag")));
  EXPECT_THAT(relay::Follow(*replica, *source, {.once = true, .batch_events = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing relayed yet: a run --once has nothing to do, and stays no replica.
  ASSERT_OK_AND_ASSIGN(relay::FollowStatus status,
                       relay::Follow(*replica, *source, {.once = true}));
  EXPECT_EQ(status.imported, 0u);
  EXPECT_THAT(GetReplicaOf(*replica), IsOkAndHolds(std::optional<std::string>()));
}

TEST_F(FollowTest, FollowingWhileThePrimaryTakesW1FastLoadConverges) {
  TempStore primary, replica;
  std::atomic<bool> stop{false};
  std::atomic<bool> written{false};
  // W1-fast: one event per append, as fast as the store takes them (sync off).
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) {
      ASSERT_OK(primary
                    ->Append({.stream = absl::StrCat("order-", i % 200),
                              .events = {Event("Placed", absl::StrCat(R"({"i":)", i, "}"))}})
                    .status());
    }
    written = true;
  });
  std::thread relayer([&] {
    auto sink = relay::OpenNatsSink({.url = nats_->url()});
    ASSERT_OK(sink.status());
    EXPECT_OK(relay::Relay(*primary, **sink, {.stop = &stop}).status());
  });
  std::thread follower([&] {
    auto source = relay::OpenNatsSource({.url = nats_->url()});
    ASSERT_OK(source.status());
    EXPECT_OK(relay::Follow(*replica, **source, {.stop = &stop}).status());
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!(written && replica->head() == primary->head()) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  stop = true;
  writer.join();
  relayer.join();
  follower.join();
  ASSERT_EQ(replica->head(), primary->head());
  ExpectSameEvents(ReadAllOf(*replica), ReadAllOf(*primary));
}

#ifdef ANNALS_TOOL_PATH
TEST_F(FollowTest, TheToolFollowsResumesAfterSigkillAndItsReplicaVerifiesAndExportsTheSame) {
  TempStore primary;
  AppendShapes(*primary, 200);
  ASSERT_OK(RelayOnce(*primary));
  const std::string replica = dir_.Sub("replica");
  // `annals follow` SIGKILLed at random moments, restarted each time.
  std::mt19937_64 rng(std::random_device{}());
  for (int kill_round = 0; kill_round < 6; ++kill_round) {
    AppendShapes(*primary, 50, 1000 + kill_round * 50);
    ASSERT_OK(RelayOnce(*primary));
    ToolProcess follow({"--store", replica, "follow", "--nats", nats_->url()});
    absl::SleepFor(absl::Milliseconds(50 + rng() % 400));
    follow.Signal(SIGKILL);
    const int status = follow.Wait();
    EXPECT_TRUE(WIFSIGNALED(status)) << "annals follow ended by itself";
  }
  Result once = RunTool({"--store", replica, "follow", "--nats", nats_->url(), "--once"});
  ASSERT_EQ(once.code, 0) << once.err;
  EXPECT_THAT(once.out, HasSubstr(absl::StrCat("at position ", primary->head().value(), " of ",
                                               primary->head().value())));
  Result json = RunTool({"--store", replica, "--json", "follow", "--nats", nats_->url(), "--once"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.json()["imported"], 0);
  EXPECT_EQ(json.json()["lag_events"], 0);
  for (const std::string& store : {primary.path() + "/store", replica}) {
    Result verify = RunTool({"--store", store, "verify"});
    EXPECT_EQ(verify.code, 0) << store << ": " << verify.out << verify.err;
  }
  // Byte-identical exports.
  Result primary_export = RunTool({"--store", primary.path() + "/store", "export"});
  Result replica_export = RunTool({"--store", replica, "export"});
  ASSERT_EQ(primary_export.code, 0) << primary_export.err;
  ASSERT_EQ(replica_export.code, 0) << replica_export.err;
  EXPECT_GT(primary_export.out.size(), 1000u);
  EXPECT_TRUE(primary_export.out == replica_export.out) << "the exports differ";
  // Appending to the replica through the tool is refused too.
  Result append = RunTool({"--store", replica, "append", "order-1", "--type", "X", "--data", "{}"});
  EXPECT_NE(append.code, 0);
  EXPECT_THAT(append.err, HasSubstr("read replica"));
}
#endif

}  // namespace
}  // namespace annals::testing
