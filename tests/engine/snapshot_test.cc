// The snapshot store API (annals/snapshot.h): writes for a missing stream or
// revision, a bad stream name or a tombstoned stream are refused and store
// nothing. The handler's snapshots are tested in tests/commands/.
#include "annals/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

TEST(SnapshotTest, BadSnapshotWritesAreRejected) {
  TempStore store;
  Snapshot snapshot{.stream = "order-1", .revision = Revision(0), .schema_version = 1};
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("A")}}));
  snapshot.revision = Revision(5);
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kNotFound));
  snapshot.stream = "$bad";
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store->TombstoneStream("order-1"));
  snapshot.stream = "order-1";
  snapshot.revision = Revision(0);
  EXPECT_THAT(WriteSnapshot(*store, snapshot), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(auto none, ListSnapshots(*store, "order-1"));
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace annals::testing
