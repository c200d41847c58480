// Verify: a sound store (also after Scavenge left gaps) reports OK; a
// flipped byte in an event, a missing or misfiled index entry, or a lost
// stream copy is reported at its position.
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hash_chain.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

// Rewrites event `forged` (its "i" member becomes 9) and recomputes the chain
// hash of every event from 1 to `last` over it, as someone who can write the
// files would: a chain consistent in itself. Events Scavenge removed are
// carried over through the digests it kept.
void ForgeChain(rocksdb::DB* db, internal::Storage& storage, uint64_t forged, uint64_t last) {
  internal::ChainHash previous{};
  for (uint64_t p = 1; p <= last; ++p) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog),
                                internal::LogKey(Position(p)), &value);
    if (s.IsNotFound()) {
      std::string removed;
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), storage.cf(internal::Cf::kMeta),
                          internal::RemovedEventKey(Position(p)), &removed)
                      .ok());
      previous = internal::ChainStep(previous, internal::DecodeRemovedEvent(removed)->hash);
      continue;
    }
    std::optional<internal::SplitValue> split = internal::SplitStoredValue(value);
    ASSERT_TRUE(split.has_value());
    std::string hashed(split->hashed_bytes);
    if (p == forged) {
      const size_t at = hashed.find("\"i\":");
      ASSERT_NE(at, std::string::npos);
      hashed[at + 4] = '9';
    }
    std::string rewritten = hashed;
    previous = internal::ComputeChainHash(previous, hashed);
    internal::AppendChainHashField(previous, &rewritten);
    annals::storage::v1::StoredEvent ids;
    ASSERT_TRUE(ids.ParseFromString(rewritten));
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(p)), rewritten)
                    .ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kStreamEvents),
                        internal::StreamEventKey(ids.stream_id(), Revision(ids.revision())),
                        rewritten)
                    .ok());
  }
}

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 20; ++i) {
      EventData event = Event(i % 2 ? "Odd" : "Even", "{\"i\":" + std::to_string(i) + "}");
      event.correlation_id = "corr-" + std::to_string(i % 3);
      event.event_id = EventId::Generate();
      ASSERT_OK(
          store_->Append({"order-" + std::to_string(i % 4), ExpectedRevision::Any(), {event}}));
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
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.events_checked, 20u);
  EXPECT_GE(report.index_entries_checked, 3u * 20u);
  EXPECT_EQ(report.gaps, 0u);
}

TEST_F(VerifyTest, AScavengedStoreVerifiesWithGaps) {
  ASSERT_OK(store_->DeleteStream("order-1"));
  ASSERT_OK(Scavenge(*store_).status());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.gaps, 5u);
}

TEST_F(VerifyTest, TheChainSpansScavengedGapsSoTheEventAfterAGapIsCheckedToo) {
  ASSERT_OK(store_->DeleteStream("order-1"));  // positions 2, 6, 10, 14, 18
  ASSERT_OK(Scavenge(*store_).status());
  ASSERT_OK_AND_ASSIGN(VerifyReport sound, Verify(*store_));
  ASSERT_TRUE(sound.ok()) << sound.problem;
  EXPECT_EQ(sound.unbridged_gaps, 0u);
  // Position 3 follows the gap at 2: rewriting it (same length) must show.
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(3)), &value)
                    .ok());
    const size_t at = value.find("\"i\":2");
    ASSERT_NE(at, std::string::npos);
    value[at + 4] = '8';
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(3)), value)
                    .ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_EQ(report.first_bad_position, Position(3));
}

// One call of a ProgressCallback.
struct ProgressCall {
  std::string step;
  uint64_t done = 0;
  uint64_t total = 0;
};

TEST_F(VerifyTest, ProgressCountsTheLogUpToTheHeadThenTheOtherEntriesAndChangesNothing) {
  for (int batch = 0; batch < 30; ++batch) {
    std::vector<EventData> events(100, Event("Bulk", "{\"i\":1}"));
    ASSERT_OK(store_->Append({"bulk-1", ExpectedRevision::Any(), std::move(events)}));
  }
  const uint64_t head = store_->head().value();  // 20 + 3,000
  ASSERT_OK_AND_ASSIGN(VerifyReport quiet, Verify(*store_));
  std::vector<ProgressCall> calls;
  ASSERT_OK_AND_ASSIGN(
      VerifyReport report,
      Verify(*store_, {.progress = [&](std::string_view step, uint64_t done, uint64_t total) {
        calls.push_back({std::string(step), done, total});
      }}));
  // The same report as without progress.
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_EQ(report.events_checked, quiet.events_checked);
  EXPECT_EQ(report.index_entries_checked, quiet.index_entries_checked);
  EXPECT_EQ(report.head, quiet.head);
  EXPECT_EQ(report.entries_checked, quiet.entries_checked);
  // The log: every 1,024 events, increasing, out of the head, ending at it.
  std::vector<ProgressCall> log, entries;
  for (const ProgressCall& call : calls) {
    ASSERT_TRUE(call.step == "log" || call.step == "entries") << call.step;
    ASSERT_TRUE(call.step == "entries" || entries.empty()) << "log after entries";
    (call.step == "log" ? log : entries).push_back(call);
  }
  ASSERT_EQ(log.size(), 2u + 1u);  // at 1,024 and 2,048 events, and at the end
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].total, head);
    if (i > 0) {
      EXPECT_GT(log[i].done, log[i - 1].done);
    }
  }
  EXPECT_EQ(log.back().done, head);
  // Then the other families' entries: total unknown, ending at their count.
  uint64_t other = 0;
  for (const auto& [family, count] : report.entries_checked) {
    if (family != "log") other += count;
  }
  ASSERT_GE(entries.size(), 2u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].total, 0u);
    if (i > 0) {
      EXPECT_GT(entries[i].done, entries[i - 1].done);
    }
  }
  EXPECT_EQ(entries.back().done, other);
}

TEST_F(VerifyTest, TheReportNamesTheChainHeadAndWhatItCovered) {
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_EQ(report.head.position, Position(20));
  EXPECT_EQ(report.head.hash.size(), 32u);
  for (const char* family : {"log", "stream_events", "by_category", "by_type", "by_correlation",
                             "streams", "meta", "snapshots", "checkpoints", "projections",
                             "read_models", "by_time", "event_ids", "by_causation"}) {
    EXPECT_TRUE(report.entries_checked.contains(family)) << family;
  }
  EXPECT_EQ(report.entries_checked["log"], 20u);
  EXPECT_EQ(report.entries_checked["stream_events"], 20u);
  EXPECT_EQ(report.entries_checked["streams"], 4u);
}

TEST_F(VerifyTest, AnExpectedHeadProvesNothingBeforeItChanged) {
  ASSERT_OK_AND_ASSIGN(VerifyReport first, Verify(*store_));
  const ChainHead anchor = first.head;  // kept outside the store
  ASSERT_EQ(ChainHead::Parse(anchor.ToString()), anchor);
  ASSERT_OK(store_->Append({"order-9", ExpectedRevision::Any(), {Event("Later")}}));
  ASSERT_OK_AND_ASSIGN(VerifyReport later, Verify(*store_, {.expect_head = anchor}));
  EXPECT_TRUE(later.ok()) << later.problem;
  EXPECT_TRUE(later.expected_head_matched);

  // Someone who can write the files rewrites event 7 and recomputes every
  // chain hash after it: the chain alone verifies, the anchor does not.
  Tamper([](rocksdb::DB* db, internal::Storage& storage) { ForgeChain(db, storage, 7, 21); });
  ASSERT_OK_AND_ASSIGN(VerifyReport forged, Verify(*store_));
  EXPECT_TRUE(forged.ok()) << "the rewritten chain is consistent in itself: " << forged.problem;
  ASSERT_OK_AND_ASSIGN(VerifyReport anchored, Verify(*store_, {.expect_head = anchor}));
  EXPECT_FALSE(anchored.ok());
  EXPECT_EQ(anchored.first_bad_position, Position(20));
  EXPECT_THAT(anchored.problem, ::testing::HasSubstr("expected head"));
}

TEST_F(VerifyTest, AnExpectedHeadProvesTheEventsBeforeAScavengedGapToo) {
  ASSERT_OK(store_->DeleteStream("order-1"));  // positions 2, 6, 10, 14, 18; the audit event is 21
  ASSERT_OK(Scavenge(*store_).status());
  ASSERT_OK_AND_ASSIGN(VerifyReport first, Verify(*store_));
  ASSERT_TRUE(first.ok()) << first.problem;
  const ChainHead anchor = first.head;
  // Rewrite event 7 (before the gap at 10) and recompute the chain up to 9:
  // the removed event 10's digest, kept by Scavenge, no longer follows.
  Tamper([](rocksdb::DB* db, internal::Storage& storage) { ForgeChain(db, storage, 7, 9); });
  ASSERT_OK_AND_ASSIGN(VerifyReport anchored, Verify(*store_, {.expect_head = anchor}));
  EXPECT_FALSE(anchored.ok());
  EXPECT_EQ(anchored.first_bad_position,
            Position(11));  // the first event chained over the forged prefix
}

TEST_F(VerifyTest, AnAnchorAtAScavengedPositionIsStillChecked) {
  // An anchor taken when 18 (order-1's last event, scavenged below) was the head.
  ChainHead at_18;
  Tamper([&](rocksdb::DB* db, internal::Storage& storage) {
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(18)), &value)
                    .ok());
    const internal::ChainHash hash = internal::SplitStoredValue(value)->stored_hash;
    at_18 = ChainHead{Position(18),
                      std::string(reinterpret_cast<const char*>(hash.data()), hash.size())};
  });
  ASSERT_OK(store_->DeleteStream("order-1"));
  ASSERT_OK(Scavenge(*store_).status());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_, {.expect_head = at_18}));
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_TRUE(report.expected_head_matched);
}

TEST(VerifyEmptyTest, TheEmptyLogsHeadIsItsAnchor) {
  TempStore store;
  ASSERT_OK_AND_ASSIGN(ChainHead head, ReadChainHead(*store));
  EXPECT_EQ(head.position, Position(0));
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store, {.expect_head = head}));
  EXPECT_TRUE(report.ok()) << report.problem;
  EXPECT_TRUE(report.expected_head_matched);
}

TEST_F(VerifyTest, AnExpectedHeadPastTheLogMeansEventsWereLost) {
  ChainHead beyond{Position(25), std::string(32, 'x')};
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_, {.expect_head = beyond}));
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(report.problem, ::testing::HasSubstr("lost"));
}

TEST_F(VerifyTest, AFlippedByteBreaksTheChainAtItsPosition) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(7)), &value)
                    .ok());
    const size_t at = value.find("\"i\":6");
    ASSERT_NE(at, std::string::npos);
    value[at + 4] = '9';  // the payload now says 9: same length, still decodes
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kLog),
                        internal::LogKey(Position(7)), value)
                    .ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.first_bad_position, Position(7));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("chain hash"));
}

TEST_F(VerifyTest, AMissingIndexEntryIsReported) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), storage.cf(internal::Cf::kByType),
                           internal::IndexKey("Odd", Position(12)))
                    .ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_EQ(report.first_bad_position, Position(12));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("by_type"));
}

TEST_F(VerifyTest, AMisfiledIndexEntryIsReported) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage.cf(internal::Cf::kByCorrelation),
                        internal::IndexKey("corr-x", Position(3)), "")
                    .ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_EQ(report.first_bad_position, Position(3));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("corr-x"));
}

TEST_F(VerifyTest, ALostStreamCopyIsReported) {
  Tamper([](rocksdb::DB* db, internal::Storage& storage) {
    // order-2's revision 1 is position 7 (stream ids follow creation order: order-2 is 3).
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), storage.cf(internal::Cf::kStreamEvents),
                           internal::StreamEventKey(3, Revision(1)))
                    .ok());
  });
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*store_));
  EXPECT_EQ(report.first_bad_position, Position(7));
  EXPECT_THAT(report.problem, ::testing::HasSubstr("order-2"));
}

}  // namespace
}  // namespace annals::testing
