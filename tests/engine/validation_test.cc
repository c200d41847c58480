// Bad input: each case gets a clear InvalidArgument and writes nothing; the
// '$' names StoreOptions::system_streams opens to appends.
#include "validation.h"

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "annals/event_store.h"
#include "annals/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

class ValidationTest : public ::testing::Test {
 protected:
  static StoreOptions SmallLimits() {
    StoreOptions options = testing::TestOptions();
    options.max_event_bytes = 1000;
    options.max_append_bytes = 2500;
    options.max_stream_name_bytes = 32;
    return options;
  }

  // Asserts the append is refused with InvalidArgument mentioning `what`,
  // and that the store is untouched.
  void ExpectRefused(AppendRequest request, const std::string& what) {
    EXPECT_THAT(store_->Append(request),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)));
    EXPECT_EQ(store_->head(), Position(0));
    auto all = store_->ReadAll();
    ASSERT_OK(all);
    EXPECT_FALSE((*all)->Valid());
  }

  TempStore store_{SmallLimits()};
};

TEST_F(ValidationTest, EmptyStreamName) {
  ExpectRefused({"", ExpectedRevision::Any(), {Event("A")}}, "empty");
}

TEST_F(ValidationTest, OversizedStreamName) {
  ExpectRefused({std::string(33, 'a'), ExpectedRevision::Any(), {Event("A")}}, "limit is 32");
}

TEST_F(ValidationTest, NonUtf8StreamName) {
  ExpectRefused({"order-\xff\xfe", ExpectedRevision::Any(), {Event("A")}}, "UTF-8");
  // Overlong encoding of '/', and a UTF-16 surrogate.
  ExpectRefused({"order-\xc0\xaf", ExpectedRevision::Any(), {Event("A")}}, "UTF-8");
  ExpectRefused({"order-\xed\xa0\x80", ExpectedRevision::Any(), {Event("A")}}, "UTF-8");
  ExpectRefused({"order-\xe2\x82", ExpectedRevision::Any(), {Event("A")}}, "UTF-8");
}

TEST_F(ValidationTest, StreamNameWithNul) {
  ExpectRefused({std::string("order\0-1", 8), ExpectedRevision::Any(), {Event("A")}}, "NUL");
}

TEST_F(ValidationTest, ReservedDollarPrefix) {
  ExpectRefused({"$all", ExpectedRevision::Any(), {Event("A")}}, "reserved");
}

TEST_F(ValidationTest, EmptyEventType) {
  ExpectRefused({"order-1", ExpectedRevision::Any(), {Event("A"), Event("")}},
                "event 1: event type is empty");
}

TEST_F(ValidationTest, NonUtf8EventType) {
  ExpectRefused({"order-1", ExpectedRevision::Any(), {Event("Item\xff")}}, "not valid UTF-8");
}

TEST_F(ValidationTest, EventOverTheSizeLimit) {
  ExpectRefused({"order-1", ExpectedRevision::Any(), {Event("A", std::string(1000, 'x'))}},
                "the limit is 1000");
}

TEST_F(ValidationTest, AppendOverTheSizeLimit) {
  std::vector<EventData> events;
  for (int i = 0; i < 3; ++i) events.push_back(Event("A", std::string(900, 'x')));
  ExpectRefused({"order-1", ExpectedRevision::Any(), events}, "the limit is 2500");
}

TEST_F(ValidationTest, AppendWithNoEvents) {
  ExpectRefused({"order-1", ExpectedRevision::Any(), {}}, "no events");
}

TEST_F(ValidationTest, DuplicateEventIdInOneAppend) {
  EventData a = Event("A");
  a.event_id = EventId::Generate();
  ExpectRefused({"order-1", ExpectedRevision::Any(), {a, a}}, "appears twice");
}

TEST_F(ValidationTest, MultiAppendWithTheSameStreamTwice) {
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::Any(), {Event("A")}});
  request.appends.push_back({"order-1", ExpectedRevision::Any(), {Event("B")}});
  EXPECT_THAT(store_->AppendMulti(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("appears twice")));
  EXPECT_EQ(store_->head(), Position(0));
}

TEST_F(ValidationTest, MultiAppendCheckingAWrittenStream) {
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::Any(), {Event("A")}});
  request.conditions.push_back({"order-1", ExpectedRevision::NoStream()});
  EXPECT_THAT(store_->AppendMulti(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("both written and checked")));
  EXPECT_EQ(store_->head(), Position(0));
}

TEST_F(ValidationTest, MultiAppendWithABadPartWritesNoPart) {
  MultiAppendRequest request;
  request.appends.push_back({"order-1", ExpectedRevision::Any(), {Event("A")}});
  request.appends.push_back({"$bad", ExpectedRevision::Any(), {Event("B")}});
  EXPECT_THAT(store_->AppendMulti(request), StatusIs(absl::StatusCode::kInvalidArgument));
  MultiAppendRequest empty;
  EXPECT_THAT(store_->AppendMulti(empty), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store_->head(), Position(0));
}

TEST_F(ValidationTest, BadNamesOnReadsAreInvalidArgument) {
  EXPECT_THAT(store_->ReadStream(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->ReadStream("$all"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->GetStreamInfo("a\xff"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// StoreOptions::system_streams: exact '$' names a server appends to.
StoreOptions WithSettingsStream() {
  StoreOptions options = TestOptions();
  options.system_streams = {"$settings"};
  return options;
}

TEST(SystemStreamsTest, ADollarNameIsRefusedUnlessListed) {
  TempStore store;
  EXPECT_THAT(store->Append({"$settings", ExpectedRevision::Any(), {Event("$settings")}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")));
  EXPECT_EQ(store->head(), Position(0));
}

TEST(SystemStreamsTest, AListedNameIsAppendedReadAndInTheLog) {
  TempStore store(WithSettingsStream());
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("OrderPlaced")}}));
  ASSERT_OK_AND_ASSIGN(AppendResult written, store->Append({"$settings",
                                                            ExpectedRevision::NoStream(),
                                                            {Event("$settings", "{\"a\":1}")}}));
  EXPECT_EQ(written.first_position, Position(2));
  {
    ASSERT_OK_AND_ASSIGN(auto stream, store->ReadStream("$settings"));
    std::vector<EventRecord> events = Drain(*stream);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    ASSERT_OK_AND_ASSIGN(auto all, store->ReadAll());
    EXPECT_EQ(Drain(*all).size(), 2u);
    // A system event, as far as filters go.
    ASSERT_OK_AND_ASSIGN(auto user, store->ReadAll({.filter = {.exclude_system_events = true}}));
    std::vector<EventRecord> user_events = Drain(*user);
    ASSERT_EQ(user_events.size(), 1u);
    EXPECT_EQ(user_events[0].stream, "order-1");
  }
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store->GetStreamInfo("$settings"));
  EXPECT_EQ(info.last_revision, Revision(0));
  // Only the exact names listed; audit streams stay the engine's.
  auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(store->Append({"$settings-2", ExpectedRevision::Any(), {Event("E")}}),
              StatusIs(invalid));
  EXPECT_THAT(store->Append({"$$settings", ExpectedRevision::Any(), {Event("E")}}),
              StatusIs(invalid));
  EXPECT_THAT(store->Append({"$$$settings", ExpectedRevision::Any(), {Event("E")}}),
              StatusIs(invalid));
  EXPECT_EQ(store->head(), Position(2));
  store.Reopen();
  ASSERT_OK(store->Append({"$settings", ExpectedRevision::Exact(Revision(0)), {Event("E")}}));
}

TEST(SystemStreamsTest, NamesThatCannotBeSystemStreamsAreRefusedByOpen) {
  TempDir dir;
  for (const std::string& name :
       {std::string("settings"), std::string("$$settings"), std::string("$schemas"),
        std::string("$all"), std::string("$"), std::string("$a\0b", 4), std::string("$\xff")}) {
    SCOPED_TRACE(name);
    StoreOptions options = TestOptions();
    options.system_streams = {"$settings", name};
    EXPECT_THAT(EventStore::Open(dir.Sub("store"), options),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("system_streams")));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("store")));
}

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("commande-\xc3\xa9t\xc3\xa9"));  // é
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));                // €
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x93\xa6"));            // 📦
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));           // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));                       // lone continuation
  // The store's checks (internal::) are this public function.
  EXPECT_EQ(&internal::IsValidUtf8, &IsValidUtf8);
}

TEST(Utf8Test, BoundariesOfEachLength) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // U+0000 is a code point
  EXPECT_TRUE(IsValidUtf8("\x7f"));                  // U+007F
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));              // U+0080
  EXPECT_TRUE(IsValidUtf8("\xdf\xbf"));              // U+07FF
  EXPECT_TRUE(IsValidUtf8("\xe0\xa0\x80"));          // U+0800
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));          // U+D7FF, below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));          // U+E000, above them
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbf"));          // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xf0\x90\x80\x80"));      // U+10000
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF, the last
}

TEST(Utf8Test, RefusesOverlongSurrogatesAndBrokenSequences) {
  for (const char* bad : {
           "\xc0\x80",              // overlong U+0000
           "\xc1\xbf",              // overlong U+007F
           "\xe0\x9f\xbf",          // overlong U+07FF
           "\xf0\x8f\xbf\xbf",      // overlong U+FFFF
           "\xed\xa0\x80",          // U+D800, a surrogate
           "\xed\xbf\xbf",          // U+DFFF
           "\xf5\x80\x80\x80",      // past U+10FFFF
           "\xf8\x88\x80\x80\x80",  // five-byte form
           "\xfe", "\xff",
           "\xe2\x82",        // truncated
           "\xf0\x9f\x93",    // truncated at the end
           "\xc3(",           // a continuation byte expected
           "ok\xe2\x28\xa1",  // the second byte is no continuation
       }) {
    EXPECT_FALSE(IsValidUtf8(bad)) << absl::CHexEscape(bad);
  }
}

}  // namespace
}  // namespace annals::testing
