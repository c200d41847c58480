// Test-only: a fresh store in a temporary directory, removed at scope end.
#ifndef ANNALS_TESTS_TESTING_TEMP_STORE_H_
#define ANNALS_TESTS_TESTING_TEMP_STORE_H_

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "gtest/gtest.h"

namespace annals::testing {

// A unique temporary directory, deleted (recursively) by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "annals-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Options for test stores: created on demand; sync off unless a test is
// about durability (the crash test turns it on), to keep the suite fast.
inline StoreOptions TestOptions() {
  StoreOptions options;
  options.create_if_missing = true;
  options.sync = false;
  options.tuning.write_buffer_bytes = 4 << 20;
  options.tuning.block_cache_bytes = 8 << 20;
  return options;
}

// A store opened in its own temporary directory.
class TempStore {
 public:
  explicit TempStore(StoreOptions options = TestOptions()) : options_(std::move(options)) {
    Reopen();
  }
  EventStore* operator->() const { return store_.get(); }
  EventStore& operator*() const { return *store_; }
  EventStore* get() const { return store_.get(); }
  const std::string& path() const { return dir_.path(); }

  // Closes the store and opens it again from disk.
  void Reopen() {
    if (store_ != nullptr) {
      EXPECT_TRUE(store_->Close().ok());
      store_.reset();
    }
    auto store = EventStore::Open(dir_.path() + "/store", options_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }
  void Close() { store_.reset(); }

 private:
  TempDir dir_;
  StoreOptions options_;
  std::unique_ptr<EventStore> store_;
};

// A simple event: type and data as given.
inline EventData Event(std::string type, std::string data = "{}") {
  EventData event;
  event.type = std::move(type);
  event.data = std::move(data);
  event.content_type = "application/json";
  return event;
}

// Drains an iterator into a vector (test stores are small).
inline std::vector<EventRecord> Drain(EventIterator& it) {
  std::vector<EventRecord> records;
  for (; it.Valid(); it.Next()) records.push_back(it.record());
  EXPECT_TRUE(it.status().ok()) << it.status();
  return records;
}

// The positions and revisions of records, for ElementsAre.
inline std::vector<uint64_t> Positions(const std::vector<EventRecord>& records) {
  std::vector<uint64_t> out;
  for (const EventRecord& r : records) out.push_back(r.position.value());
  return out;
}
inline std::vector<uint64_t> Revisions(const std::vector<EventRecord>& records) {
  std::vector<uint64_t> out;
  for (const EventRecord& r : records) out.push_back(r.revision.value());
  return out;
}

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TESTING_TEMP_STORE_H_
