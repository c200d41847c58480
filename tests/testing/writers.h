// Test-only: threads appending to streams concurrently, joined at scope end.
#ifndef ANNALS_TESTS_TESTING_WRITERS_H_
#define ANNALS_TESTS_TESTING_WRITERS_H_

#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {

// Writers appending `per_writer` events each to streams `<category>-<w>`.
class Writers {
 public:
  Writers(EventStore* store, int writers, int per_writer, std::string category = "order") {
    for (int w = 0; w < writers; ++w) {
      threads_.emplace_back([=] {
        const std::string stream = category + "-" + std::to_string(w);
        for (int i = 0; i < per_writer; ++i) {
          auto result = store->Append({stream, ExpectedRevision::Any(), {Event("E")}});
          ASSERT_TRUE(result.ok()) << result.status();
        }
      });
    }
  }
  void Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  ~Writers() { Join(); }

 private:
  std::vector<std::thread> threads_;
};

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TESTING_WRITERS_H_
