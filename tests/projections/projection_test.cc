// The projection runner: folds equal to an independent fold of the log under
// concurrent appends, read-your-own-batch gets, filters advancing the
// checkpoint, restart without double effects, stop and park failure
// policies (ordered per stream), rebuild without a half-built model ever
// served, reset, queries, lag and wait-for-position. Run under TSan in CI.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"
#include "annals/projection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "projections/testing_hooks.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kWait = absl::Seconds(30);

// Counts events per stream (key = stream) and in total (key "total"),
// reading its own batch's writes.
absl::Status Count(const EventRecord& e, ReadModelWriter& rm) {
  for (const std::string& key : {e.stream, std::string("total")}) {
    absl::StatusOr<std::optional<std::string>> current = rm.Get(key);
    if (!current.ok()) return current.status();
    rm.Put(key, std::to_string((*current ? std::stoll(**current) : 0) + 1));
  }
  return absl::OkStatus();
}

ProjectionSpec CounterProjection(std::string name = "counts", EventFilter filter = {}) {
  return {.name = std::move(name), .filter = std::move(filter), .apply = Count};
}

// The same fold, computed from the log directly.
std::map<std::string, int64_t> FoldLog(EventStore& store, const EventFilter& filter) {
  std::map<std::string, int64_t> counts;
  auto it = store.ReadAll({.filter = filter});
  EXPECT_OK(it.status());
  for (const EventRecord& e : Drain(**it)) {
    ++counts[e.stream];
    ++counts["total"];
  }
  return counts;
}

std::map<std::string, int64_t> ReadModel(ProjectionRunner& runner, const std::string& name) {
  std::map<std::string, int64_t> counts;
  auto rows = runner.Scan(name, "");
  EXPECT_OK(rows.status());
  for (auto& [key, value] : *rows) counts[key] = std::stoll(value);
  return counts;
}

// Opens once and stays open; Wait blocks until then.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Opens `gate` when it goes out of scope, so that nothing waits on it past
// a failed assertion.
class GateOpener {
 public:
  explicit GateOpener(Gate& gate) : gate_(gate) {}
  ~GateOpener() { gate_.Open(); }

 private:
  Gate& gate_;
};

void AppendFromThreads(EventStore& store, int threads, int each, const std::string& category) {
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        ASSERT_OK(store.Append({category + "-" + std::to_string(t),
                                ExpectedRevision::Any(),
                                {Event(i % 2 ? "Odd" : "Even")}}));
      }
    });
  }
  for (auto& w : writers) w.join();
}

TEST(ProjectionTest, TheReadModelEqualsAFoldOfTheLogUnderConcurrentAppends) {
  TempStore store;
  AppendFromThreads(*store, 2, 100, "order");  // history to catch up on
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  AppendFromThreads(*store, 4, 300, "order");  // live, while it runs
  ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  EXPECT_EQ(ReadModel(runner, "counts"), FoldLog(*store, {}));
  ASSERT_OK_AND_ASSIGN(ProjectionStatus status, runner.Status("counts"));
  EXPECT_EQ(status.checkpoint, store->head());
  EXPECT_EQ(status.lag, 0u);
  EXPECT_EQ(status.time_behind, absl::ZeroDuration());
  EXPECT_THAT(runner.Get("counts", "total"), IsOkAndHolds(std::optional<std::string>("1400")));
  EXPECT_THAT(runner.Get("counts", "nothing"), IsOkAndHolds(std::optional<std::string>()));
}

TEST(ProjectionTest, WritersReadTheirOwnWritesUnderConcurrentAppends) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      const std::string stream = "order-" + std::to_string(t);
      for (int i = 1; i <= 50; ++i) {
        auto appended = store->Append({stream, ExpectedRevision::Any(), {Event("E")}});
        ASSERT_OK(appended.status());
        ASSERT_OK(runner.WaitForPosition("counts", appended->last_position, kWait));
        // Once waited for, the writer's own event is in the read model.
        auto count = runner.Get("counts", stream);
        ASSERT_OK(count.status());
        ASSERT_TRUE(count->has_value());
        ASSERT_EQ(std::stoi(**count), i);
        auto status = runner.Status("counts");
        ASSERT_OK(status.status());
        ASSERT_GE(status->checkpoint, appended->last_position);
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_OK_AND_ASSIGN(ProjectionStatus status, runner.Status("counts"));
  EXPECT_EQ(status.lag, store->head().value() - status.checkpoint.value());
}

TEST(ProjectionTest, SeveralProjectionsSideBySideWithFilters) {
  TempStore store;
  ProjectionRunner runner(*store);
  EventFilter orders{.categories = {"order"}};
  EventFilter odd{.event_types = {"Odd"}};
  ASSERT_OK(runner.Register(CounterProjection("orders", orders)));
  ASSERT_OK(runner.Register(CounterProjection("odd", odd)));
  AppendFromThreads(*store, 2, 200, "order");
  AppendFromThreads(*store, 2, 200, "invoice");
  // The last events are invoices: waiting for the head still ends, since
  // skipped events advance the checkpoint.
  ASSERT_OK(runner.WaitForPosition("orders", store->head(), kWait));
  ASSERT_OK(runner.WaitForPosition("odd", store->head(), kWait));
  EXPECT_EQ(ReadModel(runner, "orders"), FoldLog(*store, orders));
  EXPECT_EQ(ReadModel(runner, "odd"), FoldLog(*store, odd));
}

TEST(ProjectionTest, ARestartResumesFromTheCheckpointWithoutDoubleEffects) {
  TempStore store;
  {
    ProjectionRunner runner(*store);
    ASSERT_OK(runner.Register(CounterProjection()));
    AppendFromThreads(*store, 2, 150, "order");
    ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  }
  AppendFromThreads(*store, 2, 50, "order");  // while no runner runs
  store.Reopen();
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  EXPECT_EQ(ReadModel(runner, "counts"), FoldLog(*store, {}));
}

TEST(ProjectionTest, WaitForPositionTimesOutAndReportsFailure) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  EXPECT_THAT(runner.WaitForPosition("counts", Position(5), absl::Milliseconds(20)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(runner.WaitForPosition("nope", Position(1), kWait),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(ProjectionTest, StopPolicyStopsBeforeTheFailingEventWithTheErrorVisible) {
  TempStore store;
  ProjectionRunner runner(*store);
  std::atomic<int> calls{0};
  ASSERT_OK(runner.Register({.name = "fragile",
                             .apply =
                                 [&](const EventRecord& e, ReadModelWriter& rm) {
                                   ++calls;
                                   if (e.type == "Poison")
                                     return absl::InternalError("cannot digest");
                                   return Count(e, rm);
                                 },
                             .max_attempts = 3,
                             .retry_backoff = absl::Milliseconds(1)}));
  for (const char* type : {"A", "B", "Poison", "C"}) {
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event(type)}}));
  }
  EXPECT_THAT(runner.WaitForPosition("fragile", Position(4), kWait),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(ProjectionStatus status, runner.Status("fragile"));
  EXPECT_EQ(status.state, ProjectionState::kFailed);
  EXPECT_EQ(status.checkpoint, Position(2));
  EXPECT_THAT(status.error,
              StatusIs(absl::StatusCode::kInternal, ::testing::HasSubstr("order-1@2")));
  EXPECT_THAT(runner.Get("fragile", "total"), IsOkAndHolds(std::optional<std::string>("2")));
  EXPECT_EQ(calls.load(), 2 + 3);  // two events, then three attempts at the poison
  // Behind by two positions, and by the age of the first one not applied.
  EXPECT_EQ(status.lag, 2u);
  EXPECT_GT(status.time_behind, absl::ZeroDuration());
}

TEST(ProjectionTest, ParkingKeepsPerStreamOrderAndOtherStreamsGoOn) {
  TempStore store;
  ProjectionRunner runner(*store);
  std::atomic<bool> fixed{false};
  std::vector<std::string> applied;  // the projection's thread, or RetryParked's caller
  std::mutex applied_mu;
  ASSERT_OK(runner.Register({.name = "parking",
                             .apply =
                                 [&](const EventRecord& e, ReadModelWriter& rm) {
                                   if (e.type == "Poison" && !fixed)
                                     return absl::InternalError("bad");
                                   std::lock_guard<std::mutex> lock(applied_mu);
                                   applied.push_back(e.stream + ":" + e.type);
                                   return Count(e, rm);
                                 },
                             .on_failure = OnFailure::kPark,
                             .max_attempts = 1}));
  auto append = [&](const char* stream, const char* type) {
    ASSERT_OK(store->Append({stream, ExpectedRevision::Any(), {Event(type)}}));
  };
  append("order-1", "A");
  append("order-1", "Poison");
  append("order-2", "X");
  append("order-1", "B");  // behind the poison: parked too
  append("order-2", "Y");
  ASSERT_OK(runner.WaitForPosition("parking", store->head(), kWait));
  ASSERT_OK_AND_ASSIGN(auto parked, runner.Parked("parking"));
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_EQ(parked[0].event.type, "Poison");
  EXPECT_THAT(parked[0].error, ::testing::HasSubstr("bad"));
  EXPECT_EQ(parked[1].event.type, "B");
  EXPECT_THAT(runner.Get("parking", "order-2"), IsOkAndHolds(std::optional<std::string>("2")));
  EXPECT_THAT(runner.Get("parking", "order-1"), IsOkAndHolds(std::optional<std::string>("1")));
  // Still broken: a retry keeps both parked.
  EXPECT_FALSE(runner.RetryParked("parking", "order-1").ok());
  ASSERT_OK_AND_ASSIGN(parked, runner.Parked("parking"));
  EXPECT_EQ(parked.size(), 2u);
  // Fixed: released in order, and the stream flows again.
  fixed = true;
  ASSERT_OK(runner.RetryParked("parking", "order-1"));
  ASSERT_OK_AND_ASSIGN(parked, runner.Parked("parking"));
  EXPECT_TRUE(parked.empty());
  append("order-1", "C");
  ASSERT_OK(runner.WaitForPosition("parking", store->head(), kWait));
  EXPECT_THAT(runner.Get("parking", "order-1"), IsOkAndHolds(std::optional<std::string>("4")));
  std::lock_guard<std::mutex> lock(applied_mu);
  EXPECT_THAT(applied, ElementsAre("order-1:A", "order-2:X", "order-2:Y", "order-1:Poison",
                                   "order-1:B", "order-1:C"));
}

TEST(ProjectionTest, SkipParkedDropsTheParkedEvents) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register({.name = "skipper",
                             .apply =
                                 [](const EventRecord& e, ReadModelWriter& rm) {
                                   if (e.type == "Poison") return absl::InternalError("bad");
                                   return Count(e, rm);
                                 },
                             .on_failure = OnFailure::kPark,
                             .max_attempts = 1}));
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("Poison")}}));
  ASSERT_OK(runner.WaitForPosition("skipper", store->head(), kWait));
  ASSERT_OK(runner.SkipParked("skipper", "order-1"));
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("A")}}));
  ASSERT_OK(runner.WaitForPosition("skipper", store->head(), kWait));
  ASSERT_OK_AND_ASSIGN(auto parked, runner.Parked("skipper"));
  EXPECT_TRUE(parked.empty());
  EXPECT_THAT(runner.Get("skipper", "order-1"), IsOkAndHolds(std::optional<std::string>("1")));
}

TEST(ProjectionTest, StoredStatusIsReadableWithoutRunningTheProjections) {
  TempStore store;
  {
    ProjectionRunner runner(*store);
    ASSERT_OK(runner.Register({.name = "parker",
                               .apply =
                                   [](const EventRecord& e, ReadModelWriter& rm) {
                                     if (e.type == "Poison")
                                       return absl::InternalError("bad input");
                                     return Count(e, rm);
                                   },
                               .on_failure = OnFailure::kPark,
                               .max_attempts = 1}));
    ASSERT_OK(runner.Register(CounterProjection("counts")));
    ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("Poison"), Event("A")}}));
    ASSERT_OK(runner.WaitForPosition("parker", store->head(), kWait));
    ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
    runner.Stop();
  }
  ASSERT_OK(store->Append({"order-2", ExpectedRevision::Any(), {Event("B")}}));
  ASSERT_OK_AND_ASSIGN(auto stored, ProjectionRunner::ListStored(*store));
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].name, "counts");
  EXPECT_EQ(stored[1].name, "parker");
  for (const ProjectionStatus& status : stored) {
    EXPECT_EQ(status.checkpoint, Position(2));
    EXPECT_EQ(status.lag, 1u);
    EXPECT_EQ(status.state, ProjectionState::kStopped);
  }
  EXPECT_EQ(stored[0].parked, 0u);
  EXPECT_EQ(stored[1].parked, 2u);  // the poison and the event behind it
  ASSERT_OK_AND_ASSIGN(auto parked, ProjectionRunner::StoredParked(*store, "parker"));
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_EQ(parked[0].event.type, "Poison");
  EXPECT_EQ(parked[0].error, "INTERNAL: bad input");
  EXPECT_THAT(ProjectionRunner::StoredParked(*store, "nope"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(ProjectionTest, ARebuildServesTheOldVersionUntilTheNewOneHasCaughtUp) {
  TempStore store;
  AppendFromThreads(*store, 2, 100, "order");
  {
    ProjectionRunner runner(*store);
    ASSERT_OK(runner.Register(CounterProjection()));
    ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  }
  // Version 2 applies nothing until a query has read the model mid-rebuild
  // (the gate opens at the latest when the test ends).
  Gate queried;
  ProjectionRunner runner(*store);
  GateOpener open_at_exit(queried);
  // Version 2 counts double.
  ASSERT_OK(runner.Register({.name = "counts",
                             .version = 2,
                             .apply =
                                 [&queried](const EventRecord& e, ReadModelWriter& rm) {
                                   queried.Wait();
                                   auto total = rm.Get("total");
                                   if (!total.ok()) return total.status();
                                   rm.Put("total",
                                          std::to_string((*total ? std::stoll(**total) : 0) + 2));
                                   return absl::OkStatus();
                                 },
                             .batch_size = 16}));
  // Every answer is the old model's (200) or the finished new one's (400).
  bool saw_new = false;
  const absl::Time give_up = absl::Now() + kWait;
  while (!saw_new && absl::Now() < give_up) {
    ASSERT_OK_AND_ASSIGN(auto total, runner.Get("counts", "total"));
    ASSERT_TRUE(total.has_value());
    ASSERT_THAT(*total, ::testing::AnyOf("200", "400"));
    saw_new = *total == "400";
    queried.Open();
  }
  EXPECT_TRUE(saw_new);
  ASSERT_OK_AND_ASSIGN(ProjectionStatus status, runner.Status("counts"));
  EXPECT_EQ(status.serving_version, 2u);
  // Registering an older version than the one served is refused.
  ProjectionRunner other(*store);
  EXPECT_THAT(other.Register(CounterProjection()), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ProjectionTest, ResetDropsAndReplays) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  AppendFromThreads(*store, 1, 50, "order");
  ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  ASSERT_OK(runner.Reset("counts"));
  ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  EXPECT_EQ(ReadModel(runner, "counts"), FoldLog(*store, {}));
}

TEST(ProjectionTest, QueriesScanByRangeAndPrefix) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  for (const char* stream : {"order-1", "order-2", "order-3", "user-1"}) {
    ASSERT_OK(store->Append({stream, ExpectedRevision::Any(), {Event("E")}}));
  }
  ASSERT_OK(runner.WaitForPosition("counts", store->head(), kWait));
  ASSERT_OK_AND_ASSIGN(auto orders, runner.ScanPrefix("counts", "order-"));
  ASSERT_EQ(orders.size(), 3u);
  EXPECT_EQ(orders[0].first, "order-1");
  ASSERT_OK_AND_ASSIGN(auto range, runner.Scan("counts", "order-2", "order-3"));
  ASSERT_EQ(range.size(), 1u);
  EXPECT_EQ(range[0].first, "order-2");
  ASSERT_OK_AND_ASSIGN(auto limited, runner.Scan("counts", "", "", 2));
  EXPECT_EQ(limited.size(), 2u);
}

TEST(InlineProjectionTest, TheReadModelIsNeverBehindAnAcknowledgedAppend) {
  TempStore store;
  AppendFromThreads(*store, 2, 100, "order");  // caught up at registration
  ProjectionRunner runner(*store);
  // Registered while other writers append: nothing falls between catch-up and hook.
  std::thread busy([&] { AppendFromThreads(*store, 2, 200, "invoice"); });
  ASSERT_OK(runner.RegisterInline(CounterProjection()));
  for (int i = 1; i <= 100; ++i) {
    ASSERT_OK(store->Append({"mine-1", ExpectedRevision::Any(), {Event("E")}}));
    // No wait: the count moved with the append itself.
    ASSERT_THAT(runner.Get("counts", "mine-1"),
                IsOkAndHolds(std::optional<std::string>(std::to_string(i))));
  }
  busy.join();
  EXPECT_EQ(ReadModel(runner, "counts"), FoldLog(*store, {}));
  ASSERT_OK_AND_ASSIGN(ProjectionStatus status, runner.Status("counts"));
  EXPECT_EQ(status.checkpoint, store->head());
  EXPECT_EQ(status.state, ProjectionState::kLive);
}

TEST(InlineProjectionTest, AnApplyErrorRejectsTheAppendAndWritesNothing) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.RegisterInline(
      {.name = "strict", .apply = [](const EventRecord& e, ReadModelWriter& rm) {
         if (e.type == "Poison") return absl::InternalError("no");
         return Count(e, rm);
       }}));
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("A")}}));
  const Position head = store->head();
  auto rejected =
      store->Append({"order-1", ExpectedRevision::Any(), {Event("B"), Event("Poison")}});
  EXPECT_THAT(rejected,
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("strict")));
  EXPECT_EQ(store->head(), head);
  EXPECT_THAT(runner.Get("strict", "order-1"), IsOkAndHolds(std::optional<std::string>("1")));
  // Other appends in the same groups are unaffected.
  ASSERT_OK(store->Append({"order-2", ExpectedRevision::Any(), {Event("A")}}));
  EXPECT_THAT(runner.Get("strict", "total"), IsOkAndHolds(std::optional<std::string>("2")));
  // Stopped: appends flow without it.
  runner.Stop();
  ASSERT_OK(store->Append({"order-1", ExpectedRevision::Any(), {Event("Poison")}}));
}

TEST(ProjectionTest, ClosingTheStoreStopsProjectionsAndWaiters) {
  TempStore store;
  ProjectionRunner runner(*store);
  ASSERT_OK(runner.Register(CounterProjection()));
  absl::Status waited;
  // Closed once the waiter waits.
  Gate waiting;
  projection_internal::SetWaitHookForTesting([&waiting] { waiting.Open(); });
  std::thread waiter(
      [&] { waited = runner.WaitForPosition("counts", Position(1000), absl::Hours(1)); });
  waiting.Wait();
  projection_internal::SetWaitHookForTesting(nullptr);
  ASSERT_OK(store->Close());
  waiter.join();  // would hang for an hour otherwise
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(ProjectionStatus status, runner.Status("counts"));
  EXPECT_EQ(status.state, ProjectionState::kStopped);
}

TEST(ProjectionTest, BadSpecsAreRejected) {
  TempStore store;
  ProjectionRunner runner(*store);
  auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(runner.Register({.name = "", .apply = Count}), StatusIs(invalid));
  EXPECT_THAT(runner.Register({.name = "has space", .apply = Count}), StatusIs(invalid));
  EXPECT_THAT(runner.Register({.name = "x"}), StatusIs(invalid));
  EXPECT_THAT(runner.Register({.name = "x", .apply = Count, .batch_size = 0}), StatusIs(invalid));
  EXPECT_THAT(runner.Register({.name = "x", .version = 0, .apply = Count}), StatusIs(invalid));
  ASSERT_OK(runner.Register(CounterProjection()));
  EXPECT_THAT(runner.Register(CounterProjection()), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(runner.Status("nope"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace annals::testing
