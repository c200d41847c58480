// The `annals` tool end to end on the schema registry: schema add and list,
// breaking changes refused unless allowed and recorded, and payloads that
// no longer decode as their registered message.
#include <fstream>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/schemas.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/descriptors.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#include "tests/tools/tool_test_util.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(ToolTest, SchemaAddMakesProtobufPayloadsReadable) {
  // A store whose events carry google.protobuf.Duration payloads, with no
  // content type naming the message.
  const std::string path = dir_->Sub("durations");
  {
    auto store = EventStore::Open(path, TestOptions());
    ASSERT_OK(store.status());
    google::protobuf::Duration d;
    d.set_seconds(90);
    EventData e;
    e.type = "Duration";
    e.data = d.SerializeAsString();
    ASSERT_OK((*store)->Append({"timer-1", ExpectedRevision::Any(), {e}}).status());
  }
  Json before = RunTool({"--store", path, "--json", "read", "timer-1"}).json();
  EXPECT_TRUE(before[0]["data"].contains("base64"));
  // protoc --include_imports -o FILE: here made from the linked descriptor.
  google::protobuf::FileDescriptorSet set;
  google::protobuf::Duration::descriptor()->file()->CopyTo(set.add_file());
  const std::string desc = dir_->Sub("duration.desc");
  std::ofstream(desc, std::ios::binary) << set.SerializeAsString();
  Result add = RunTool({"--store", path, "--json", "schema", "add", desc});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.json()["bindings"]["Duration"], "google.protobuf.Duration");
  Result bound = RunTool({"--store", path, "--json", "schema", "add", desc, "--bind",
                          "Timer=google.protobuf.Duration"});
  ASSERT_EQ(bound.code, 0) << bound.err;
  EXPECT_EQ(bound.json()["files"][0], "google/protobuf/duration.proto");
  Json after = RunTool({"--store", path, "--json", "read", "timer-1"}).json();
  EXPECT_EQ(after[0]["data"], "90s");
  Result list = RunTool({"--store", path, "schema", "list"});
  EXPECT_THAT(list.out, HasSubstr("google.protobuf.Duration"));
  // Bad input: not a descriptor set, a binding to nothing, no file.
  const std::string junk = dir_->Sub("junk.desc");
  std::ofstream(junk) << "junk";
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", junk}).code, 2);
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", desc, "--bind", "Timer=no.Such"}).code, 2);
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", desc, "--bind", "novalue"}).code, 2);
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", dir_->Sub("none.desc")}).code, 3);
  // The example store's schemas, registered through the library API.
  Result orders = Tool({"schema", "list"});
  EXPECT_THAT(orders.out, HasSubstr("annals.examples.orders.ItemAdded"));
}

// The schema a store's OrderPlaced events were written with, and a v2 that
// changes the type of field 1 and of the nested Address's field 1.
google::protobuf::FileDescriptorProto ShopSchema(bool v2) {
  std::string text = R"pb(
    name: "shop.proto"
    package: "shop"
    syntax: "proto3"
    message_type {
      name: "OrderPlaced"
      field { name: "customer" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
      field { name: "total" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
      field {
        name: "address"
        number: 4
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".shop.Address"
      }
    }
    message_type {
      name: "Address"
      field { name: "zip" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
  )pb";
  google::protobuf::FileDescriptorProto file = testing::FileProto(text);
  if (v2) {
    file.mutable_message_type(0)->mutable_field(0)->set_type(
        google::protobuf::FieldDescriptorProto::TYPE_INT64);
    file.mutable_message_type(1)->mutable_field(0)->set_type(
        google::protobuf::FieldDescriptorProto::TYPE_INT64);
  }
  return file;
}

// A store of OrderPlaced events written with ShopSchema(false): bound by
// type (order-1), named by the content type (order-2), and one whose only
// field is the nested address (order-3); plus a payload of no known message.
std::string MakeShopStore(const std::string& path) {
  auto store = EventStore::Open(path, TestOptions());
  EXPECT_OK(store.status());
  auto placed = [](const std::string& text, const std::string& content_type) {
    EventData e =
        Event("OrderPlaced", testing::EncodeMessage({ShopSchema(false)}, "shop.OrderPlaced", text));
    e.content_type = content_type;
    return e;
  };
  EXPECT_OK(
      (*store)
          ->Append({"order-1",
                    ExpectedRevision::Any(),
                    {placed(R"pb(customer: "c-17" total: 2500)pb", "application/x-protobuf")}})
          .status());
  EXPECT_OK((*store)
                ->Append({"order-2",
                          ExpectedRevision::Any(),
                          {placed(R"pb(customer: "c-18")pb",
                                  "application/x-protobuf; messageType=shop.OrderPlaced")}})
                .status());
  EXPECT_OK((*store)
                ->Append({"order-3",
                          ExpectedRevision::Any(),
                          {placed(R"pb(address { zip: "10115" })pb", "application/x-protobuf")}})
                .status());
  EventData blob = Event("Blob", "\x01\x02");
  blob.content_type = "application/octet-stream";
  EXPECT_OK((*store)->Append({"blob-1", ExpectedRevision::Any(), {blob}}).status());
  EXPECT_OK(RegisterSchemas(**store, testing::DescriptorSet({ShopSchema(false)}),
                            {{"OrderPlaced", "shop.OrderPlaced"}}));
  return path;
}

TEST_F(ToolTest, SchemaAddRefusesBreakingChangesUnlessAllowedAndRecorded) {
  const std::string path = MakeShopStore(dir_->Sub("shop-refuse"));
  const std::string v2 = dir_->Sub("shop-v2.desc");
  std::ofstream(v2, std::ios::binary) << testing::DescriptorSet({ShopSchema(true)});
  Result refused = RunTool({"--store", path, "schema", "add", v2});
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err,
              HasSubstr("annals: shop.OrderPlaced field 1 'customer': type string -> int64\n"));
  EXPECT_THAT(refused.err, HasSubstr("annals: shop.Address field 1 'zip': type string -> int64\n"));
  EXPECT_THAT(refused.err,
              HasSubstr("2 breaking changes to messages of stored events; nothing registered"));
  EXPECT_THAT(refused.err, HasSubstr("(FAILED_PRECONDITION)"));
  // Nothing registered: the events still decode with the old schema.
  Json read = RunTool({"--store", path, "--json", "read", "order-1"}).json();
  EXPECT_EQ(read[0]["data"]["customer"], "c-17");
  EXPECT_THAT(RunTool({"--store", path, "read", "$schemas"}).code, 3);
  // --allow-breaking needs a reason.
  EXPECT_EQ(RunTool({"--store", path, "schema", "add", v2, "--allow-breaking"}).code, 2);
  Result allowed = RunTool({"--store", path, "--json", "schema", "add", v2, "--allow-breaking",
                            "--reason", "customer ids are numbers now"},
                           {"USER=ops-bot"});
  ASSERT_EQ(allowed.code, 0) << allowed.err;
  EXPECT_EQ(allowed.json()["breaking_changes"].size(), 2u);
  EXPECT_EQ(allowed.json()["recorded_in"], "$schemas");
  Result audit = RunTool({"--store", path, "--json", "read", "$schemas"});
  ASSERT_EQ(audit.code, 0) << audit.err;
  const Json event = audit.json()[0];
  EXPECT_EQ(event["type"], "$schemasChanged");
  EXPECT_EQ(event["metadata"]["actor"], "ops-bot");
  EXPECT_EQ(event["metadata"]["reason"], "customer ids are numbers now");
  EXPECT_EQ(event["data"]["breakingChanges"][0],
            "shop.OrderPlaced field 1 'customer': type string -> int64");
  EXPECT_EQ(event["data"]["files"][0], "shop.proto");
  EXPECT_EQ(RunTool({"--store", path, "verify"}).code, 0);
}

TEST_F(ToolTest, PayloadThatDoesNotDecodeIsAnErrorNeverEmpty) {
  const std::string path = MakeShopStore(dir_->Sub("shop-decode"));
  const std::string v2 = dir_->Sub("shop-v2-decode.desc");
  std::ofstream(v2, std::ios::binary) << testing::DescriptorSet({ShopSchema(true)});
  ASSERT_EQ(
      RunTool({"--store", path, "schema", "add", v2, "--allow-breaking", "--reason", "test"}).code,
      0);
  const std::string order1 =
      "event at position 1 (OrderPlaced) does not decode as shop.OrderPlaced: field 1 has another "
      "wire type than "
      "the schema says (length-delimited; the schema has 'customer' int64)";
  // Every command that prints or folds payloads fails with the error.
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"read", "order-1"},
                                             {"--json", "read", "order-1"},
                                             {"read"},
                                             {"tail", "order-1"},
                                             {"audit", "--type", "OrderPlaced"},
                                             {"state", "order-1"},
                                             {"replay", "order-1"}}) {
    std::vector<std::string> args = {"--store", path};
    args.insert(args.end(), command.begin(), command.end());
    Result run = RunTool(args);
    EXPECT_EQ(run.code, 1) << command.back();
    EXPECT_THAT(run.err, HasSubstr(order1)) << command.back();
    EXPECT_THAT(run.err, HasSubstr("DATA_LOSS")) << command.back();  // JSON with --json
    EXPECT_THAT(run.out, Not(HasSubstr("{}"))) << command.back();
  }
  // Named by the content type; a nested message.
  EXPECT_THAT(
      RunTool({"--store", path, "read", "order-2"}).err,
      HasSubstr(
          "event at position 2 (OrderPlaced) does not decode as shop.OrderPlaced: field 1 has"));
  EXPECT_THAT(
      RunTool({"--store", path, "read", "order-3"}).err,
      HasSubstr("event at position 3 (OrderPlaced) does not decode as shop.OrderPlaced: field 4 "
                "'address' > field 1 has another wire type than the schema says"));
  // A payload of no known message still shows as base64.
  Result blob = RunTool({"--store", path, "--json", "read", "blob-1"});
  ASSERT_EQ(blob.code, 0) << blob.err;
  EXPECT_EQ(blob.json()[0]["data"]["base64"], "AQI=");
  EXPECT_EQ(blob.json()[0]["data"]["content_type"], "application/octet-stream");
}

}  // namespace
}  // namespace annals::testing
