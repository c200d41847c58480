// The relay against a real nats-server (JetStream, started here on a free
// loopback port with a fresh directory, stopped by its pid): every event
// once, in order, with its headers and body; resuming from the broker's own
// state; another store's stream and foreign messages refused; two relays at
// once; Scavenge's gaps carried. Subjects and header encodings too.
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
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
using ::testing::Not;

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = std::make_unique<NatsServer>(dir_.Sub("nats"));
    ASSERT_TRUE(nats_->Start()) << "nats-server did not start (apt-get install nats-server)";
  }

  absl::StatusOr<relay::RelayStatus> RelayOnce(EventStore& store) {
    absl::StatusOr<std::unique_ptr<relay::Sink>> sink = relay::OpenNatsSink({.url = nats_->url()});
    if (!sink.ok()) return sink.status();
    return relay::Relay(store, **sink, {.once = true, .max_retries = 3});
  }

  TempDir dir_;
  std::unique_ptr<NatsServer> nats_;
};

// Events of every shape: several streams in one append, metadata, ids,
// binary bodies, stream names with what subjects forbid.
void AppendVaried(EventStore& store, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    EventData a = Event("Placed", absl::StrCat(R"({"i":)", i, "}"));
    a.content_type = "application/json";
    a.metadata = {{"user", "ana & bob=1"}, {"bin", std::string("\0\n\xff", 3)}};
    a.correlation_id = absl::StrCat("corr-", i);
    a.causation_id = "cause 1";
    EventData b = Event("Shipped", std::string("\0\x01\x02 body\r\n", 10));
    ASSERT_OK(store.Append({.stream = absl::StrCat("order-", i % 5), .events = {a, b}}));
    MultiAppendRequest multi;
    multi.appends.push_back({.stream = "weird.name *> x", .events = {Event("Odd")}});
    multi.appends.push_back({.stream = "kunde-Grüße%", .events = {Event("Unicode")}});
    ASSERT_OK(store.AppendMulti(std::move(multi)));
  }
}

TEST_F(RelayTest, EveryEventIsPublishedOnceInOrderWithItsHeadersAndBody) {
  TempStore store;
  AppendVaried(*store, 20);
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*store));
  ASSERT_OK_AND_ASSIGN(relay::RelayStatus status, RelayOnce(*store));
  EXPECT_EQ(status.store_id, id);
  EXPECT_EQ(status.resumed_at, Position(0));
  EXPECT_EQ(status.published, 80u);
  EXPECT_EQ(status.published_to, store->head());
  Reader reader(nats_->url());
  ExpectSameLog(reader.All(), ReadAllOf(*store), id);
}

TEST_F(RelayTest, ARunResumesAfterTheBrokersLastMessageAndPublishesOnlyWhatIsNew) {
  TempStore store;
  AppendVaried(*store, 5);
  ASSERT_OK(RelayOnce(*store).status());
  ASSERT_OK_AND_ASSIGN(relay::RelayStatus again, RelayOnce(*store));
  EXPECT_EQ(again.published, 0u);
  EXPECT_EQ(again.resumed_at, store->head());
  AppendVaried(*store, 3);
  ASSERT_OK_AND_ASSIGN(relay::RelayStatus more, RelayOnce(*store));
  EXPECT_EQ(more.published, 12u);
  Reader reader(nats_->url());
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*store));
  ExpectSameLog(reader.All(), ReadAllOf(*store), id);
}

TEST_F(RelayTest, AReadOnlyHandleBesideTheWriterRelaysWhatTheWriterCommitted) {
  TempStore store;
  AppendVaried(*store, 4);
  StoreOptions read_only = TestOptions();
  read_only.read_only = true;
  read_only.create_if_missing = false;
  ASSERT_OK_AND_ASSIGN(auto reader_store, EventStore::Open(store.path() + "/store", read_only));
  AppendVaried(*store, 2);  // after the reader opened: Relay catches up first
  ASSERT_OK_AND_ASSIGN(relay::RelayStatus status, RelayOnce(*reader_store));
  EXPECT_EQ(status.published, 24u);
  Reader reader(nats_->url());
  EXPECT_EQ(reader.Count(), 24u);
}

TEST_F(RelayTest, AStreamHoldingAnotherStoresLogIsRefusedAndNothingIsPublished) {
  TempStore first, second;
  AppendVaried(*first, 2);
  AppendVaried(*second, 2);
  ASSERT_OK(RelayOnce(*first).status());
  ASSERT_OK_AND_ASSIGN(const std::string first_id, GetStoreId(*first));
  EXPECT_THAT(RelayOnce(*second),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(first_id)));
  Reader reader(nats_->url());
  EXPECT_EQ(reader.Count(), 8u);
}

TEST_F(RelayTest, AStreamWhoseLastMessageIsForeignIsRefused) {
  TempStore store;
  AppendVaried(*store, 2);
  ASSERT_OK(RelayOnce(*store).status());
  Reader reader(nats_->url());
  reader.PublishForeign();
  AppendVaried(*store, 1);
  EXPECT_THAT(RelayOnce(*store),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not an annals event")));
  EXPECT_EQ(reader.Count(), 9u);
}

TEST_F(RelayTest, TwoRelaysAtOnceStillPublishEachEventOnce) {
  TempStore store;
  for (int i = 0; i < 40; ++i) {
    std::vector<EventData> events;
    for (int j = 0; j < 50; ++j) events.push_back(Event("E", absl::StrCat(i, "/", j)));
    ASSERT_OK(store->Append({.stream = absl::StrCat("s-", i % 7), .events = std::move(events)}));
  }
  std::vector<std::thread> relays;
  std::atomic<int> failed{0};
  for (int r = 0; r < 2; ++r) {
    relays.emplace_back([&] {
      absl::StatusOr<std::unique_ptr<relay::Sink>> sink =
          relay::OpenNatsSink({.url = nats_->url(), .max_in_flight = 64});
      if (!sink.ok()) {
        ADD_FAILURE() << sink.status();
        ++failed;
        return;
      }
      absl::StatusOr<relay::RelayStatus> status =
          relay::Relay(*store, **sink, {.once = true, .retry_min = absl::Milliseconds(1)});
      if (!status.ok()) {
        ADD_FAILURE() << status.status();
        ++failed;
      }
    });
  }
  for (std::thread& t : relays) t.join();
  EXPECT_EQ(failed.load(), 0);
  Reader reader(nats_->url());
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*store));
  ExpectSameLog(reader.All(), ReadAllOf(*store), id);
}

TEST_F(RelayTest, PositionsThatScavengeRemovedAreGapsAndNothingElse) {
  TempStore store;
  for (int i = 0; i < 30; ++i) {
    ASSERT_OK(store->Append({.stream = absl::StrCat("t-", i % 3), .events = {Event("E")}}));
  }
  ASSERT_OK(RelayOnce(*store).status());  // 1..30
  for (int i = 0; i < 30; ++i) {
    ASSERT_OK(store->Append({.stream = "trimmed-1", .events = {Event("E")}}));
  }
  ASSERT_OK(store->SetStreamMetadata("trimmed-1", {.max_count = 2}).status());
  ASSERT_OK(Scavenge(*store).status());
  ASSERT_OK(store->Append({.stream = "after-1", .events = {Event("E")}}));
  ASSERT_OK_AND_ASSIGN(relay::RelayStatus status, RelayOnce(*store));
  const std::vector<EventRecord> events = ReadAllOf(*store);
  ASSERT_LT(events.size(), static_cast<size_t>(store->head().value()));  // gaps exist
  EXPECT_EQ(status.published, events.size() - 30);
  Reader reader(nats_->url());
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*store));
  ExpectSameLog(reader.All(), events, id);
}

TEST_F(RelayTest, BadOptionsAndAnUnreachableBrokerAreClearErrors) {
  EXPECT_THAT(relay::OpenNatsSink({.url = nats_->url(), .stream = "a.b"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stream name")));
  EXPECT_THAT(relay::OpenNatsSink({.url = nats_->url(), .stream = ""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(relay::OpenNatsSink({.url = nats_->url(), .subject_prefix = "a.>"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subject prefix")));
  EXPECT_THAT(relay::OpenNatsSink({.url = nats_->url(), .replicas = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("replicas")));
  EXPECT_THAT(relay::OpenNatsSink({.url = absl::StrCat("nats://127.0.0.1:", FreePort())}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("connect")));
  TempStore store;
  ASSERT_OK_AND_ASSIGN(auto sink, relay::OpenNatsSink({.url = nats_->url()}));
  EXPECT_THAT(relay::Relay(*store, *sink, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stop flag")));
  Reader reader(nats_->url());
  EXPECT_EQ(reader.Count(), 0u);
}

TEST_F(RelayTest, ABrokersLimitIsAClearErrorAndWhatItTookIsThereOnce) {
  Reader reader(nats_->url());
  reader.CreateLimitedStream(10);
  TempStore store;
  AppendVaried(*store, 5);  // 20 events
  absl::StatusOr<std::unique_ptr<relay::Sink>> sink = relay::OpenNatsSink({.url = nats_->url()});
  ASSERT_OK(sink.status());
  EXPECT_THAT(relay::Relay(*store, **sink,
                           {.once = true, .retry_min = absl::Milliseconds(1), .max_retries = 3}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("maximum messages")));
  std::vector<EventRecord> events = ReadAllOf(*store);
  events.resize(10);
  ASSERT_OK_AND_ASSIGN(const std::string id, GetStoreId(*store));
  ExpectSameLog(reader.All(), events, id);
}

TEST(RelayAuthTest, RefusedCredentialsArePermissionDeniedWithoutThePasswordAndGoodOnesWork) {
  TempDir dir;
  NatsServer nats(dir.Sub("nats"), {"--user", "annals", "--pass", "s3cret"});
  ASSERT_TRUE(nats.Start()) << "nats-server did not start (apt-get install nats-server)";
  const std::string host = nats.url().substr(std::string("nats://").size());
  EXPECT_THAT(relay::OpenNatsSink({.url = nats.url()}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("credentials")));
  absl::StatusOr<std::unique_ptr<relay::Sink>> wrong =
      relay::OpenNatsSink({.url = absl::StrCat("nats://annals:wrong-one@", host)});
  EXPECT_THAT(wrong, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(wrong.status().message(), Not(HasSubstr("wrong-one")));
  EXPECT_THAT(relay::OpenNatsSource({.url = nats.url()}),
              StatusIs(absl::StatusCode::kPermissionDenied));
  const std::string good = absl::StrCat("nats://annals:s3cret@", host);
  TempStore store;
  AppendVaried(*store, 2);
  ASSERT_OK_AND_ASSIGN(auto sink, relay::OpenNatsSink({.url = good}));
  ASSERT_OK(relay::Relay(*store, *sink, {.once = true}).status());
  Reader reader(good);
  EXPECT_EQ(reader.Count(), 8u);
}

#ifdef ANNALS_TOOL_PATH
TEST_F(RelayTest, TheToolRelaysOnceBesideTheApplicationAndRefusesAnotherStoresStream) {
  TempStore store;  // stays open: the tool opens it read-only beside it
  AppendVaried(*store, 3);
  const std::string path = store.path() + "/store";
  Result once = RunTool({"relay", "--store", path, "--nats", nats_->url(), "--once"});
  ASSERT_EQ(once.code, 0) << once.err;
  EXPECT_THAT(once.out, HasSubstr("relayed 12 events, at position 12 of 12"));
  Result json = RunTool({"relay", "--store", path, "--nats", nats_->url(), "--once", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.json()["published"], 0);
  EXPECT_EQ(json.json()["lag_events"], 0);
  TempStore other;
  AppendVaried(*other, 1);
  Result refused =
      RunTool({"relay", "--store", other.path() + "/store", "--nats", nats_->url(), "--once"});
  EXPECT_NE(refused.code, 0);
  EXPECT_THAT(refused.err, HasSubstr("holds the log of store"));
  EXPECT_NE(
      RunTool({"relay", "--store", path, "--nats", nats_->url(), "--once", "--replicas", "9"}).code,
      0);
  Reader reader(nats_->url());
  EXPECT_EQ(reader.Count(), 12u);
}
#endif

TEST(RelayEncodingTest, SubjectsEscapeWhatNatsForbidsAndKeepTheRest) {
  EXPECT_EQ(relay::SubjectOf("annals", "order-42"), "annals.order.order-42");
  EXPECT_EQ(relay::SubjectOf("annals", "plain"), "annals.plain.plain");
  EXPECT_EQ(relay::SubjectOf("annals", "a.b*c>d e\tf%-1"),
            "annals.a%2Eb%2Ac%3Ed%20e%09f%25.a%2Eb%2Ac%3Ed%20e%09f%25-1");
  EXPECT_EQ(relay::SubjectOf("annals", "-x"), "annals.%.-x");
  EXPECT_EQ(relay::SubjectOf("x.y", "Grüße-1"), "x.y.Grüße.Grüße-1");
}

TEST(RelayEncodingTest, HeaderValuesAndMetadataRoundTripAndMalformedOnesAreRefused) {
  const std::string any("a b\r\n%\0\xff=&z", 11);
  EXPECT_EQ(relay::EncodeHeaderValue(any), "a%20b%0D%0A%25%00%FF=&z");
  EXPECT_EQ(relay::DecodeHeaderValue(relay::EncodeHeaderValue(any)), any);
  EXPECT_EQ(relay::DecodeHeaderValue("%4a%4A"), "JJ");
  EXPECT_EQ(relay::DecodeHeaderValue("%"), std::nullopt);
  EXPECT_EQ(relay::DecodeHeaderValue("ab%4"), std::nullopt);
  EXPECT_EQ(relay::DecodeHeaderValue("%zz"), std::nullopt);
  const std::map<std::string, std::string> metadata = {{"k=1&", any}, {"empty", ""}};
  EXPECT_EQ(relay::DecodeMetadata(relay::EncodeMetadata(metadata)), metadata);
  EXPECT_EQ(relay::DecodeMetadata(""), (std::map<std::string, std::string>{}));
  EXPECT_EQ(relay::DecodeMetadata("novalue"), std::nullopt);
  EXPECT_EQ(relay::DecodeMetadata("a=1&a=2"), std::nullopt);
}

}  // namespace
}  // namespace annals::testing
