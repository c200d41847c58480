// Read-only stores (StoreOptions::read_only): opened beside a writing
// handle without its lock, they see the data as of Open and of each
// Refresh(), wake subscriptions on Refresh, and refuse every write.
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

StoreOptions ReadOnly() {
  StoreOptions options = TestOptions();
  options.create_if_missing = false;
  options.read_only = true;
  return options;
}

void AppendN(EventStore& store, const std::string& stream, int n) {
  for (int i = 0; i < n; ++i) {
    ASSERT_OK(store.Append({stream, ExpectedRevision::Any(), {Event("E")}}));
  }
}

TEST(ReadOnlyTest, OpensBesideAWriterAndCatchesUpOnRefresh) {
  TempStore writer;
  AppendN(*writer, "order-1", 10);
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(writer.path() + "/store", ReadOnly()));
  EXPECT_EQ(reader->head(), Position(10));
  auto stream = reader->ReadStream("order-1");
  ASSERT_OK(stream.status());
  EXPECT_EQ(Drain(**stream).size(), 10u);

  AppendN(*writer, "order-1", 5);
  EXPECT_EQ(reader->head(), Position(10));  // as of Open
  ASSERT_OK(Refresh(*reader));
  EXPECT_EQ(reader->head(), Position(15));
  auto all = reader->ReadAll();
  ASSERT_OK(all.status());
  EXPECT_EQ(Drain(**all).size(), 15u);
  auto category = reader->ReadCategory("order");
  ASSERT_OK(category.status());
  EXPECT_EQ(Drain(**category).size(), 15u);
  ASSERT_OK(reader->Close());
}

TEST(ReadOnlyTest, EveryWriteIsRefusedAndNothingIsWritten) {
  TempStore writer;
  AppendN(*writer, "order-1", 3);
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(writer.path() + "/store", ReadOnly()));
  auto refused = absl::StatusCode::kFailedPrecondition;
  EXPECT_THAT(reader->Append({"order-1", ExpectedRevision::Any(), {Event("X")}}),
              StatusIs(refused));
  MultiAppendRequest multi;
  multi.appends.push_back({"order-2", ExpectedRevision::Any(), {Event("X")}});
  EXPECT_THAT(reader->AppendMulti(multi), StatusIs(refused));
  EXPECT_THAT(reader->DeleteStream("order-1"), StatusIs(refused));
  EXPECT_THAT(reader->TombstoneStream("order-1"), StatusIs(refused));
  EXPECT_THAT(reader->SetStreamMetadata("order-1", {.max_count = 1}), StatusIs(refused));
  EXPECT_THAT(Scavenge(*reader), StatusIs(refused));
  EXPECT_THAT(WriteSnapshot(*reader, {.stream = "order-1"}), StatusIs(refused));
  EXPECT_THAT(DeleteSnapshots(*reader, "order-1"), StatusIs(refused));
  EXPECT_THAT(reader->Subscribe({.durable_name = "d"}), StatusIs(refused));
  EXPECT_THAT(DeleteSubscriber(*reader, "d"), StatusIs(refused));
  ASSERT_OK(Refresh(*reader));
  EXPECT_EQ(reader->head(), Position(3));
  EXPECT_EQ(writer->head(), Position(3));
}

TEST(ReadOnlyTest, RefreshWakesSubscriptions) {
  TempStore writer;
  AppendN(*writer, "order-1", 2);
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(writer.path() + "/store", ReadOnly()));
  ASSERT_OK_AND_ASSIGN(auto sub, reader->Subscribe({.start = StartFrom::End()}));
  EXPECT_THAT(sub->Next(absl::Milliseconds(10)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  AppendN(*writer, "order-1", 1);
  ASSERT_OK(Refresh(*reader));
  ASSERT_OK_AND_ASSIGN(EventRecord event, sub->Next(absl::Seconds(10)));
  EXPECT_EQ(event.position, Position(3));
}

TEST(ReadOnlyTest, AMissingStoreIsRefused) {
  TempDir dir;
  EXPECT_THAT(EventStore::Open(dir.Sub("nothing"), ReadOnly()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace annals::testing
