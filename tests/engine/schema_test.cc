// The schema registry's compatibility check (engine/schema_compat.cc) through
// RegisterSchemas: each protobuf rule refuses a registration
// that breaks stored events, with one line per change and nothing written;
// wire-compatible changes pass; only messages of stored events are checked;
// allow_breaking registers and records the change in `$schemas`.
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "annals/errors.h"
#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/proto_codec.h"
#include "annals/schemas.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "orders/orders.pb.h"
#include "tests/testing/descriptors.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::google::protobuf::FieldDescriptorProto;
using ::google::protobuf::FileDescriptorProto;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// The schema stored events were written with.
FileDescriptorProto ShopV1() {
  return FileProto(R"pb(
    name: "shop.proto"
    package: "shop"
    syntax: "proto3"
    message_type {
      name: "OrderPlaced"
      field { name: "customer" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
      field { name: "total" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 }
      field { name: "items" number: 3 label: LABEL_REPEATED type: TYPE_STRING }
      field {
        name: "address"
        number: 4
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".shop.Address"
      }
      field {
        name: "status"
        number: 5
        label: LABEL_OPTIONAL
        type: TYPE_ENUM
        type_name: ".shop.Status"
      }
      field {
        name: "tags"
        number: 6
        label: LABEL_REPEATED
        type: TYPE_MESSAGE
        type_name: ".shop.OrderPlaced.TagsEntry"
      }
      nested_type {
        name: "TagsEntry"
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
        options { map_entry: true }
      }
    }
    message_type {
      name: "Address"
      field { name: "zip" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
    message_type {
      name: "Location"
      field { name: "zip" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
    message_type {
      name: "Node"
      field {
        name: "next"
        number: 1
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".shop.Node"
      }
      field { name: "label" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
    enum_type {
      name: "Status"
      value { name: "NEW" number: 0 }
      value { name: "PAID" number: 1 }
    }
  )pb");
}

google::protobuf::DescriptorProto* Message(FileDescriptorProto& file, const std::string& name) {
  for (auto& message : *file.mutable_message_type()) {
    if (message.name() == name) return &message;
  }
  ADD_FAILURE() << "no message " << name;
  return file.add_message_type();
}

FieldDescriptorProto* Field(google::protobuf::DescriptorProto* message, int number) {
  for (auto& field : *message->mutable_field()) {
    if (field.number() == number) return &field;
  }
  ADD_FAILURE() << "no field " << number << " in " << message->name();
  return message->add_field();
}

void RemoveField(google::protobuf::DescriptorProto* message, int number) {
  auto* fields = message->mutable_field();
  for (int i = 0; i < fields->size(); ++i) {
    if (fields->Get(i).number() == number) {
      fields->DeleteSubrange(i, 1);
      return;
    }
  }
  ADD_FAILURE() << "no field " << number;
}

EventData Placed(const std::string& type,
                 const std::string& content_type = "application/x-protobuf") {
  EventData event = Event(type, EncodeMessage({ShopV1()}, "shop.OrderPlaced",
                                              R"pb(customer: "c-17"
                                                   total: 2500
                                                   items: "BOOK-1"
                                                   address { zip: "10115" }
                                                   status: PAID
                                                   tags { key: "gift" value: "yes" })pb"));
  event.content_type = content_type;
  return event;
}

// A store with one OrderPlaced event (bound to shop.OrderPlaced) and the
// schema it was written with.
class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(
        store_->Append({"order-1", ExpectedRevision::Any(), {Placed("OrderPlaced")}}).status());
    ASSERT_OK(
        RegisterSchemas(*store_, DescriptorSet({ShopV1()}), {{"OrderPlaced", "shop.OrderPlaced"}}));
  }

  absl::Status Register(const FileDescriptorProto& file,
                        const std::map<std::string, std::string>& bindings = {},
                        const SchemaRegistration& options = {}) {
    return RegisterSchemas(*store_, DescriptorSet({file}), bindings, options);
  }

  // The breaking changes `file` makes; empty if it registers.
  std::vector<std::string> Breaking(const FileDescriptorProto& file,
                                    const std::map<std::string, std::string>& bindings = {}) {
    const absl::Status s = Register(file, bindings);
    EXPECT_TRUE(s.ok() || IsBreakingSchemaChange(s)) << s;
    return GetBreakingSchemaChanges(s);
  }

  std::string StoredShop() {
    auto schemas = ReadSchemas(*store_);
    EXPECT_OK(schemas.status());
    return schemas.ok() ? schemas->files.at("shop.proto") : "";
  }

  TempStore store_;
};

TEST_F(SchemaTest, TypeChangeOnTheSameNumberIsRefusedAndWritesNothing) {
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "OrderPlaced"), 1)->set_type(FieldDescriptorProto::TYPE_INT64);
  const Position head = store_->head();
  const absl::Status refused = Register(v2, {{"Placed", "shop.OrderPlaced"}});
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition,
                                "shop.OrderPlaced field 1 'customer': type string -> int64"));
  EXPECT_TRUE(IsBreakingSchemaChange(refused));
  EXPECT_THAT(GetBreakingSchemaChanges(refused),
              ElementsAre("shop.OrderPlaced field 1 'customer': type string -> int64"));
  // Nothing written: neither the file, nor the binding, nor an event.
  EXPECT_EQ(StoredShop(), ShopV1().SerializeAsString());
  EXPECT_FALSE(ReadSchemas(*store_)->bindings.contains("Placed"));
  EXPECT_EQ(store_->head(), head);
  EXPECT_THAT(store_->ReadStream(kSchemasStream).status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SchemaTest, WireCompatibleChangesAreAcceptedAndRecordNothing) {
  FileDescriptorProto v2 = ShopV1();
  auto* placed = Message(v2, "OrderPlaced");
  Field(placed, 1)->set_name("customer_id");                      // renamed, same number and type
  Field(placed, 2)->set_type(FieldDescriptorProto::TYPE_INT64);   // int32 -> int64
  Field(placed, 3)->set_type(FieldDescriptorProto::TYPE_BYTES);   // string -> bytes
  Field(placed, 5)->set_type(FieldDescriptorProto::TYPE_UINT32);  // enum -> uint32
  Field(placed, 5)->clear_type_name();
  auto* note = placed->add_field();  // a new field
  note->set_name("note");
  note->set_number(7);
  note->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  note->set_type(FieldDescriptorProto::TYPE_STRING);
  // A renamed map field: its entry type is renamed with it.
  Field(placed, 6)->set_name("labels");
  Field(placed, 6)->set_type_name(".shop.OrderPlaced.LabelsEntry");
  placed->mutable_nested_type(0)->set_name("LabelsEntry");
  const Position head = store_->head();
  ASSERT_OK(Register(v2));
  EXPECT_EQ(StoredShop(), v2.SerializeAsString());
  // A registration without breaking changes appends nothing, even when
  // breaking would be allowed.
  ASSERT_OK(Register(v2, {}, {.allow_breaking = true, .actor = "ops", .reason = "again"}));
  EXPECT_EQ(store_->head(), head);
  EXPECT_THAT(store_->ReadStream(kSchemasStream).status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SchemaTest, Proto3OptionalCountsAsSingular) {
  FileDescriptorProto v2 = ShopV1();
  auto* placed = Message(v2, "OrderPlaced");
  Field(placed, 1)->set_proto3_optional(true);
  Field(placed, 1)->set_oneof_index(0);
  placed->add_oneof_decl()->set_name("_customer");
  EXPECT_THAT(Breaking(v2), ElementsAre());
}

TEST_F(SchemaTest, CardinalityChangeIsRefused) {
  FileDescriptorProto v2 = ShopV1();
  auto* placed = Message(v2, "OrderPlaced");
  Field(placed, 1)->set_label(FieldDescriptorProto::LABEL_REPEATED);
  Field(placed, 3)->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  EXPECT_THAT(Breaking(v2),
              ElementsAre("shop.OrderPlaced field 1 'customer': cardinality singular -> repeated",
                          "shop.OrderPlaced field 3 'items': cardinality repeated -> singular"));
}

TEST_F(SchemaTest, RemovedFieldMustBeReserved) {
  FileDescriptorProto v2 = ShopV1();
  RemoveField(Message(v2, "OrderPlaced"), 2);
  EXPECT_THAT(Breaking(v2),
              ElementsAre("shop.OrderPlaced field 2 'total': removed without being reserved"));
  // Reserved by name, then another one by number.
  Message(v2, "OrderPlaced")->add_reserved_name("total");
  EXPECT_THAT(Breaking(v2), ElementsAre());
  RemoveField(Message(v2, "OrderPlaced"), 3);
  auto* range = Message(v2, "OrderPlaced")->add_reserved_range();
  range->set_start(3);
  range->set_end(4);  // exclusive
  EXPECT_THAT(Breaking(v2), ElementsAre());
}

TEST_F(SchemaTest, RemovedEnumValueMustBeReserved) {
  FileDescriptorProto v2 = ShopV1();
  google::protobuf::EnumDescriptorProto* status = v2.mutable_enum_type(0);
  status->mutable_value()->DeleteSubrange(1, 1);
  EXPECT_THAT(Breaking(v2),
              ElementsAre("shop.Status value 1 'PAID': removed without being reserved"));
  auto* range = status->add_reserved_range();
  range->set_start(1);
  range->set_end(1);  // inclusive, for enums
  EXPECT_THAT(Breaking(v2), ElementsAre());
}

TEST_F(SchemaTest, NestedAndReferencedMessagesAreChecked) {
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "Address"), 1)->set_type(FieldDescriptorProto::TYPE_INT64);
  Field(Message(v2, "OrderPlaced")->mutable_nested_type(0), 2)
      ->set_type(FieldDescriptorProto::TYPE_INT64);
  EXPECT_THAT(
      Breaking(v2),
      UnorderedElementsAre("shop.Address field 1 'zip': type string -> int64",
                           "shop.OrderPlaced.TagsEntry field 2 'value': type string -> int64"));
}

TEST_F(SchemaTest, MessageFieldMustKeepItsMessageType) {
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "OrderPlaced"), 4)->set_type_name(".shop.Location");
  EXPECT_THAT(
      Breaking(v2),
      ElementsAre("shop.OrderPlaced field 4 'address': type shop.Address -> shop.Location"));
}

TEST_F(SchemaTest, CyclicMessagesAreCheckedOnce) {
  ASSERT_OK(store_->Append({"tree-1", ExpectedRevision::Any(), {Event("NodeAdded", "")}}).status());
  ASSERT_OK(Register(ShopV1(), {{"NodeAdded", "shop.Node"}}));
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "Node"), 2)->set_type(FieldDescriptorProto::TYPE_INT64);
  EXPECT_THAT(Breaking(v2), ElementsAre("shop.Node field 2 'label': type string -> int64"));
}

TEST_F(SchemaTest, RequiredFieldAddedIsRefused) {
  const FileDescriptorProto v1 = FileProto(R"pb(
    name: "legacy.proto"
    package: "legacy"
    syntax: "proto2"
    message_type {
      name: "Opened"
      field { name: "id" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
  )pb");
  ASSERT_OK(store_->Append({"legacy-1", ExpectedRevision::Any(), {Event("Opened", "")}}).status());
  ASSERT_OK(Register(v1, {{"Opened", "legacy.Opened"}}));
  FileDescriptorProto v2 = v1;
  Field(v2.mutable_message_type(0), 1)->set_label(FieldDescriptorProto::LABEL_REQUIRED);
  auto* since = v2.mutable_message_type(0)->add_field();
  since->set_name("since");
  since->set_number(2);
  since->set_label(FieldDescriptorProto::LABEL_REQUIRED);
  since->set_type(FieldDescriptorProto::TYPE_INT64);
  EXPECT_THAT(Breaking(v2), ElementsAre("legacy.Opened field 1 'id': now required",
                                        "legacy.Opened field 2 'since': added as required"));
}

TEST_F(SchemaTest, MessageRemovedFromAReplacedFileIsRefused) {
  FileDescriptorProto v2 = ShopV1();
  v2.mutable_message_type()->DeleteSubrange(0, 1);  // OrderPlaced
  EXPECT_THAT(Breaking(v2), ElementsAre("shop.OrderPlaced: message removed"));
}

TEST_F(SchemaTest, RebindingAnEventTypeComparesTheNewMessage) {
  FileDescriptorProto v2 = ShopV1();
  google::protobuf::DescriptorProto* renamed = v2.add_message_type();
  *renamed = *Message(v2, "OrderPlaced");
  renamed->set_name("OrderPlacedV2");
  Field(renamed, 6)->set_type_name(".shop.OrderPlacedV2.TagsEntry");
  EXPECT_THAT(Breaking(v2, {{"OrderPlaced", "shop.OrderPlacedV2"}}), ElementsAre());
  Field(renamed, 1)->set_type(FieldDescriptorProto::TYPE_DOUBLE);
  EXPECT_THAT(Breaking(v2, {{"OrderPlaced", "shop.OrderPlaced"}}), ElementsAre());
  EXPECT_THAT(Breaking(v2, {{"OrderPlaced", "shop.OrderPlacedV2"}}),
              ElementsAre("shop.OrderPlaced (now decoded as shop.OrderPlacedV2) field 1 "
                          "'customer': type string -> double"));
}

TEST_F(SchemaTest, EveryBreakingChangeIsOneLineOfTheMessage) {
  FileDescriptorProto v2 = ShopV1();
  auto* placed = Message(v2, "OrderPlaced");
  Field(placed, 1)->set_type(FieldDescriptorProto::TYPE_INT64);
  RemoveField(placed, 2);
  v2.mutable_enum_type(0)->mutable_value()->DeleteSubrange(1, 1);
  const absl::Status refused = Register(v2);
  const std::vector<std::string> lines = GetBreakingSchemaChanges(refused);
  EXPECT_THAT(lines, ElementsAre("shop.OrderPlaced field 1 'customer': type string -> int64",
                                 "shop.OrderPlaced field 2 'total': removed without being reserved",
                                 "shop.Status value 1 'PAID': removed without being reserved"));
  EXPECT_EQ(refused.message(), absl::StrJoin(lines, "\n"));
}

TEST_F(SchemaTest, OnlyMessagesWithStoredEventsAreChecked) {
  // shop.Node is registered but no event uses it; OrderPlaced's events do.
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "Node"), 2)->set_type(FieldDescriptorProto::TYPE_INT64);
  ASSERT_OK(Register(v2, {{"NodeAdded", "shop.Node"}}));
  // A binding of a type without events is not checked either.
  Field(Message(v2, "Node"), 2)->set_type(FieldDescriptorProto::TYPE_DOUBLE);
  EXPECT_OK(Register(v2));
}

TEST_F(SchemaTest, MessagesNamedByContentTypesOfTheFirstAndLastEventAreChecked) {
  // Events of type Shipment name their message in the content type; no
  // binding. The first names shop.Node, the last shop.Location (neither is
  // referenced by shop.OrderPlaced).
  ASSERT_OK(
      store_
          ->Append({"ship-1",
                    ExpectedRevision::Any(),
                    {Placed("Shipment", "application/x-protobuf; messageType=shop.Node"),
                     Placed("Shipment", "application/x-protobuf"),
                     Placed("Shipment", "application/x-protobuf; messageType=shop.Location")}})
          .status());
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "Node"), 2)->set_type(FieldDescriptorProto::TYPE_FLOAT);
  EXPECT_THAT(Breaking(v2), ElementsAre("shop.Node field 2 'label': type string -> float"));
  v2 = ShopV1();
  Field(Message(v2, "Location"), 1)->set_type(FieldDescriptorProto::TYPE_FLOAT);
  EXPECT_THAT(Breaking(v2), ElementsAre("shop.Location field 1 'zip': type string -> float"));
}

TEST_F(SchemaTest, AllowBreakingRegistersAndRecordsWhoAndWhy) {
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "OrderPlaced"), 1)->set_type(FieldDescriptorProto::TYPE_INT64);
  ASSERT_OK(Register(
      v2, {{"Placed", "shop.OrderPlaced"}},
      {.allow_breaking = true, .actor = "anna", .reason = "customer ids are numbers now"}));
  EXPECT_EQ(StoredShop(), v2.SerializeAsString());
  EXPECT_EQ(ReadSchemas(*store_)->bindings.at("Placed"), "shop.OrderPlaced");
  store_.Reopen();
  auto it = store_->ReadStream(kSchemasStream);
  ASSERT_OK(it.status());
  ASSERT_TRUE((*it)->Valid());
  const EventRecord audit = (*it)->record();
  EXPECT_EQ(audit.type, kSchemasChangedType);
  EXPECT_EQ(audit.position, store_->head());
  EXPECT_EQ(audit.content_type, "application/json");
  EXPECT_EQ(audit.metadata.at("actor"), "anna");
  EXPECT_EQ(audit.metadata.at("reason"), "customer ids are numbers now");
  const nlohmann::json data = nlohmann::json::parse(audit.data);
  EXPECT_EQ(data["files"], nlohmann::json::array({"shop.proto"}));
  EXPECT_EQ(data["bindings"]["Placed"], "shop.OrderPlaced");
  EXPECT_EQ(data["breakingChanges"],
            nlohmann::json::array({"shop.OrderPlaced field 1 'customer': type string -> int64"}));
  (*it)->Next();
  EXPECT_FALSE((*it)->Valid());
  EXPECT_OK((*it)->status());
  // Chained and indexed like every event; users cannot append to it.
  auto report = Verify(*store_);
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->ok());
  EXPECT_THAT(
      store_->Append({std::string(kSchemasStream), ExpectedRevision::Any(), {Event("Forged")}})
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->DeleteStream(kSchemasStream).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SchemaTest, ActorAndReasonMustBeUtf8) {
  EXPECT_THAT(Register(ShopV1(), {}, {.allow_breaking = true, .actor = "\xff"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SchemaTest, TheExistingInvalidArgumentChecksComeFirst) {
  // A breaking set that also binds to an unknown message: the caller's
  // mistake is reported, not the breaking change.
  FileDescriptorProto v2 = ShopV1();
  Field(Message(v2, "OrderPlaced"), 1)->set_type(FieldDescriptorProto::TYPE_INT64);
  EXPECT_THAT(Register(v2, {{"Placed", "shop.Nope"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shop.Nope")));
}

TEST(SchemaRegistrationTest, RegisterProtoSchemasRefusesABreakingChangeUnlessAllowed) {
  TempStore store;
  examples::orders::OrderPlaced placed;
  placed.set_customer("c-17");
  EventData event = Event("OrderPlaced", placed.SerializeAsString());
  event.content_type = "application/x-protobuf";
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {event}}).status());
  // The registry holds an OrderPlaced whose field 1 was an int64.
  FileDescriptorProto old_orders;
  examples::orders::OrderPlaced::descriptor()->file()->CopyTo(&old_orders);
  Field(Message(old_orders, "OrderPlaced"), 1)->set_type(FieldDescriptorProto::TYPE_INT64);
  const std::string full_name = examples::orders::OrderPlaced::descriptor()->full_name();
  ASSERT_OK(RegisterSchemas(*store, DescriptorSet({old_orders}), {{"OrderPlaced", full_name}}));
  EXPECT_THAT(RegisterProtoSchemas<examples::orders::OrderPlaced>(*store),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       full_name + " field 1 'customer': type int64 -> string"));
  ASSERT_OK(RegisterProtoSchemas<examples::orders::OrderPlaced>(
      *store, {.allow_breaking = true, .actor = "app", .reason = "upgrade"}));
  auto audit = store->ReadStream(kSchemasStream);
  ASSERT_OK(audit.status());
  ASSERT_TRUE((*audit)->Valid());
  EXPECT_EQ((*audit)->record().metadata.at("actor"), "app");
}

}  // namespace
}  // namespace annals::testing
