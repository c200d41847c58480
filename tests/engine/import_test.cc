// Import (restoring an export): every field and lifecycle effect comes back,
// bad input writes nothing. Also the schema registry and the logical backup
// of a read-only store.
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/proto_codec.h"
#include "annals/schemas.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

std::vector<EventRecord> All(EventStore& store) {
  auto it = store.ReadAll();
  EXPECT_OK(it.status());
  return Drain(**it);
}

void ExpectSameEvents(const std::vector<EventRecord>& a, const std::vector<EventRecord>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a[i].stream, b[i].stream);
    EXPECT_EQ(a[i].revision, b[i].revision);
    EXPECT_EQ(a[i].position, b[i].position);
    EXPECT_EQ(a[i].recorded_at, b[i].recorded_at);
    EXPECT_EQ(a[i].type, b[i].type);
    EXPECT_EQ(a[i].data, b[i].data);
    EXPECT_EQ(a[i].content_type, b[i].content_type);
    EXPECT_EQ(a[i].metadata, b[i].metadata);
    EXPECT_EQ(a[i].event_id, b[i].event_id);
    EXPECT_EQ(a[i].correlation_id, b[i].correlation_id);
    EXPECT_EQ(a[i].causation_id, b[i].causation_id);
  }
}

// A source store with every kind of event: metadata, ids, binary payloads,
// retention, a soft delete followed by a re-append, and a tombstone.
void FillSource(EventStore& store) {
  for (int i = 0; i < 30; ++i) {
    EventData e = Event(i % 2 ? "ItemAdded" : "OrderPlaced", "{\"n\":" + std::to_string(i) + "}");
    e.metadata["user"] = i % 3 ? "alice" : "bob";
    e.correlation_id = "c-" + std::to_string(i % 4);
    e.causation_id = "cmd-" + std::to_string(i);
    if (i % 5 == 0) e.event_id = EventId::Generate();
    ASSERT_OK(
        store.Append({"order-" + std::to_string(i % 3), ExpectedRevision::Any(), {e}}).status());
  }
  ASSERT_OK(
      store
          .Append({"blob-1", ExpectedRevision::Any(), {Event("Raw", std::string("\0\xff\x01", 3))}})
          .status());
  StreamMetadata retention;
  retention.max_count = 2;
  ASSERT_OK(store.SetStreamMetadata("order-0", retention).status());
  ASSERT_OK(store.DeleteStream("order-1").status());
  ASSERT_OK(store.Append({"order-1", ExpectedRevision::Any(), {Event("OrderPlaced")}}).status());
  ASSERT_OK(store.TombstoneStream("order-2").status());
}

TEST(ImportTest, AnImportedStoreIsTheSourceStore) {
  TempStore source;
  FillSource(*source);
  const std::vector<EventRecord> events = All(*source);
  TempStore target;
  // In two calls, as `annals import` does in chunks.
  const size_t half = events.size() / 2;
  ASSERT_OK(Import(*target, {events.begin(), events.begin() + half}));
  ASSERT_OK(Import(*target, {events.begin() + half, events.end()}));
  EXPECT_EQ(target->head(), source->head());
  ExpectSameEvents(All(*target), events);

  {  // (iterators hold the store open: scoped before Reopen)
    // Lifecycle effects came back with their audit events.
    auto retention = GetStreamMetadata(*target, "order-0");
    ASSERT_OK(retention.status());
    EXPECT_EQ(retention->max_count, 2u);
    auto order0 = target->ReadStream("order-0");
    ASSERT_OK(order0.status());
    EXPECT_EQ(Drain(**order0).size(), 2u);
    auto order1 = target->ReadStream("order-1");
    ASSERT_OK(order1.status());
    const std::vector<EventRecord> order1_events = Drain(**order1);
    ASSERT_EQ(order1_events.size(), 1u);  // the re-append after the delete
    EXPECT_EQ(order1_events[0].revision, Revision(10));
    EXPECT_THAT(target->ReadStream("order-2").status(),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(target->Append({"order-2", ExpectedRevision::Any(), {Event("X")}}).status(),
                StatusIs(absl::StatusCode::kFailedPrecondition));

    // Indexes, ids, time lookups and the hash chain are as in the source.
    auto by_correlation = target->ReadCorrelation("c-1");
    ASSERT_OK(by_correlation.status());
    EXPECT_EQ(Drain(**by_correlation).size(), 8u);
    auto found = target->FindEvent("order-0", events[0].event_id);
    ASSERT_OK(found.status());
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->position, events[0].position);
    for (const EventRecord& e : {events[3], events[20], events.back()}) {
      auto at_source = FindPosition(*source, e.recorded_at);
      auto at_target = FindPosition(*target, e.recorded_at);
      ASSERT_OK(at_target.status());
      EXPECT_EQ(*at_target, *at_source);
    }
    auto report = Verify(*target);
    ASSERT_OK(report.status());
    EXPECT_TRUE(report->ok()) << report->problem;
  }

  // The imported store goes on like any other, after reopening too.
  target.Reopen();
  auto next =
      target->Append({"order-0", ExpectedRevision::Exact(Revision(9)), {Event("ItemAdded")}});
  ASSERT_OK(next.status());
  EXPECT_EQ(next->first_position.value(), source->head().value() + 1);
  auto report = Verify(*target);
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->ok()) << report->problem;
}

TEST(ImportTest, AScavengedSourceKeepsItsNumbering) {
  TempStore source;
  for (int i = 0; i < 3; ++i)
    ASSERT_OK(source->Append({"cart-1", ExpectedRevision::Any(), {Event("Added")}}).status());
  for (int i = 0; i < 4; ++i)
    ASSERT_OK(source->Append({"cart-2", ExpectedRevision::Any(), {Event("Added")}}).status());
  ASSERT_OK(source->DeleteStream("cart-1").status());
  StreamMetadata keep_two;
  keep_two.max_count = 2;
  keep_two.max_age = absl::Milliseconds(1500);  // a fractional second survives too
  ASSERT_OK(source->SetStreamMetadata("cart-2", keep_two).status());
  ASSERT_OK(Scavenge(*source).status());
  const std::vector<EventRecord> events = All(*source);
  ASSERT_LT(events.size(), 9u);  // the deleted and the trimmed events are gone
  TempStore target;
  ASSERT_OK(Import(*target, events));
  ExpectSameEvents(All(*target), events);
  auto metadata = GetStreamMetadata(*target, "cart-2");
  ASSERT_OK(metadata.status());
  EXPECT_EQ(metadata->max_age, absl::Milliseconds(1500));
  // The deleted stream goes on after its old last revision, as in the source.
  for (EventStore* store : {source.get(), target.get()}) {
    auto appended = store->Append({"cart-1", ExpectedRevision::Any(), {Event("Added")}});
    ASSERT_OK(appended.status());
    EXPECT_EQ(appended->first_revision, Revision(3));
    auto read = store->ReadStream("cart-1");
    ASSERT_OK(read.status());
    EXPECT_EQ(Drain(**read).size(), 1u);
  }
  auto report = Verify(*target);
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->ok()) << report->problem;
}

TEST(ImportTest, BadEventsWriteNothing) {
  TempStore source;
  FillSource(*source);
  const std::vector<EventRecord> events = All(*source);
  TempStore target;
  ASSERT_OK(Import(*target, {events.begin(), events.begin() + 5}));

  auto expect_rejected = [&](std::vector<EventRecord> batch, const std::string& why) {
    SCOPED_TRACE(why);
    EXPECT_THAT(Import(*target, std::move(batch)), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(target->head(), events[4].position);
    EXPECT_EQ(All(*target).size(), 5u);
  };
  // Positions at or below the head (importing the same chunk twice).
  expect_rejected({events.begin(), events.begin() + 5}, "repeated chunk");
  // A revision that does not move the stream forward.
  std::vector<EventRecord> stale{events[5]};
  stale[0].revision = Revision(0);
  stale[0].stream = events[0].stream;
  expect_rejected(stale, "stale revision");
  // Time going backwards.
  std::vector<EventRecord> backwards{events[5]};
  backwards[0].recorded_at = events[0].recorded_at - absl::Seconds(1);
  expect_rejected(backwards, "recorded_at backwards");
  // No id, no type, a bad stream name, an unknown lifecycle event.
  std::vector<EventRecord> no_id{events[5]};
  no_id[0].event_id = EventId();
  expect_rejected(no_id, "nil id");
  std::vector<EventRecord> no_type{events[5]};
  no_type[0].type.clear();
  expect_rejected(no_type, "empty type");
  std::vector<EventRecord> bad_name{events[5]};
  bad_name[0].stream = "$system";
  expect_rejected(bad_name, "bad stream name");
  std::vector<EventRecord> bad_lifecycle{events[5]};
  bad_lifecycle[0].stream = "$$order-0";
  bad_lifecycle[0].type = "$resurrected";
  expect_rejected(bad_lifecycle, "unknown lifecycle type");
  // A good event after a bad one in the same call: the whole call fails.
  std::vector<EventRecord> mixed{events[5], events[6]};
  mixed[1].event_id = EventId();
  expect_rejected(mixed, "one bad event of two");
}

// An audit event of `$$<stream>` as another tool might write it.
EventRecord Lifecycle(uint64_t position, const std::string& stream, const std::string& type,
                      const std::string& data) {
  EventRecord e;
  e.stream = "$$" + stream;
  e.position = Position(position);
  e.revision = Revision(0);
  e.recorded_at = absl::FromUnixSeconds(1'800'000'000);
  e.event_id = EventId::Generate();
  e.type = type;
  e.data = data;
  e.content_type = "application/json";
  return e;
}

TEST(ImportTest, LifecycleDataIsReadAsJsonWhateverItsSpacing) {
  TempStore target;
  EventRecord first;
  first.stream = "cart-1";
  first.position = Position(1);
  first.recorded_at = absl::FromUnixSeconds(1'800'000'000);
  first.event_id = EventId::Generate();
  first.type = "Added";
  ASSERT_OK(Import(*target, {first, Lifecycle(2, "cart-1", "$metadata",
                                              "{ \"maxCount\" : 3,\n \"maxAgeSeconds\": 60 }")}));
  ASSERT_OK_AND_ASSIGN(StreamMetadata metadata, GetStreamMetadata(*target, "cart-1"));
  EXPECT_EQ(metadata.max_count, 3u);
  EXPECT_EQ(metadata.max_age, absl::Seconds(60));
}

TEST(ImportTest, CustomMetadataComesBackVerbatim) {
  TempStore source;
  ASSERT_OK(source->Append({"order-1", ExpectedRevision::Any(), {Event("OrderPlaced")}}));
  const StreamMetadata metadata{.max_count = 4,
                                .custom_json = R"({"$cacheControl": 5, "$acl": {"$r": "$all"}})"};
  ASSERT_OK(source->SetStreamMetadata("order-1", metadata));
  // Replaced before the stream's first event: the import applies both.
  ASSERT_OK(source->SetStreamMetadata("cart-1", {.custom_json = "{\"x\":[1,2]}"}));
  ASSERT_OK(source->SetStreamMetadata("cart-1", {.custom_json = "{ \"y\" : null }"}));
  TempStore target;
  ASSERT_OK(Import(*target, All(*source)));
  EXPECT_THAT(GetStreamMetadata(*target, "order-1"), IsOkAndHolds(metadata));
  EXPECT_THAT(GetStreamMetadata(*target, "cart-1"),
              IsOkAndHolds(StreamMetadata{.custom_json = "{ \"y\" : null }"}));
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*target));
  EXPECT_TRUE(report.ok()) << report.problem;
}

TEST(ImportTest, LifecycleDataTheApiWouldRefuseIsRefusedAndWritesNothing) {
  TempStore target;
  for (const auto& [type, data] : std::vector<std::pair<std::string, std::string>>{
           {"$metadata", "{\"maxCount\":3,\"colour\":\"red\"}"},  // a member nobody reads
           {"$metadata", "{\"maxCount\":0}"},
           {"$metadata", "{\"maxCount\":-1}"},
           {"$metadata", "{\"maxCount\":\"3\"}"},
           {"$metadata", "{\"maxAgeMicros\":999999}"},
           {"$metadata", "{\"maxAgeSeconds\":2,\"maxAgeMicros\":5000000}"},
           {"$metadata", "[1]"},
           {"$metadata", "{\"maxCount\":3"},
           {"$streamDeleted", "{}"},
           {"$streamDeleted", "{\"truncateBefore\":0}"},
           {"$streamTombstoned", "{\"truncateBefore\":4}"},
           {"$streamDeleted", "{\"truncateBefore\":2,\"lastRevision\":1}"},
           {"$streamDeleted", "{\"truncateBefore\":1000}"},   // past what position 1 allows
           {"$metadata", "{\"maxCount\":0,\"maxCount\":3}"},  // a member twice
           {"$metadata", "{\"lastRevision\":0,\"lastPosition\":99}"},  // a head after the event
           {"$metadata", "{\"customJson\":\"[1]\"}"},                  // not an object
           {"$metadata", "{\"customJson\":{\"a\":1}}"},                // an object, not its text
           {"$metadata", "{\"customJson\":\"{\\\"a\\\":\\u0000}\"}"},  // a NUL byte
           {"$streamTombstoned", "{\"customJson\":\"{}\"}"},           // only $metadata has it
       }) {
    SCOPED_TRACE(type + " " + data);
    EXPECT_THAT(Import(*target, {Lifecycle(1, "cart-1", type, data)}),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(ValidateImportEvent(Lifecycle(1, "cart-1", type, data)),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(target->head(), Position(0));
  }
}

TEST(ImportTest, PositionsAndRevisionsTheApiCouldNotHaveGivenAreRefused) {
  TempStore target;
  EventRecord e;
  e.stream = "cart-1";
  e.recorded_at = absl::FromUnixSeconds(1'800'000'000);
  e.event_id = EventId::Generate();
  e.type = "Added";
  e.position = Position(5);
  e.revision = Revision(uint64_t{1} << 63);  // appends would continue above it
  EXPECT_THAT(Import(*target, {e}), StatusIs(absl::StatusCode::kInvalidArgument));
  e.revision = Revision(5);  // revision 5 needs 5 earlier positions
  EXPECT_THAT(Import(*target, {e}), StatusIs(absl::StatusCode::kInvalidArgument));
  e.revision = Revision(4);
  e.position = Position(kMaxImportedPosition + 1);
  EXPECT_THAT(Import(*target, {e}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(target->head(), Position(0));
  e.position = Position(5);
  EXPECT_OK(Import(*target, {e}));
}

TEST(ImportTest, StreamsWhoseEventsWereScavengedListTheSameAfterImport) {
  TempStore source;
  for (int i = 0; i < 3; ++i)
    ASSERT_OK(source->Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
  for (int i = 0; i < 2; ++i)
    ASSERT_OK(source->Append({"b-1", ExpectedRevision::Any(), {Event("B")}}).status());
  for (int i = 0; i < 2; ++i)
    ASSERT_OK(source->Append({"c-1", ExpectedRevision::Any(), {Event("C")}}).status());
  ASSERT_OK(source->Append({"a-1", ExpectedRevision::Any(), {Event("A")}}).status());
  ASSERT_OK(source->DeleteStream("b-1").status());
  ASSERT_OK(source->TombstoneStream("c-1").status());
  ASSERT_OK(source->SetStreamMetadata("a-1", {.max_count = 2}).status());
  ASSERT_OK(Scavenge(*source).status());
  TempStore target;
  ASSERT_OK(Import(*target, All(*source)));
  ASSERT_OK_AND_ASSIGN(std::vector<StreamInfo> before, source->ListStreams());
  ASSERT_OK_AND_ASSIGN(std::vector<StreamInfo> after, target->ListStreams());
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(after[i] == before[i]) << before[i].stream;
  EXPECT_THAT(target->Append({"c-1", ExpectedRevision::Any(), {Event("C")}}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ImportTest, TheCheckerSeesWhatOnlyTheWholeFileShows) {
  auto event = [](uint64_t position, const std::string& stream, uint64_t revision) {
    EventRecord e;
    e.stream = stream;
    e.position = Position(position);
    e.revision = Revision(revision);
    e.recorded_at = absl::FromUnixSeconds(1'800'000'000);
    e.event_id = EventId::Generate();
    e.type = "Added";
    return e;
  };
  {
    ImportChecker checker;
    ASSERT_OK(checker.Check(event(1, "cart-1", 0)));
    EXPECT_THAT(checker.Check(event(1, "cart-2", 0)),
                StatusIs(absl::StatusCode::kInvalidArgument));  // position again
    EXPECT_THAT(checker.Check(event(2, "cart-1", 0)),
                StatusIs(absl::StatusCode::kInvalidArgument));  // revision again
    ASSERT_OK(checker.Check(
        Lifecycle(3, "cart-1", "$streamTombstoned", "{\"lastRevision\":0,\"lastPosition\":1}")));
    EXPECT_THAT(checker.Check(event(4, "cart-1", 1)),
                StatusIs(absl::StatusCode::kInvalidArgument));  // after the tombstone
  }
  {
    // A head restored by a lifecycle event: the next revision goes after it.
    ImportChecker checker;
    ASSERT_OK(
        checker.Check(Lifecycle(9, "cart-1", "$streamDeleted",
                                "{\"truncateBefore\":5,\"lastRevision\":4,\"lastPosition\":8}")));
    EXPECT_THAT(checker.Check(event(10, "cart-1", 3)),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_OK(checker.Check(event(10, "cart-1", 5)));
  }
}

TEST(ImportTest, SchemaChangeEventsImportAsTheyAre) {
  TempStore target;
  EventRecord e = Lifecycle(1, "x", "$schemasChanged", "{\"files\":[]}");
  e.stream = "$schemas";
  ASSERT_OK(Import(*target, {e}));
  ASSERT_OK_AND_ASSIGN(auto it, target->ReadStream("$schemas"));
  EXPECT_EQ(Drain(*it).size(), 1u);
}

TEST(ImportTest, ReadOnlyStoresRefuseImport) {
  TempStore store;
  ASSERT_OK(store->Append({"a", ExpectedRevision::Any(), {Event("E")}}).status());
  StoreOptions options = TestOptions();
  options.read_only = true;
  auto reader = EventStore::Open(store.path() + "/store", options);
  ASSERT_OK(reader.status());
  EXPECT_THAT(Import(**reader, {}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(RegisterSchemas(**reader, "x"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SchemaRegistryTest, RegistersFilesAndBindings) {
  TempStore store;
  ASSERT_OK(
      (RegisterProtoSchemas<google::protobuf::Duration, google::protobuf::Timestamp>(*store)));
  auto schemas = ReadSchemas(*store);
  ASSERT_OK(schemas.status());
  EXPECT_EQ(schemas->files.size(), 2u);
  EXPECT_TRUE(schemas->files.contains("google/protobuf/duration.proto"));
  EXPECT_EQ(schemas->bindings.at("Duration"), "google.protobuf.Duration");
  EXPECT_EQ(schemas->bindings.at("Timestamp"), "google.protobuf.Timestamp");
  // Again: idempotent. And a read-only handle sees them.
  ASSERT_OK((RegisterProtoSchemas<google::protobuf::Duration>(*store)));
  store.Reopen();
  schemas = ReadSchemas(*store);
  ASSERT_OK(schemas.status());
  EXPECT_EQ(schemas->files.size(), 2u);
  EXPECT_EQ(schemas->bindings.size(), 2u);
}

TEST(SchemaRegistryTest, BadSchemasWriteNothing) {
  TempStore store;
  EXPECT_THAT(RegisterSchemas(*store, "not a descriptor set \xff"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A file whose import is missing.
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* file = set.add_file();
  file->set_name("shop.proto");
  file->set_package("shop");
  file->add_dependency("missing.proto");
  file->add_message_type()->set_name("Placed");
  EXPECT_THAT(RegisterSchemas(*store, set.SerializeAsString()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A binding to a message the files do not define.
  file->clear_dependency();
  EXPECT_THAT(RegisterSchemas(*store, set.SerializeAsString(), {{"Placed", "shop.Nope"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RegisterSchemas(*store, set.SerializeAsString(), {{"", "shop.Placed"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto schemas = ReadSchemas(*store);
  ASSERT_OK(schemas.status());
  EXPECT_TRUE(schemas->files.empty());
  EXPECT_TRUE(schemas->bindings.empty());
  // The good one is accepted.
  ASSERT_OK(RegisterSchemas(*store, set.SerializeAsString(), {{"Placed", "shop.Placed"}}));
}

TEST(SchemaRegistryTest, AReplacementMustNotBreakAStoredImporter) {
  TempStore store;
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* a = set.add_file();
  a->set_name("a.proto");
  a->set_package("shop");
  a->add_message_type()->set_name("Money");
  google::protobuf::FileDescriptorProto* b = set.add_file();
  b->set_name("b.proto");
  b->set_package("shop");
  b->add_dependency("a.proto");
  google::protobuf::DescriptorProto* paid = b->add_message_type();
  paid->set_name("Paid");
  google::protobuf::FieldDescriptorProto* amount = paid->add_field();
  amount->set_name("amount");
  amount->set_number(1);
  amount->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  amount->set_type(google::protobuf::FieldDescriptorProto::TYPE_MESSAGE);
  amount->set_type_name(".shop.Money");
  ASSERT_OK(RegisterSchemas(*store, set.SerializeAsString(), {{"Paid", "shop.Paid"}}));
  // A new a.proto without Money: the stored b.proto would no longer build.
  google::protobuf::FileDescriptorSet replacement;
  google::protobuf::FileDescriptorProto* new_a = replacement.add_file();
  new_a->set_name("a.proto");
  new_a->set_package("shop");
  new_a->add_message_type()->set_name("Cents");
  EXPECT_THAT(RegisterSchemas(*store, replacement.SerializeAsString()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto schemas = ReadSchemas(*store);
  ASSERT_OK(schemas.status());
  google::protobuf::FileDescriptorProto stored_a;
  ASSERT_TRUE(stored_a.ParseFromString(schemas->files.at("a.proto")));
  EXPECT_EQ(stored_a.message_type(0).name(), "Money");
}

TEST(ReadOnlyBackupTest, CopiesWhatTheReaderSees) {
  TempStore store;
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK(store->Append({"s-" + std::to_string(i % 7), ExpectedRevision::Any(), {Event("E")}})
                  .status());
  }
  StoreOptions options = TestOptions();
  options.read_only = true;
  auto reader = EventStore::Open(store.path() + "/store", options);
  ASSERT_OK(reader.status());
  TempDir backups;
  ASSERT_OK(Backup(**reader, backups.Sub("copy")));
  EXPECT_THAT(Backup(**reader, backups.Sub("copy")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  StoreOptions plain = TestOptions();
  plain.create_if_missing = false;
  auto copy = EventStore::Open(backups.Sub("copy"), plain);
  ASSERT_OK(copy.status());
  EXPECT_EQ((*copy)->head(), store->head());
  ExpectSameEvents(All(**copy), All(*store));
  auto report = Verify(**copy);
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->ok()) << report->problem;
}

}  // namespace
}  // namespace annals::testing
