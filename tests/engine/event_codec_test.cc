// The stored-event codec: every field round-trips, unknown fields are
// skipped, and damaged bytes are DataLoss rather than a wrong event.
#include "event_codec.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace annals::internal {
namespace {

using ::annals::testing::StatusIs;

storage::v1::StoredEvent SampleEvent() {
  storage::v1::StoredEvent event;
  event.set_stream_id(7);
  event.set_stream("order-42");
  event.set_revision(3);
  event.set_position(1234567890123ull);
  event.set_event_id(std::string(EventId::Generate().AsBytes()));
  event.set_type("ItemAdded");
  event.set_data(std::string("{\"sku\":\"A\"}\0binary", 18));
  event.set_content_type("application/json");
  for (auto [key, value] : {std::pair{"tenant", "acme"}, std::pair{"user", "alice"}}) {
    storage::v1::MetadataEntry* entry = event.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  event.set_correlation_id("corr");
  event.set_causation_id("cause");
  event.set_recorded_at_us(1'700'000'000'123'456);
  return event;
}

TEST(EventCodecTest, EveryFieldRoundTrips) {
  storage::v1::StoredEvent event = SampleEvent();
  ChainHash hash;
  std::string value = EncodeStoredEvent(event, kGenesisChainHash, &hash);
  EventRecord record;
  ASSERT_OK(DecodeStoredEvent(value, &record));
  EXPECT_EQ(record.stream, "order-42");
  EXPECT_EQ(record.revision, Revision(3));
  EXPECT_EQ(record.position, Position(1234567890123ull));
  EXPECT_EQ(record.event_id.AsBytes(), event.event_id());
  EXPECT_EQ(record.type, "ItemAdded");
  EXPECT_EQ(record.data, event.data());
  EXPECT_EQ(record.content_type, "application/json");
  EXPECT_EQ(record.metadata,
            (std::map<std::string, std::string>{{"tenant", "acme"}, {"user", "alice"}}));
  EXPECT_EQ(record.correlation_id, "corr");
  EXPECT_EQ(record.causation_id, "cause");
  EXPECT_EQ(record.recorded_at, absl::FromUnixMicros(1'700'000'000'123'456));
}

TEST(EventCodecTest, ReusedRecordKeepsNothingOfThePreviousEvent) {
  ChainHash hash;
  EventRecord record;
  ASSERT_OK(DecodeStoredEvent(EncodeStoredEvent(SampleEvent(), kGenesisChainHash, &hash), &record));
  storage::v1::StoredEvent sparse;
  sparse.set_stream("s");
  sparse.set_type("T");
  sparse.set_event_id(std::string(16, '\x01'));
  ASSERT_OK(DecodeStoredEvent(EncodeStoredEvent(sparse, kGenesisChainHash, &hash), &record));
  EXPECT_TRUE(record.metadata.empty());
  EXPECT_TRUE(record.data.empty());
  EXPECT_TRUE(record.correlation_id.empty());
  EXPECT_EQ(record.revision, Revision(0));
}

TEST(EventCodecTest, DamagedBytesAreDataLoss) {
  ChainHash hash;
  std::string value = EncodeStoredEvent(SampleEvent(), kGenesisChainHash, &hash);
  EventRecord record;
  EXPECT_THAT(DecodeStoredEvent(value.substr(0, value.size() / 2), &record),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(DecodeStoredEvent("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", &record),
              StatusIs(absl::StatusCode::kDataLoss));
  storage::v1::StoredEvent bad_id = SampleEvent();
  bad_id.set_event_id("short");
  EXPECT_THAT(DecodeStoredEvent(bad_id.SerializeAsString(), &record),
              StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace annals::internal
