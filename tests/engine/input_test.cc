// Every field of EventData and AppendRequest, given bytes that are not UTF-8,
// a NUL byte, or one byte too many: each is either refused with
// InvalidArgument before anything is written, or stored and read back byte
// for byte — and then nothing the store does with it (reads, stream
// listings, verify, snapshots, lifecycle, scavenge, import into another
// store) reports corruption. docs/FORMAT.md ("What each field may hold")
// states the same table.
#include <functional>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

constexpr size_t kFieldLimit = 64;
constexpr size_t kEventLimit = 4096;

StoreOptions Limits() {
  StoreOptions options = testing::TestOptions();
  options.max_field_bytes = kFieldLimit;
  options.max_stream_name_bytes = kFieldLimit;
  options.max_event_bytes = kEventLimit;
  return options;
}

enum class Bad { kNotUtf8, kNul, kTooLong };

std::string BadValue(Bad bad, size_t limit) {
  switch (bad) {
    case Bad::kNotUtf8:
      return std::string("x\xff\xfe\xc0\xaf", 5);
    case Bad::kNul:
      return std::string("a\0b", 3);
    case Bad::kTooLong:
      return std::string(limit + 1, 'v');
  }
  return "";
}

const char* Name(Bad bad) {
  switch (bad) {
    case Bad::kNotUtf8:
      return "not UTF-8";
    case Bad::kNul:
      return "NUL";
    case Bad::kTooLong:
      return "too long";
  }
  return "?";
}

struct Field {
  const char* name;
  // The limit "too long" goes past.
  size_t limit;
  // Puts `value` into the request.
  std::function<void(AppendRequest&, const std::string&)> set;
  // Reads it back from the stored event.
  std::function<std::string(const EventRecord&)> get;
  // Which kinds of bad value the field accepts (and must then round-trip).
  bool accepts_not_utf8, accepts_nul, accepts_too_long;
};

std::vector<Field> Fields() {
  auto event = [](AppendRequest& r) -> EventData& { return r.events.front(); };
  return {
      {"stream", kFieldLimit, [](AppendRequest& r, const std::string& v) { r.stream = v; },
       [](const EventRecord& e) { return e.stream; }, false, false, false},
      {"type", kFieldLimit, [=](AppendRequest& r, const std::string& v) { event(r).type = v; },
       [](const EventRecord& e) { return e.type; }, false, false, false},
      {"content_type", kFieldLimit,
       [=](AppendRequest& r, const std::string& v) { event(r).content_type = v; },
       [](const EventRecord& e) { return e.content_type; }, false, false, false},
      {"correlation_id", kFieldLimit,
       [=](AppendRequest& r, const std::string& v) { event(r).correlation_id = v; },
       [](const EventRecord& e) { return e.correlation_id; }, false, false, false},
      {"causation_id", kFieldLimit,
       [=](AppendRequest& r, const std::string& v) { event(r).causation_id = v; },
       [](const EventRecord& e) { return e.causation_id; }, false, false, false},
      {"metadata key", kFieldLimit,
       [=](AppendRequest& r, const std::string& v) { event(r).metadata[v] = "value"; },
       [](const EventRecord& e) { return e.metadata.empty() ? "" : e.metadata.begin()->first; },
       false, false, false},
      {"metadata value", kEventLimit,
       [=](AppendRequest& r, const std::string& v) { event(r).metadata["key"] = v; },
       [](const EventRecord& e) { return e.metadata.count("key") ? e.metadata.at("key") : ""; },
       true, true, false},
      {"data", kEventLimit, [=](AppendRequest& r, const std::string& v) { event(r).data = v; },
       [](const EventRecord& e) { return e.data; }, true, true, false},
  };
}

AppendRequest Plain() {
  EventData event;
  event.type = "Tested";
  event.data = "{}";
  event.content_type = "application/json";
  return AppendRequest{"input-1", ExpectedRevision::Any(), {event}};
}

// Everything a store does with its events, none of which may report
// corruption.
void ExpectNothingReportsCorruption(EventStore& store, const std::string& stream) {
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(store));
  EXPECT_TRUE(report.ok()) << report.problem;
  ASSERT_OK_AND_ASSIGN(std::vector<StreamInfo> streams, store.ListStreams());
  EXPECT_FALSE(streams.empty());
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store.GetStreamInfo(stream));
  ASSERT_OK(WriteSnapshot(store, {.stream = stream, .revision = info.last_revision, .state = "s"}));
  ASSERT_OK(ReadSnapshot(store, stream, info.last_revision).status());
  std::vector<EventRecord> events;
  {
    ASSERT_OK_AND_ASSIGN(auto all, store.ReadAll());
    events = Drain(*all);
  }
  // The events as another store imports them (what `annals import` does).
  TempStore copy(testing::TestOptions());
  ASSERT_OK(Import(*copy, events));
  ASSERT_OK_AND_ASSIGN(auto copied, copy->ReadAll());
  std::vector<EventRecord> copied_events = Drain(*copied);
  ASSERT_EQ(copied_events.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(copied_events[i].data, events[i].data);
    EXPECT_EQ(copied_events[i].metadata, events[i].metadata);
  }
  ASSERT_OK_AND_ASSIGN(VerifyReport copy_report, Verify(*copy));
  EXPECT_TRUE(copy_report.ok()) << copy_report.problem;
  // Lifecycle and physical removal read every stored event of the stream.
  ASSERT_OK(store.DeleteStream(stream).status());
  ASSERT_OK(Scavenge(store).status());
  ASSERT_OK_AND_ASSIGN(VerifyReport after, Verify(store));
  EXPECT_TRUE(after.ok()) << after.problem;
}

class InputTest : public ::testing::TestWithParam<Bad> {};

TEST_P(InputTest, EveryFieldIsRefusedOrRoundTripsAndNothingReportsCorruption) {
  for (const Field& field : Fields()) {
    SCOPED_TRACE(::testing::Message() << field.name << ", " << Name(GetParam()));
    TempStore store(Limits());
    const std::string value = BadValue(GetParam(), field.limit);
    AppendRequest request = Plain();
    field.set(request, value);
    const bool accepted = GetParam() == Bad::kNotUtf8 ? field.accepts_not_utf8
                          : GetParam() == Bad::kNul   ? field.accepts_nul
                                                      : field.accepts_too_long;
    absl::StatusOr<AppendResult> result = store->Append(request);
    if (!accepted) {
      EXPECT_THAT(result.status(), StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_EQ(store->head(), Position(0));
      ASSERT_OK_AND_ASSIGN(auto all, store->ReadAll());
      EXPECT_FALSE(all->Valid());
      // The same event in a multi-stream append and through Import: refused too.
      EXPECT_THAT(store->AppendMulti({.appends = {request}}).status(),
                  StatusIs(absl::StatusCode::kInvalidArgument));
      EventRecord record;
      record.stream = request.stream;
      record.position = Position(1);
      record.event_id = EventId::Generate();
      record.type = request.events[0].type;
      record.data = request.events[0].data;
      record.content_type = request.events[0].content_type;
      record.metadata = request.events[0].metadata;
      record.correlation_id = request.events[0].correlation_id;
      record.causation_id = request.events[0].causation_id;
      EXPECT_THAT(Import(*store, {record}), StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_EQ(store->head(), Position(0));
      continue;
    }
    ASSERT_OK(result.status());
    std::vector<EventRecord> events;
    {
      ASSERT_OK_AND_ASSIGN(auto it, store->ReadStream(request.stream));
      events = Drain(*it);  // the iterator keeps the files open: let it go
    }
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(field.get(events[0]), value);
    ExpectNothingReportsCorruption(*store, request.stream);
    // And after a reopen, from disk.
    store.Reopen();
    ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store));
    EXPECT_TRUE(report.ok()) << report.problem;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, InputTest,
                         ::testing::Values(Bad::kNotUtf8, Bad::kNul, Bad::kTooLong),
                         [](const auto& info) {
                           switch (info.param) {
                             case Bad::kNotUtf8:
                               return std::string("NotUtf8");
                             case Bad::kNul:
                               return std::string("Nul");
                             case Bad::kTooLong:
                               return std::string("TooLong");
                           }
                           return std::string("Unknown");
                         });

TEST(InputLimitsTest, ValuesAtTheLimitAreAccepted) {
  TempStore store(Limits());
  AppendRequest request = Plain();
  request.stream = std::string(kFieldLimit, 's');
  EventData& event = request.events.front();
  event.type = std::string(kFieldLimit, 't');
  event.content_type = std::string(kFieldLimit, 'c');
  event.correlation_id = std::string(kFieldLimit, 'r');
  event.causation_id = std::string(kFieldLimit, 'u');
  event.metadata[std::string(kFieldLimit, 'k')] = std::string(1000, '\xff');
  ASSERT_OK(store->Append(request).status());
  ExpectNothingReportsCorruption(*store, request.stream);
}

TEST(InputLimitsTest, ContentTypeIsPrintableAscii) {
  TempStore store(Limits());
  for (const std::string& bad : {std::string("application/json\n"), std::string("text/plain\t"),
                                 std::string("caf\xc3\xa9/x")}) {
    AppendRequest request = Plain();
    request.events.front().content_type = bad;
    EXPECT_THAT(store->Append(request).status(), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  AppendRequest request = Plain();
  request.events.front().content_type = "application/x-protobuf; messageType=shop.v1.OrderPlaced";
  EXPECT_OK(store->Append(request).status());
}

TEST(InputLimitsTest, AnEmptyMetadataKeyIsRefused) {
  TempStore store(Limits());
  AppendRequest request = Plain();
  request.events.front().metadata[""] = "x";
  EXPECT_THAT(store->Append(request).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(InputLimitsTest, LifecycleActorAndReasonAreBounded) {
  TempStore store(Limits());
  ASSERT_OK(store->Append(Plain()).status());
  EXPECT_THAT(store->DeleteStream("input-1", {.actor = std::string(kFieldLimit + 1, 'a')}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->DeleteStream("input-1", {.reason = "\xff"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store->head(), Position(1));
}

}  // namespace
}  // namespace annals::testing
