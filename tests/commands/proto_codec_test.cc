// The protobuf codecs: binary and JSON payloads round-trip (either codec
// reads either encoding), unknown types and damaged bytes are refused, and
// CheckRequiredFields names what is missing.
#include <variant>

#include "annals/proto_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "orders/orders.h"
#include "tests/commands/order_commands.h"
#include "tests/testing/status_matchers.h"

namespace annals::testing {
namespace {

using ::annals::examples::orders::AddItem;
using ::annals::examples::orders::ItemAdded;
using ::annals::examples::orders::OrderEvents;

TEST(ProtoCodecTest, JsonAndBinaryRoundTrip) {
  OrderEvents binary;
  OrderEvents json(OrderEvents::Encoding::kJson);
  ItemAdded added;
  added.mutable_item()->set_sku("sku-1");
  added.mutable_item()->set_quantity(3);
  ASSERT_OK_AND_ASSIGN(EventData as_json, json.Encode(added));
  EXPECT_EQ(as_json.type, "ItemAdded");
  EXPECT_EQ(as_json.content_type, "application/json; messageType=annals.examples.orders.ItemAdded");
  EXPECT_THAT(as_json.data, ::testing::HasSubstr("\"sku\":\"sku-1\""));
  EventRecord record{
      .type = as_json.type, .data = as_json.data, .content_type = as_json.content_type};
  // Either codec reads either encoding.
  ASSERT_OK_AND_ASSIGN(auto decoded, binary.Decode(record));
  EXPECT_EQ(std::get<ItemAdded>(decoded).item().quantity(), 3);
  record.type = "Unknown";
  EXPECT_THAT(binary.Decode(record), StatusIs(absl::StatusCode::kInvalidArgument));
  record.type = "ItemAdded";
  record.content_type = "application/x-protobuf";
  record.data = "\xff\xff";
  EXPECT_THAT(binary.Decode(record), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(ProtoCodecTest, CheckRequiredFieldsNamesWhatIsMissing) {
  AddItem empty;
  EXPECT_THAT(CheckRequiredFields(empty, {"item"}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("item")));
  EXPECT_THAT(CheckRequiredFields(empty, {"nope"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(CheckRequiredFields(Add("a", 1, 1), {"item"}));
}

}  // namespace
}  // namespace annals::testing
