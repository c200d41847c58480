// Backup: a consistent copy taken while appends go on opens as a store of
// its own, holds every append acknowledged before the backup began, and
// verifies.
#include <atomic>
#include <thread>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

TEST(BackupTest, ABackupTakenDuringWritesOpensAndVerifies) {
  TempStore store;
  TempDir backups;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> acknowledged{0};
  std::thread writer([&] {
    for (int i = 0; !done.load(); ++i) {
      auto result =
          store->Append({"order-" + std::to_string(i % 5), ExpectedRevision::Any(), {Event("E")}});
      ASSERT_OK(result.status());
      acknowledged = result->last_position.value();
    }
  });
  while (acknowledged.load() < 500) std::this_thread::yield();
  const uint64_t before = acknowledged.load();
  ASSERT_OK(Backup(*store, backups.Sub("b1")));
  done = true;
  writer.join();

  StoreOptions options = TestOptions();
  options.create_if_missing = false;
  ASSERT_OK_AND_ASSIGN(auto copy, EventStore::Open(backups.Sub("b1"), options));
  EXPECT_GE(copy->head().value(), before);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*copy));
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.events_checked, copy->head().value());
  // The copy is a store of its own: it takes appends.
  ASSERT_OK(copy->Append({"order-0", ExpectedRevision::Any(), {Event("After")}}));
}

TEST(BackupTest, AnExistingDirectoryIsRefused) {
  TempStore store;
  TempDir backups;
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("E")}}));
  ASSERT_OK(Backup(*store, backups.Sub("b")));
  EXPECT_THAT(Backup(*store, backups.Sub("b")), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Backup(*store, ""), StatusIs(absl::StatusCode::kInvalidArgument));
  // A read-only handle copies instead (import_test.cc), into new directories only.
  StoreOptions read_only = TestOptions();
  read_only.read_only = true;
  ASSERT_OK_AND_ASSIGN(auto reader, EventStore::Open(store.path() + "/store", read_only));
  EXPECT_THAT(Backup(*reader, backups.Sub("b")), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace annals::testing
