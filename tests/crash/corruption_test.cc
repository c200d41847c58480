// Damaged files: a store must detect or refuse every damaged byte, never
// serve changed data with a passing verify, and never drop acknowledged
// events without saying so. The write-ahead log cases kill crash_writer
// (sync = true) so its data is still only in the log, then damage it.
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "gtest/gtest.h"
#include "tests/crash/kill_child.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals {
namespace {

using ::annals::testing::Drain;
using ::annals::testing::StatusIs;
using ::annals::testing::TempDir;
using ::testing::HasSubstr;

std::vector<std::filesystem::path> FilesEndingWith(const std::string& dir, std::string_view suffix) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().ends_with(suffix)) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The largest write-ahead log of the store: the one the killed writer used.
std::filesystem::path LiveWal(const std::string& store) {
  std::vector<std::filesystem::path> logs = FilesEndingWith(store, ".log");
  EXPECT_FALSE(logs.empty()) << "the killed writer left no write-ahead log";
  return *std::max_element(logs.begin(), logs.end(), [](const auto& a, const auto& b) {
    return std::filesystem::file_size(a) < std::filesystem::file_size(b);
  });
}

// Runs crash_writer on a fresh store until it has written `min_wal_bytes`
// of write-ahead log, then SIGKILLs it. Returns the store's path.
std::string KilledWriterStore(const TempDir& dir, std::mt19937_64& rng) {
  const std::string store = dir.Sub("store");
  testing::RunAndKill(ANNALS_CRASH_WRITER_PATH, store, rng, 300, 400);
  return store;
}

TEST(WalDamageTest, AFlippedByteInTheMiddleRefusesTheOpenAndRepairKeepsThePrefix) {
  std::mt19937_64 rng(42);
  TempDir dir;
  const std::string store = KilledWriterStore(dir, rng);
  const std::filesystem::path wal = LiveWal(store);
  std::string bytes = ReadFile(wal);
  ASSERT_GT(bytes.size(), 64u << 10) << "too little log to damage its middle";
  const size_t flipped = bytes.size() / 2;
  bytes[flipped] ^= 0x20;
  WriteFile(wal, bytes);
  const std::string damaged_copy = bytes;

  // Every open refuses, naming the file and the offset, and changes nothing.
  absl::StatusOr<std::unique_ptr<EventStore>> writable = EventStore::Open(store, {});
  ASSERT_THAT(writable.status(), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(writable.status().message(), HasSubstr(wal.filename().string()));
  EXPECT_THAT(writable.status().message(), HasSubstr("annals repair"));
  EXPECT_EQ(ReadFile(wal), damaged_copy);
  StoreOptions read_only;
  read_only.read_only = true;
  EXPECT_THAT(EventStore::Open(store, read_only).status(), StatusIs(absl::StatusCode::kDataLoss));

  const std::string backup = dir.Sub("backup");
  absl::StatusOr<RepairReport> report = RepairStore(store, {.backup_directory = backup});
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->repaired);
  EXPECT_EQ(report->damaged_file, wal.filename().string());
  // The offset names the record holding the flipped byte.
  EXPECT_LE(report->damaged_offset, flipped);
  EXPECT_GT(report->damaged_offset + (64u << 10), flipped);
  EXPECT_EQ(report->bytes_dropped, bytes.size() - report->damaged_offset);
  EXPECT_TRUE(report->verify.ok()) << report->verify.problem;
  EXPECT_GT(report->events, 0u);
  EXPECT_EQ(report->events, report->head.value());  // a dense prefix
  // The damaged files were kept, byte for byte.
  EXPECT_EQ(ReadFile(std::filesystem::path(backup) / wal.filename()), damaged_copy);

  // The repaired store opens as usual, holds positions 1..head, verifies.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventStore> reopened, EventStore::Open(store, {}));
  EXPECT_EQ(reopened->head(), report->head);
  ASSERT_OK_AND_ASSIGN(auto it, reopened->ReadAll());
  std::vector<EventRecord> events = Drain(*it);
  ASSERT_EQ(events.size(), report->events);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].position.value(), i + 1);
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, reopened->Verify());
  EXPECT_TRUE(verify.ok()) << verify.problem;
  ASSERT_OK_AND_ASSIGN(ChainHead head, ReadChainHead(*reopened));
  EXPECT_EQ(head, report->chain_head);
}

TEST(WalDamageTest, ATornTailIsDroppedAndTheStoreOpens) {
  std::mt19937_64 rng(7);
  TempDir dir;
  const std::string store = KilledWriterStore(dir, rng);
  const std::filesystem::path wal = LiveWal(store);
  const uintmax_t size = std::filesystem::file_size(wal);
  ASSERT_GT(size, 100u);
  // A crash in the middle of writing the last record leaves part of it.
  std::filesystem::resize_file(wal, size - 5);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventStore> reopened, EventStore::Open(store, {}));
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, reopened->Verify());
  EXPECT_TRUE(verify.ok()) << verify.problem;
  EXPECT_GT(reopened->head().value(), 0u);
}

TEST(WalDamageTest, RepairOfAnIntactStoreChangesNothing) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), {.create_if_missing = true}));
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::NoStream(), {testing::Event("Placed")}}).status());
  }
  ASSERT_OK_AND_ASSIGN(RepairReport report, RepairStore(dir.Sub("store"), {.backup_directory = dir.Sub("b")}));
  EXPECT_FALSE(report.repaired);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("b")));
  EXPECT_EQ(report.events, 1u);
  EXPECT_TRUE(report.verify.ok());
}

TEST(WalDamageTest, RepairRefusesWhatItCannotDo) {
  TempDir dir;
  EXPECT_THAT(RepairStore(dir.Sub("nothing")).status(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), {.create_if_missing = true}));
  EXPECT_THAT(RepairStore(dir.Sub("store")).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace annals
