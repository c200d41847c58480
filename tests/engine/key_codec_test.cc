// Key encodings: byte order equals numeric order, and parsing inverts encoding.
#include "key_codec.h"

#include "gtest/gtest.h"

namespace annals::internal {
namespace {

TEST(KeyCodecTest, LogKeysSortNumerically) {
  EXPECT_LT(LogKey(Position(1)), LogKey(Position(2)));
  EXPECT_LT(LogKey(Position(255)), LogKey(Position(256)));
  EXPECT_LT(LogKey(Position(0xffffffffull)), LogKey(Position(0x100000000ull)));
  EXPECT_EQ(LogKey(Position(0x0102030405060708ull)), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}

TEST(KeyCodecTest, LogKeyRoundTrips) {
  EXPECT_EQ(ParseLogKey(LogKey(Position(123456789))), Position(123456789));
  EXPECT_FALSE(ParseLogKey("short").has_value());
}

TEST(KeyCodecTest, StreamEventKeysGroupByStreamThenRevision) {
  EXPECT_LT(StreamEventKey(1, Revision(1000)), StreamEventKey(2, Revision(0)));
  EXPECT_LT(StreamEventKey(1, Revision(9)), StreamEventKey(1, Revision(10)));
  EXPECT_LT(StreamEventKey(1, Revision(~0ull)), StreamEventsEnd(1));
  auto parts = ParseStreamEventKey(StreamEventKey(7, Revision(42)));
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->stream_id, 7u);
  EXPECT_EQ(parts->revision, Revision(42));
}

TEST(KeyCodecTest, EventIdEntriesRoundTrip) {
  EventId id = EventId::Generate();
  std::string key = EventIdKey(id, 5);
  EXPECT_EQ(key.size(), kEventIdKeySize);
  EXPECT_EQ(key.substr(0, 16), id.AsBytes());
  auto value = DecodeEventIdValue(EncodeEventIdValue({Position(9), Revision(3)}));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->position, Position(9));
  EXPECT_EQ(value->revision, Revision(3));
  EXPECT_FALSE(DecodeEventIdValue("bad").has_value());
}

TEST(KeyCodecTest, IndexKeyAfterNameSkipsToTheNextName) {
  // "A" < "A\x01x" < "AB": seeking past "A" lands on the next name, even one
  // that starts with it.
  EXPECT_LT(IndexKey("A", Position(~0ull)), IndexKeyAfterName("A"));
  EXPECT_LT(IndexKeyAfterName("A"), IndexKey("A\x01x", Position(1)));
  EXPECT_LT(IndexKeyAfterName("A"), IndexKey("AB", Position(1)));
  EXPECT_EQ(ParseIndexKeyName(IndexKey("OrderPlaced", Position(7))), "OrderPlaced");
  EXPECT_EQ(ParseIndexKeyPosition(IndexKey("OrderPlaced", Position(7))), Position(7));
  EXPECT_FALSE(ParseIndexKeyName("short").has_value());
}

}  // namespace
}  // namespace annals::internal
