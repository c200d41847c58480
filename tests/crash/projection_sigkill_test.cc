// Projections are exactly once across crashes: crash_projector runs a
// counting projection while appending; the test SIGKILLs it at random
// moments (30 rounds, or ANNALS_CRASH_ROUNDS / 25), and after each kill
// checks that the read model equals a fold, computed here independently,
// of exactly the log positions up to the stored checkpoint: no event
// applied twice, none lost, no effect without its checkpoint.
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "annals/event_store.h"
#include "annals/read_side.h"
#include "annals/storage/v1/projection.pb.h"
#include "gtest/gtest.h"
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
    // Read through the engine's read-side extension, with the keys spelled
    // out here rather than built by the codec under test.
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<extension::ReadSide> read_side,
                         extension::ReadSide::Of(**store));
    ASSERT_OK_AND_ASSIGN(std::optional<std::string> value,
                         read_side->Get(extension::ReadSideFamily::kProjections,
                                        std::string("c\0", 2) + VersionPrefix()));
    uint64_t checkpoint = 0;
    if (value.has_value()) {
      storage::v1::ProjectionCheckpoint stored;
      ASSERT_TRUE(stored.ParseFromString(*value));
      checkpoint = stored.position();
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
    const std::string prefix = VersionPrefix();
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);  // the next version's prefix
    ASSERT_OK_AND_ASSIGN(auto rows, read_side->Scan(extension::ReadSideFamily::kReadModels, prefix,
                                                    end, std::numeric_limits<size_t>::max()));
    for (const auto& [key, row] : rows) actual[key.substr(prefix.size())] = std::stoll(row);
    ASSERT_EQ(actual, expected) << "round " << round << ": read model differs from the fold of "
                                << checkpoint << " events";
  }
  std::printf("%d rounds, last checkpoint %lu\n", rounds,
              static_cast<unsigned long>(last_checkpoint));
  EXPECT_GT(last_checkpoint, 0u);
}

}  // namespace
}  // namespace annals
