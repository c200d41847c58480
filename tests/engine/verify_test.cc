// Verify: a sound store (also after Scavenge left gaps) reports OK; a
// flipped byte in an event, a missing or misfiled index entry, or a lost
// stream copy is reported at its position.
#include <string>

#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

using ::annals::testing::Event;
using ::annals::testing::TempStore;
using ::annals::testing::TestOptions;

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 20; ++i) {
      EventData event = Event(i % 2 ? "Odd" : "Even", "{\"i\":" + std::to_string(i) + "}");
      event.correlation_id = "corr-" + std::to_string(i % 3);
      event.event_id = EventId::Generate();
      ASSERT_OK(store_->Append({"order-" + std::to_string(i % 4), ExpectedRevision::Any(), {event}}));
    }
  }

  // Closes the store, changes its files through RocksDB, reopens it.
  void Tamper(const std::function<void(rocksdb::DB*, internal::Storage&)>& change) {
    store_.Close();
    bool created = false;
    auto storage = internal::Storage::Open(store_.path() + "/store", TestOptions(), &created);
    ASSERT_OK(storage.status());
    change((*storage)->db(), **storage);
    storage->reset();
    store_.Reopen();
  }

  TempStore store_;
};

TEST_F(VerifyTest, ASoundStoreVerifies) {
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.events_checked, 20u);
  EXPECT_GE(report.index_entries_checked, 3u * 20u);
  EXPECT_EQ(report.gaps, 0u);
}

TEST_F(VerifyTest, AScavengedStoreVerifiesWithGaps) {
  ASSERT_OK(store_->DeleteStream("order-1"));
  ASSERT_OK(store_->Scavenge().status());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.gaps, 5u);
}

TEST_F(VerifyTest, AFlippedByteBreaksTheChainAtItsPosition) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(7)), &value).ok());
    const size_t at = value.find("\"i\":6");
    ASSERT_NE(at, std::string::npos);
    value[at + 4] = '9';  // the payload now says 9: same length, still decodes
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(7)), value).ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.first_bad_position, Position(7));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("chain hash"));
}

TEST_F(VerifyTest, AMissingIndexEntryIsReported) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), storage.cf(internal::Cf::kByType),
                           internal::IndexKey("Odd", Position(12))).ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_EQ(report.first_bad_position, Position(12));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("by_type"));
}

TEST_F(VerifyTest, AMisfiledIndexEntryIsReported) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kByCorrelation),
                        internal::IndexKey("corr-x", Position(3)), "").ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_EQ(report.first_bad_position, Position(3));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("corr-x"));
}

TEST_F(VerifyTest, ALostStreamCopyIsReported) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    // order-2's revision 1 is position 7 (stream ids follow creation order: order-2 is 3).
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), storage.cf(internal::Cf::kStreamEvents),
                           internal::StreamEventKey(3, Revision(1))).ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_EQ(report.first_bad_position, Position(7));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("order-2"));
}

}  // namespace
}  // namespace annals
