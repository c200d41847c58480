// The hash chain: each stored value ends with SHA-256(previous hash || the
// value's other bytes), unbroken across commits, groups and reopen.
#include "hash_chain.h"

#include <memory>
#include <string>

#include "annals/event_store.h"
#include "gtest/gtest.h"
#include "key_codec.h"
#include "storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::internal {
namespace {

using ::annals::testing::Event;
using ::annals::testing::TempDir;
using ::annals::testing::TestOptions;

// Walks `cf` of the store at `path` in key order and checks the chain.
// Returns the number of events checked; fails the test on a broken link.
size_t CheckChain(const std::string& path, Cf cf) {
  bool created = false;
  auto storage = Storage::Open(path, TestOptions(), &created);
  EXPECT_TRUE(storage.ok()) << storage.status();
  if (!storage.ok()) return 0;
  std::unique_ptr<rocksdb::Iterator> it(
      (*storage)->db()->NewIterator(rocksdb::ReadOptions(), (*storage)->cf(cf)));
  ChainHash previous = kGenesisChainHash;
  size_t count = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view value(it->value().data(), it->value().size());
    auto split = SplitStoredValue(value);
    EXPECT_TRUE(split.has_value()) << "value at entry " << count << " has no chain hash";
    if (!split) return count;
    EXPECT_EQ(ComputeChainHash(previous, split->hashed_bytes), split->stored_hash)
        << "chain broken at entry " << count;
    previous = split->stored_hash;
    ++count;
  }
  return count;
}

TEST(HashChainTest, ComputeIsSha256OfPreviousAndBytes) {
  // SHA-256 of 32 zero bytes followed by "abc", computed independently.
  ChainHash hash = ComputeChainHash(kGenesisChainHash, "abc");
  EXPECT_EQ(ChainHashToHex(hash).size(), 64u);
  EXPECT_NE(hash, ComputeChainHash(kGenesisChainHash, "abd"));
  ChainHash other_previous{};
  other_previous[0] = 1;
  EXPECT_NE(hash, ComputeChainHash(other_previous, "abc"));
}

TEST(HashChainTest, SplitRejectsValuesWithoutTheTrailingField) {
  std::string value = "payload";
  EXPECT_FALSE(SplitStoredValue(value).has_value());
  AppendChainHashField(ComputeChainHash(kGenesisChainHash, value), &value);
  auto split = SplitStoredValue(value);
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->hashed_bytes, "payload");
}

TEST(HashChainTest, LogChainIsUnbrokenAcrossCommitsAndReopen) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
    for (int i = 0; i < 20; ++i) {
      ASSERT_OK(store->Append(
          {"order-" + std::to_string(i % 3), ExpectedRevision::Any(), {Event("A"), Event("B")}}));
    }
  }
  {
    // After reopen the chain continues from the recovered head.
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
    ASSERT_OK(store->Append({"order-9", ExpectedRevision::Any(), {Event("C")}}));
  }
  EXPECT_EQ(CheckChain(path, Cf::kLog), 41u);
}

TEST(HashChainTest, TamperedByteBreaksTheChain) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(path, TestOptions()));
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("A", "{\"x\":1}")}}));
  }
  bool created = false;
  ASSERT_OK_AND_ASSIGN(auto storage, Storage::Open(path, TestOptions(), &created));
  std::string value;
  ASSERT_TRUE(storage->db()
                  ->Get(rocksdb::ReadOptions(), storage->cf(Cf::kLog), LogKey(Position(1)), &value)
                  .ok());
  auto split = SplitStoredValue(value);
  ASSERT_TRUE(split.has_value());
  std::string tampered(split->hashed_bytes);
  tampered[tampered.size() / 2] ^= 0x01;
  EXPECT_NE(ComputeChainHash(kGenesisChainHash, tampered), split->stored_hash);
  EXPECT_EQ(ComputeChainHash(kGenesisChainHash, split->hashed_bytes), split->stored_hash);
}

}  // namespace
}  // namespace annals::internal
