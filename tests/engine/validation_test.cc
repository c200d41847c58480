// Bad input: each case gets a clear InvalidArgument and writes nothing.
#include "validation.h"

#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

using ::annals::testing::Event;
using ::annals::testing::StatusIs;
using ::annals::testing::TempStore;
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

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_TRUE(internal::IsValidUtf8("plain ascii"));
  EXPECT_TRUE(internal::IsValidUtf8("commande-\xc3\xa9t\xc3\xa9"));      // é
  EXPECT_TRUE(internal::IsValidUtf8("\xe2\x82\xac"));                    // €
  EXPECT_TRUE(internal::IsValidUtf8("\xf0\x9f\x93\xa6"));                // 📦
  EXPECT_FALSE(internal::IsValidUtf8("\xf4\x90\x80\x80"));               // > U+10FFFF
  EXPECT_FALSE(internal::IsValidUtf8("\x80"));                           // lone continuation
}

}  // namespace
}  // namespace annals
