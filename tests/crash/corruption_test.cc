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
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "annals/maintenance.h"
#include "annals/projection.h"
#include "annals/snapshot.h"
#include "gtest/gtest.h"
#include "internal_access.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "tests/crash/kill_child.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::HasSubstr;

std::vector<std::filesystem::path> FilesEndingWith(const std::string& dir,
                                                   std::string_view suffix) {
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

// Runs crash_writer on a fresh store for a while, then SIGKILLs it. Returns
// the store's path; `*largest_acknowledged` is the largest position it
// acknowledged.
std::string KilledWriterStore(const TempDir& dir, std::mt19937_64& rng,
                              uint64_t* largest_acknowledged = nullptr) {
  const std::string store = dir.Sub("store");
  const std::string acks = testing::RunAndKill(ANNALS_CRASH_WRITER_PATH, store, rng, 300, 400);
  // Each line: "<stream> <first_revision> <last_revision> <first_position> <last_position>".
  uint64_t largest = 0;
  std::istringstream lines(acks);
  for (std::string stream; lines >> stream;) {
    uint64_t numbers[4];
    for (uint64_t& n : numbers) lines >> n;
    largest = std::max(largest, numbers[3]);
  }
  if (largest_acknowledged != nullptr) *largest_acknowledged = largest;
  return store;
}

// The logical records of a write-ahead log file, as [start, end) byte
// ranges, read from the fragment headers alone (RocksDB's log format: 32 KiB
// blocks; each fragment a 7-byte header — CRC 4, length 2 little-endian,
// type 1 full / 2 first / 3 middle / 4 last — then its bytes; a block's last
// < 7 bytes are padding). A killed writer may leave the first fragments of
// its last record without the last one: that torn record is listed too, as
// far as its fragments reach.
std::vector<std::pair<uint64_t, uint64_t>> LogRecords(const std::string& log) {
  constexpr uint64_t kBlock = 32768, kHeader = 7;
  std::vector<std::pair<uint64_t, uint64_t>> records;
  uint64_t offset = 0, start = 0;
  bool open = false;  // a first fragment seen, its last one not yet
  while (offset + kHeader <= log.size()) {
    const uint64_t left = kBlock - offset % kBlock;
    if (left < kHeader) {
      offset += left;
      continue;
    }
    const uint64_t length = static_cast<uint8_t>(log[offset + 4]) |
                            (static_cast<uint64_t>(static_cast<uint8_t>(log[offset + 5])) << 8);
    const int type = static_cast<uint8_t>(log[offset + 6]);
    if (type == 0) break;  // preallocated zeros: the end
    if (type == 1 || type == 2) start = offset;
    open = type == 2 || type == 3;
    offset += kHeader + length;
    if (type == 1 || type == 4) records.emplace_back(start, std::min<uint64_t>(offset, log.size()));
  }
  if (open) records.emplace_back(start, std::min<uint64_t>(offset, log.size()));
  return records;
}

// The logical record holding byte `offset`; nullopt for padding.
std::optional<std::pair<uint64_t, uint64_t>> RecordHolding(
    const std::vector<std::pair<uint64_t, uint64_t>>& records, uint64_t offset) {
  for (const auto& record : records) {
    if (offset >= record.first && offset < record.second) return record;
  }
  return std::nullopt;
}

// "damaged at byte N" in a DataLoss message.
std::optional<uint64_t> DamagedAt(std::string_view message) {
  const size_t at = message.find("damaged at byte ");
  if (at == std::string_view::npos) return std::nullopt;
  uint64_t n = 0;
  std::string digits;
  for (size_t i = at + 16;
       i < message.size() && absl::ascii_isdigit(static_cast<unsigned char>(message[i])); ++i) {
    digits.push_back(message[i]);
  }
  if (!absl::SimpleAtoi(digits, &n)) return std::nullopt;
  return n;
}

TEST(WalDamageTest, AFlippedByteInTheMiddleRefusesTheOpenAndRepairKeepsThePrefix) {
  std::mt19937_64 rng(42);
  TempDir dir;
  uint64_t acknowledged = 0;
  const std::string store = KilledWriterStore(dir, rng, &acknowledged);
  const std::filesystem::path wal = LiveWal(store);
  std::string bytes = ReadFile(wal);
  ASSERT_GT(bytes.size(), 64u << 10) << "too little log to damage its middle";
  const std::vector<std::pair<uint64_t, uint64_t>> records = LogRecords(bytes);
  ASSERT_GT(records.size(), 10u);
  // A byte in the middle of a record in the middle of the log.
  const auto record = records[records.size() / 2];
  const size_t flipped = (record.first + record.second) / 2;
  bytes[flipped] ^= 0x20;
  WriteFile(wal, bytes);
  const std::string damaged_copy = bytes;

  // Every open refuses, naming the file and the damaged record's offset,
  // and changes nothing.
  absl::StatusOr<std::unique_ptr<EventStore>> writable = EventStore::Open(store, {});
  ASSERT_THAT(writable.status(), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(writable.status().message(), HasSubstr(wal.filename().string()));
  EXPECT_THAT(writable.status().message(),
              HasSubstr(absl::StrCat("damaged at byte ", record.first, " ")));
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
  EXPECT_EQ(report->damaged_offset, record.first);
  EXPECT_EQ(report->bytes_dropped, bytes.size() - record.first);
  EXPECT_TRUE(report->verify.ok()) << report->verify.problem;
  EXPECT_GT(report->events, 0u);
  // The intact prefix is dense; what was written after it (acknowledged,
  // perhaps seen) is a lost range that is never used again.
  EXPECT_EQ(report->lost_first.value(), report->events + 1);
  EXPECT_GE(report->lost_last.value(), acknowledged);
  EXPECT_EQ(report->head, report->lost_last);
  EXPECT_EQ(report->verify.lost, report->lost_last.value() - report->lost_first.value() + 1);
  // The damaged files were kept, byte for byte.
  EXPECT_EQ(ReadFile(std::filesystem::path(backup) / wal.filename()), damaged_copy);

  // The repaired store opens as usual, holds positions 1..events, verifies,
  // and a new event goes after every position ever acknowledged.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventStore> reopened, EventStore::Open(store, {}));
  EXPECT_EQ(reopened->head(), report->head);
  {
    ASSERT_OK_AND_ASSIGN(auto it, reopened->ReadAll());
    std::vector<EventRecord> events = Drain(*it);
    ASSERT_EQ(events.size(), report->events);
    for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].position.value(), i + 1);
  }
  ASSERT_OK_AND_ASSIGN(
      AppendResult next,
      reopened->Append({"after-1", ExpectedRevision::Any(), {testing::Event("E")}}));
  EXPECT_GT(next.first_position.value(), acknowledged);
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, Verify(*reopened));
  EXPECT_TRUE(verify.ok()) << verify.problem;
  ASSERT_OK_AND_ASSIGN(ChainHead head, ReadChainHead(*reopened));
  EXPECT_EQ(head.position, next.last_position);
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
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, Verify(*reopened));
  EXPECT_TRUE(verify.ok()) << verify.problem;
  EXPECT_GT(reopened->head().value(), 0u);
}

TEST(WalDamageTest, RepairOfAnIntactStoreChangesNothing) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store,
                         EventStore::Open(dir.Sub("store"), {.create_if_missing = true}));
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::NoStream(), {testing::Event("Placed")}})
                  .status());
  }
  ASSERT_OK_AND_ASSIGN(RepairReport report,
                       RepairStore(dir.Sub("store"), {.backup_directory = dir.Sub("b")}));
  EXPECT_FALSE(report.repaired);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("b")));
  EXPECT_EQ(report.events, 1u);
  EXPECT_TRUE(report.verify.ok());
}

TEST(WalDamageTest, RepairRefusesWhatItCannotDo) {
  TempDir dir;
  EXPECT_THAT(RepairStore(dir.Sub("nothing")).status(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(dir.Sub("store"), {.create_if_missing = true}));
  EXPECT_THAT(RepairStore(dir.Sub("store")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// A store with data in every column family, closed (so every family is in
// table files).
void BuildFullStore(const std::string& path) {
  StoreOptions options;
  options.create_if_missing = true;
  auto store = EventStore::Open(path, options);
  ASSERT_OK(store.status());
  for (int i = 0; i < 300; ++i) {
    EventData event =
        testing::Event(i % 3 ? "ItemAdded" : "OrderPlaced",
                       absl::StrCat("{\"i\":", i, ",\"pad\":\"", std::string(200, 'p'), "\"}"));
    event.correlation_id = absl::StrCat("corr-", i % 7);
    event.causation_id = absl::StrCat("cause-", i % 5);
    event.event_id = EventId::Generate();  // caller ids: event_ids entries
    event.metadata = {{"user", "alice"}, {"bytes", std::string("\xff\x00\x01", 3)}};
    ASSERT_OK((*store)
                  ->Append({absl::StrCat("order-", i % 10), ExpectedRevision::Any(), {event}})
                  .status());
  }
  ASSERT_OK(
      WriteSnapshot(**store, {.stream = "order-1", .revision = Revision(5), .state = "state"}));
  ASSERT_OK((*store)->DeleteStream("order-9").status());
  {
    auto sub = (*store)->Subscribe({.durable_name = "mailer"});
    ASSERT_OK(sub.status());
    ASSERT_OK((*sub)->Next(absl::Seconds(5)).status());
    ASSERT_OK((*sub)->SaveCheckpoint());
  }
  {
    ProjectionRunner runner(**store);
    ASSERT_OK(
        runner.Register({.name = "counts", .apply = [](const EventRecord& e, ReadModelWriter& rm) {
                           rm.Put(e.stream, e.type);
                           return absl::OkStatus();
                         }}));
    ASSERT_OK(runner.WaitForPosition("counts", (*store)->head(), absl::Seconds(30)));
  }
  ASSERT_OK((*store)->Close());
}

// Every key and value of every column family, in order: what the store
// serves, byte for byte.
std::string Dump(EventStore& store) {
  absl::StatusOr<internal::EngineHandles> handles = internal::EngineHandlesOf(store);
  EXPECT_OK(handles.status());
  if (!handles.ok()) return "";
  std::string dump;
  for (size_t i = 0; i < static_cast<size_t>(internal::Cf::kCount); ++i) {
    const auto cf = static_cast<internal::Cf>(i);
    std::unique_ptr<rocksdb::Iterator> it(
        handles->storage->db()->NewIterator(rocksdb::ReadOptions(), handles->storage->cf(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      absl::StrAppend(&dump, std::string(internal::CfName(cf)), "|", it->key().size(), ":",
                      it->key().ToString(), "|", it->value().size(), ":", it->value().ToString(),
                      "\n");
    }
    if (!it->status().ok()) return absl::StrCat("unreadable: ", it->status().ToString());
  }
  return dump;
}

// The table files of a closed store, with their column families.
std::vector<std::pair<std::string, std::string>> TableFiles(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> files;
  auto store = EventStore::Open(path, {});
  EXPECT_OK(store.status());
  if (!store.ok()) return files;
  absl::StatusOr<internal::EngineHandles> handles = internal::EngineHandlesOf(**store);
  EXPECT_OK(handles.status());
  std::vector<rocksdb::LiveFileMetaData> live;
  handles->storage->db()->GetLiveFilesMetaData(&live);
  for (const auto& file : live) files.emplace_back(file.name.substr(1), file.column_family_name);
  handles->storage.reset();
  EXPECT_OK((*store)->Close());
  return files;
}

int FlipsPerFile() {
  const char* env = std::getenv("ANNALS_CORRUPTION_FLIPS");
  int flips = 6;
  if (env != nullptr && (!absl::SimpleAtoi(env, &flips) || flips < 1)) flips = 6;
  return flips;
}

struct Outcome {
  int trials = 0, refused = 0, detected = 0, harmless = 0;
};

// One damaged byte in `file` of a copy of `original`: the copy must refuse
// to open, or report the damage in Verify, or serve exactly what the
// original holds (and then stay sound through a full compaction).
void FlipAndCheck(const std::string& original, const std::string& expected_dump,
                  const std::string& file, uint64_t offset, const TempDir& dir, Outcome* outcome) {
  SCOPED_TRACE(absl::StrCat(file, " byte ", offset));
  const std::string copy = dir.Sub(absl::StrCat("trial-", outcome->trials));
  std::filesystem::copy(original, copy, std::filesystem::copy_options::recursive);
  const std::filesystem::path path = std::filesystem::path(copy) / file;
  std::string bytes = ReadFile(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x55);
  WriteFile(path, bytes);
  ++outcome->trials;
  absl::StatusOr<std::unique_ptr<EventStore>> store = EventStore::Open(copy, {});
  if (!store.ok()) {
    // Damage is DataLoss; a CURRENT naming no MANIFEST, or an OPTIONS file
    // RocksDB cannot read, is a store it cannot open at all.
    EXPECT_THAT(
        store.status().code(),
        ::testing::AnyOf(absl::StatusCode::kDataLoss, absl::StatusCode::kInternal,
                         absl::StatusCode::kFailedPrecondition, absl::StatusCode::kNotFound))
        << store.status();
    ++outcome->refused;
  } else {
    absl::StatusOr<VerifyReport> report = Verify(**store);
    if (!report.ok() || !report->ok()) {
      ++outcome->detected;
    } else {
      // Verify passed: then nothing may have changed, now or when every
      // byte is read again by a compaction.
      EXPECT_EQ(Dump(**store), expected_dump) << "served changed data with a passing verify";
      absl::StatusOr<internal::EngineHandles> handles = internal::EngineHandlesOf(**store);
      ASSERT_OK(handles.status());
      rocksdb::CompactRangeOptions compact;
      compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      for (size_t i = 0; i < static_cast<size_t>(internal::Cf::kCount); ++i) {
        rocksdb::Status s = handles->storage->db()->CompactRange(
            compact, handles->storage->cf(static_cast<internal::Cf>(i)), nullptr, nullptr);
        EXPECT_TRUE(s.ok()) << "verify passed but compaction found damage: " << s.ToString();
      }
      ++outcome->harmless;
    }
    if (store.ok()) (*store)->Close().IgnoreError();  // a damaged store may fail its flush
  }
  std::filesystem::remove_all(copy);
}

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    original_ = dir_.Sub("original");
    BuildFullStore(original_);
    auto store = EventStore::Open(original_, {});
    ASSERT_OK(store.status());
    dump_ = Dump(**store);
    ASSERT_OK((*store)->Close());
  }
  TempDir dir_;
  std::string original_;
  std::string dump_;
};

TEST_F(CorruptionTest, AFlippedByteInAnyTableFileOfAnyColumnFamilyIsDetected) {
  std::vector<std::pair<std::string, std::string>> files = TableFiles(original_);
  std::set<std::string> families;
  for (const auto& [file, family] : files) families.insert(family);
  for (const char* family : {"log", "stream_events", "streams", "event_ids", "meta", "by_category",
                             "by_type", "by_correlation", "by_causation", "by_time", "checkpoints",
                             "snapshots", "read_models", "projections"}) {
    EXPECT_TRUE(families.contains(family)) << "no table file of " << family << " to damage";
  }
  std::mt19937_64 rng(1234);
  Outcome outcome;
  for (const auto& [file, family] : files) {
    SCOPED_TRACE(family);
    const uint64_t size = std::filesystem::file_size(std::filesystem::path(original_) / file);
    // The start, the footer (last 53 bytes), and random places between.
    std::vector<uint64_t> offsets = {0, size - 1, size - 20, size - 48};
    for (int i = 0; i < FlipsPerFile(); ++i) offsets.push_back(rng() % size);
    for (uint64_t offset : offsets) FlipAndCheck(original_, dump_, file, offset, dir_, &outcome);
  }
  std::cout << "table files: " << outcome.trials << " flips over " << files.size()
            << " files: " << outcome.refused << " refused at open, " << outcome.detected
            << " reported by verify, " << outcome.harmless << " changed nothing served\n";
  EXPECT_GT(outcome.refused + outcome.detected, 0);
}

TEST_F(CorruptionTest, AFlippedByteInTheManifestCurrentOrOptionsIsRefusedOrHarmless) {
  Outcome outcome;
  std::mt19937_64 rng(99);
  for (const std::string& suffix :
       {std::string("CURRENT"), std::string("MANIFEST-"), std::string("OPTIONS-")}) {
    for (const auto& entry : std::filesystem::directory_iterator(original_)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(suffix)) continue;
      const uint64_t size = std::filesystem::file_size(entry.path());
      std::vector<uint64_t> offsets = {0, size / 2, size - 1};
      for (int i = 0; i < FlipsPerFile(); ++i) offsets.push_back(rng() % size);
      for (uint64_t offset : offsets) FlipAndCheck(original_, dump_, name, offset, dir_, &outcome);
    }
  }
  std::cout << "MANIFEST, CURRENT, OPTIONS: " << outcome.trials << " flips: " << outcome.refused
            << " refused at open, " << outcome.detected << " reported by verify, "
            << outcome.harmless << " changed nothing served\n";
  EXPECT_GT(outcome.refused, 0);
}

TEST(WalDamageTest, AFlippedByteAnywhereInAKilledWritersLogIsRefusedOrChangesNothing) {
  std::mt19937_64 rng(2026);
  TempDir dir;
  const std::string store = KilledWriterStore(dir, rng);
  const std::string wal_name = LiveWal(store).filename().string();
  const std::string original = ReadFile(std::filesystem::path(store) / wal_name);
  // What the undamaged log recovers to.
  std::string expected;
  {
    const std::string copy = dir.Sub("undamaged");
    std::filesystem::copy(store, copy, std::filesystem::copy_options::recursive);
    ASSERT_OK_AND_ASSIGN(auto opened, EventStore::Open(copy, {}));
    expected = Dump(*opened);
  }
  const std::vector<std::pair<uint64_t, uint64_t>> records = LogRecords(original);
  ASSERT_FALSE(records.empty());
  int refused = 0, harmless = 0, trials = 0;
  for (int i = 0; i < 2 * FlipsPerFile(); ++i) {
    const uint64_t offset = rng() % original.size();
    SCOPED_TRACE(absl::StrCat("byte ", offset));
    const std::string copy = dir.Sub(absl::StrCat("trial-", i));
    std::filesystem::copy(store, copy, std::filesystem::copy_options::recursive);
    std::string bytes = original;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x01);
    WriteFile(std::filesystem::path(copy) / wal_name, bytes);
    ++trials;
    const std::optional<std::pair<uint64_t, uint64_t>> record = RecordHolding(records, offset);
    absl::StatusOr<std::unique_ptr<EventStore>> opened = EventStore::Open(copy, {});
    if (!opened.ok()) {
      // A flip inside a record: refused, naming where that record starts.
      EXPECT_THAT(opened.status(), StatusIs(absl::StatusCode::kDataLoss));
      ASSERT_TRUE(record.has_value()) << "refused for a flip in padding: " << opened.status();
      EXPECT_EQ(DamagedAt(std::string(opened.status().message())), record->first)
          << opened.status();
      ++refused;
    } else {
      // Only a flip in a block's padding, or one in the last record's length
      // that makes it look torn, may open — and then nothing but that last
      // record (never acknowledged, as far as the log can tell) is missing.
      const bool in_last = record && *record == records.back();
      EXPECT_TRUE(!record || in_last) << "opened with a damaged record in the middle of the log";
      if (!record) {
        EXPECT_EQ(Dump(**opened), expected);
      }
      ++harmless;
    }
  }
  std::cout << "write-ahead log: " << trials << " flips, " << refused << " refused, " << harmless
            << " in padding or the torn-looking last record\n";
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace annals::testing
