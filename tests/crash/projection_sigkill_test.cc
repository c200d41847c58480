// Projections are exactly once across crashes: crash_projector runs a
// counting projection while appending; the test SIGKILLs it at random
// moments (30 rounds, or ANNALS_CRASH_ROUNDS / 25), and after each kill
// checks that the read model equals a fold, computed here independently,
// of exactly the log positions up to the stored checkpoint: no event
// applied twice, none lost, no effect without its checkpoint.
#include <map>
#include <random>
#include <string>

#include "annals/event_store.h"
#include "annals/storage/v1/projection.pb.h"
#include "gtest/gtest.h"
#include "internal_access.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "tests/crash/kill_child.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

// The projection's keys (docs/FORMAT.md): name 0x00 version(u32 BE) ...
std::string VersionPrefix() { return std::string("counts\0\0\0\0\1", 11); }

TEST(ProjectionCrashTest, ReadModelsAreExactlyOnceAcrossSigkill) {
  const char* rounds_env = std::getenv("ANNALS_CRASH_ROUNDS");
  const int rounds = rounds_env ? std::max(30, std::atoi(rounds_env) / 25) : 30;
  testing::TempDir dir;
  const std::string path = dir.Sub("store");
  std::mt19937_64 rng(11);
  uint64_t last_checkpoint = 0;
  for (int round = 0; round < rounds; ++round) {
    testing::RunAndKill(ANNALS_CRASH_PROJECTOR_PATH, path, rng, 5, 60);
    auto store = EventStore::Open(path, testing::TestOptions());
    ASSERT_OK(store.status());
    ASSERT_OK_AND_ASSIGN(internal::EngineHandles engine, internal::EngineHandlesOf(**store));
    rocksdb::DB* db = engine.storage->db();
    std::string value;
    uint64_t checkpoint = 0;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), engine.storage->cf(internal::Cf::kProjections),
                                std::string("c\0", 2) + VersionPrefix(), &value);
    if (s.ok()) {
      storage::v1::ProjectionCheckpoint stored;
      ASSERT_TRUE(stored.ParseFromString(value));
      checkpoint = stored.position();
    } else {
      ASSERT_TRUE(s.IsNotFound()) << s.ToString();
    }
    ASSERT_GE(checkpoint, last_checkpoint) << "round " << round << ": the checkpoint went back";
    last_checkpoint = checkpoint;
    // The fold of positions 1..checkpoint, computed independently.
    std::map<std::string, int64_t> expected;
    if (checkpoint > 0) {
      auto it = (*store)->ReadAll({.max_count = checkpoint});
      ASSERT_OK(it.status());
      for (; (*it)->Valid(); (*it)->Next()) {
        ++expected[(*it)->record().stream];
        ++expected["total"];
      }
      ASSERT_OK((*it)->status());
    }
    std::map<std::string, int64_t> actual;
    std::unique_ptr<rocksdb::Iterator> rows(
        db->NewIterator(rocksdb::ReadOptions(), engine.storage->cf(internal::Cf::kReadModels)));
    const std::string prefix = VersionPrefix();
    for (rows->Seek(prefix); rows->Valid() && rows->key().starts_with(prefix); rows->Next()) {
      actual[rows->key().ToString().substr(prefix.size())] = std::stoll(rows->value().ToString());
    }
    ASSERT_EQ(actual, expected) << "round " << round << ": read model differs from the fold of "
                                << checkpoint << " events";
  }
  std::printf("%d rounds, last checkpoint %lu\n", rounds, static_cast<unsigned long>(last_checkpoint));
  EXPECT_GT(last_checkpoint, 0u);
}

}  // namespace
}  // namespace annals
