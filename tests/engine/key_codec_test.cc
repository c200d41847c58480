// Key encodings: byte order equals numeric order, and parsing inverts encoding.
#include "key_codec.h"

#include "gtest/gtest.h"

namespace annals::internal {
namespace {

TEST(KeyCodecTest, LogKeysSortNumerically) {
  EXPECT_LT(LogKey(Position(1)), LogKey(Position(2)));
  EXPECT_LT(LogKey(Position(255)), LogKey(Position(256)));
  EXPECT_LT(LogKey(Position(0xffffffffull)), LogKey(Position(0x100000000ull)));
  EXPECT_EQ(LogKey(Position(0x0102030405060708ull)),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
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

// The read-side keys (annals/read_side_keys.h), byte for byte as
// docs/FORMAT.md gives them.
TEST(KeyCodecTest, ReadModelKeysAreNameVersionThenTheProjectionsKey) {
  using extension::ReadModelKeyPrefix;
  EXPECT_EQ(ReadModelKeyPrefix("counts", 1), std::string("counts\0\0\0\0\1", 11));
  EXPECT_EQ(ReadModelKeyPrefix("counts", 0x01020304), std::string("counts\0\x01\x02\x03\x04", 11));
  // Versions sort numerically; one version's rows never interleave with
  // another's, nor with a projection whose name extends this one's.
  EXPECT_LT(ReadModelKeyPrefix("counts", 255) + "\xff", ReadModelKeyPrefix("counts", 256));
  EXPECT_EQ(extension::PrefixEnd(ReadModelKeyPrefix("counts", 1)), ReadModelKeyPrefix("counts", 2));
  EXPECT_LT(extension::PrefixEnd(ReadModelKeyPrefix("counts", ~0u)),
            ReadModelKeyPrefix("counts-2", 1));
}

TEST(KeyCodecTest, ProjectionKeysAreTagNameVersionPosition) {
  using extension::ProjectionKeyKind;
  const std::string checkpoint = extension::ProjectionCheckpointKey("counts", 2);
  EXPECT_EQ(checkpoint, std::string("c\0counts\0\0\0\0\2", 13));
  EXPECT_EQ(extension::ParseProjectionKeyKind(checkpoint), ProjectionKeyKind::kCheckpoint);
  const std::string parked = extension::ParkedEventKey("counts", 2, Position(0x0102));
  EXPECT_EQ(parked, std::string("p\0counts\0\0\0\0\2\0\0\0\0\0\0\x01\x02", 21));
  EXPECT_TRUE(parked.starts_with(extension::ParkedEventKeyPrefix("counts", 2)));
  EXPECT_EQ(extension::ParseParkedEventKey(parked), Position(0x0102));
  EXPECT_LT(extension::ParkedEventKey("counts", 2, Position(255)),
            extension::ParkedEventKey("counts", 2, Position(256)));
  EXPECT_FALSE(extension::ParseParkedEventKey(checkpoint).has_value());
  const std::string serving = extension::ServingVersionKey("counts");
  EXPECT_EQ(serving, std::string("s\0counts", 8));
  EXPECT_TRUE(serving.starts_with(extension::ServingVersionKeyPrefix()));
  EXPECT_EQ(extension::ParseServingVersionKey(serving), "counts");
  EXPECT_FALSE(extension::ParseServingVersionKey(checkpoint).has_value());
  EXPECT_FALSE(extension::ParseProjectionKeyKind(std::string("x\0counts", 8)).has_value());
  EXPECT_FALSE(extension::ParseProjectionKeyKind(std::string("c", 1)).has_value());
}

TEST(KeyCodecTest, ConsumerGroupKeysAreTagNameAndPosition) {
  using extension::ProjectionKeyKind;
  const std::string group = extension::ConsumerGroupKey("billing");
  EXPECT_EQ(group, std::string("g\0billing", 9));
  EXPECT_EQ(extension::ParseProjectionKeyKind(group), ProjectionKeyKind::kConsumerGroup);
  EXPECT_TRUE(group.starts_with(extension::ConsumerGroupKeyPrefix()));
  EXPECT_EQ(extension::ParseConsumerGroupKey(group), "billing");
  const std::string parked = extension::GroupParkedKey("billing", Position(0x0102));
  EXPECT_EQ(parked, std::string("q\0billing\0\0\0\0\0\0\0\x01\x02", 18));
  EXPECT_EQ(extension::ParseProjectionKeyKind(parked), ProjectionKeyKind::kGroupParked);
  EXPECT_TRUE(parked.starts_with(extension::GroupParkedKeyPrefix("billing")));
  // One group's parked events never interleave with a longer name's.
  EXPECT_FALSE(parked.starts_with(extension::GroupParkedKeyPrefix("bill")));
  EXPECT_EQ(extension::ParseGroupParkedKey(parked), Position(0x0102));
  EXPECT_LT(extension::GroupParkedKey("billing", Position(255)),
            extension::GroupParkedKey("billing", Position(256)));
  EXPECT_FALSE(extension::ParseGroupParkedKey(group).has_value());
  EXPECT_FALSE(extension::ParseConsumerGroupKey(parked).has_value());
  EXPECT_FALSE(extension::ParseConsumerGroupKey(std::string("g\0", 2)).has_value());
}

TEST(KeyCodecTest, PrefixEndBoundsExactlyThePrefixedKeys) {
  EXPECT_EQ(extension::PrefixEnd("ab"), "ac");
  EXPECT_EQ(extension::PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(extension::PrefixEnd(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(extension::PrefixEnd(""), "");
}

}  // namespace
}  // namespace annals::internal
