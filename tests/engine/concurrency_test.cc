// Concurrency: threads racing exact expected revisions on shared streams.
// Every revision is won by exactly one append, every loser gets the typed
// wrong-expected-revision payload and writes nothing, appends (single and
// multi-stream) land whole and contiguous, concurrent readers see whole
// commits only, and the log stays dense. Runs under ThreadSanitizer in CI, so
// threads meet only through the store, atomics and barriers: no sleeps, and
// every loop is bounded by a count.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/errors.h"
#include "annals/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

constexpr int kThreads = 8;
constexpr int kStreams = 4;
// Generous: a race needs a few hundred attempts per thread; the bound only
// turns a store that never lets anyone win into a failure instead of a hang.
constexpr int kMaxAttemptsPerThread = 5000;
// A concurrent reader stops when the writers are done; this only bounds it.
constexpr int kMaxSnapshots = 100000;

std::string StreamName(int s) { return absl::StrCat("order-", s); }

// What a client would send next: Exact(last revision) per GetStreamInfo, or
// NoStream when the stream has no events.
absl::StatusOr<ExpectedRevision> CurrentExpected(EventStore& store, const std::string& stream) {
  absl::StatusOr<StreamInfo> info = store.GetStreamInfo(stream);
  if (info.ok()) return ExpectedRevision::Exact(info->last_revision);
  if (info.status().code() == absl::StatusCode::kNotFound) return ExpectedRevision::NoStream();
  return info.status();
}

// The revision an append sent with `expected` (NoStream or Exact) starts at.
uint64_t NextRevision(ExpectedRevision expected) {
  return expected.kind() == ExpectedRevision::Kind::kExact ? expected.revision().value() + 1 : 0;
}

// `count` events of one append, tagged so the log can be traced back to the
// attempt that proposed them: "append" (unique per attempt), "index" (place
// in the whole request, across streams) and "size" (events in the request).
std::vector<EventData> TaggedEvents(const std::string& tag, int first_index, int count, int size) {
  std::vector<EventData> events;
  for (int i = first_index; i < first_index + count; ++i) {
    EventData event = Event("Raced", absl::StrCat("{\"i\":", i, "}"));
    event.metadata = {{"append", tag}, {"index", absl::StrCat(i)}, {"size", absl::StrCat(size)}};
    events.push_back(std::move(event));
  }
  return events;
}

std::string Meta(const EventRecord& record, const std::string& key) {
  auto it = record.metadata.find(key);
  return it == record.metadata.end() ? "<missing>" : it->second;
}

// Empty if `log` (a $all read from position 1) is dense and holds whole
// requests only: the events of one request adjacent, in index order, and
// none cut off at the end. Otherwise what is wrong.
std::string WholeAppendsProblem(const std::vector<EventRecord>& log) {
  uint64_t due = 1;
  std::string open_tag;
  int next_index = 0, size = 0;
  for (const EventRecord& r : log) {
    if (r.position.value() != due) {
      return absl::StrCat("position ", r.position.value(), " where ", due, " was due");
    }
    ++due;
    int index = -1, total = -1;
    if (!absl::SimpleAtoi(Meta(r, "index"), &index) || !absl::SimpleAtoi(Meta(r, "size"), &total)) {
      return absl::StrCat("position ", r.position.value(), " has no index/size metadata");
    }
    if (next_index == size) {
      if (index != 0) return absl::StrCat("position ", r.position.value(), " starts mid-request");
      open_tag = Meta(r, "append");
      size = total;
      next_index = 0;
    } else if (Meta(r, "append") != open_tag || index != next_index) {
      return absl::StrCat("request ", open_tag, " is split at position ", r.position.value());
    }
    ++next_index;
  }
  if (next_index != size) return absl::StrCat("the read ends inside request ", open_tag);
  return "";
}

// One append attempt, recorded by a racing thread and checked after join
// (so a broken store yields one clear failure, not thousands).
struct Attempt {
  std::string tag;
  std::string stream;
  ExpectedRevision expected;
  absl::StatusOr<AppendResult> result;
};

// What one part of a request sent: its stream, the expected revision, and
// how many events each append adds to that stream (streams grow by whole
// appends, so a head reported in a conflict is a multiple of it, minus one).
struct Sent {
  std::string stream;
  ExpectedRevision expected;
  uint64_t batch;
};

// Asserts `status` rejects a request whose streams moved on after it read
// them: Aborted with the typed payload, one conflict per stale stream, each
// naming what was sent and a later head at an append boundary.
void ExpectOvertaken(const absl::Status& status, const std::vector<Sent>& sent) {
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  ASSERT_TRUE(IsWrongExpectedRevision(status)) << status;
  std::optional<WrongExpectedRevision> details = GetWrongExpectedRevision(status);
  ASSERT_TRUE(details.has_value()) << status;
  ASSERT_FALSE(details->conflicts.empty()) << status;
  std::set<std::string> seen;
  for (const StreamConflict& conflict : details->conflicts) {
    auto part = std::find_if(sent.begin(), sent.end(),
                             [&](const Sent& s) { return s.stream == conflict.stream; });
    ASSERT_NE(part, sent.end()) << "conflict on an unrelated stream: " << status;
    ASSERT_TRUE(seen.insert(conflict.stream).second) << "stream listed twice: " << status;
    EXPECT_EQ(conflict.expected, part->expected) << status;
    // Streams only grow: the head the check saw is past the one read.
    ASSERT_TRUE(conflict.actual.has_value()) << "existing stream reported missing: " << status;
    EXPECT_GE(conflict.actual->value(), NextRevision(part->expected)) << status;
    EXPECT_EQ((conflict.actual->value() + 1) % part->batch, 0u)
        << "reported head is inside an append: " << status;
  }
}

// A request that won: its tag and, per stream it wrote, the result.
struct Winner {
  std::string tag;
  std::vector<std::pair<std::string, AppendResult>> parts;
};

// Reads $all over and over while writers run, checking that every snapshot
// is dense, holds whole requests only, reaches the head published before it
// began and never shrinks.
class ConcurrentReader {
 public:
  explicit ConcurrentReader(EventStore& store) : thread_([this, &store] { Run(store); }) {}
  ConcurrentReader(const ConcurrentReader&) = delete;
  ConcurrentReader& operator=(const ConcurrentReader&) = delete;
  ~ConcurrentReader() {
    if (thread_.joinable()) Stop();
  }

  // Stops after the current read. Returns the first problem seen, or "".
  std::string Stop() {
    done_.store(true, std::memory_order_release);
    thread_.join();
    return problem_;
  }
  int snapshots() const { return snapshots_; }

 private:
  void Run(EventStore& store) {
    size_t previous = 0;
    for (; snapshots_ < kMaxSnapshots && !done_.load(std::memory_order_acquire); ++snapshots_) {
      // Every position up to head() is readable, so the read reaches it.
      const uint64_t head = store.head().value();
      absl::StatusOr<std::unique_ptr<EventIterator>> it = store.ReadAll();
      if (!it.ok()) {
        problem_ = it.status().ToString();
        return;
      }
      std::vector<EventRecord> snapshot = Drain(**it);
      problem_ = WholeAppendsProblem(snapshot);
      if (problem_.empty() && snapshot.size() < std::max<uint64_t>(previous, head)) {
        problem_ = absl::StrCat("$all read ", snapshot.size(), " events after head() was ", head,
                                " and an earlier read saw ", previous);
      }
      if (!problem_.empty()) return;
      previous = snapshot.size();
    }
  }

  std::atomic<bool> done_{false};
  std::string problem_;  // written by the reader thread only, read after join
  int snapshots_ = 0;
  std::thread thread_;  // last, so it starts after the members it uses exist
};

class ConcurrencyTest : public ::testing::Test {
 protected:
  std::vector<EventRecord> ReadLog() {
    auto it = store_->ReadAll();
    EXPECT_OK(it);
    return it.ok() ? Drain(**it) : std::vector<EventRecord>();
  }

  // Asserts the log is dense (positions 1..head, each once) and holds whole
  // requests only, that every stream's revisions run 0..last without a gap,
  // and that ReadStream and GetStreamInfo agree with $all.
  void CheckLog(const std::vector<EventRecord>& log) {
    EXPECT_EQ(WholeAppendsProblem(log), "");
    EXPECT_EQ(log.size(), store_->head().value());
    std::map<std::string, std::vector<const EventRecord*>> streams;
    for (const EventRecord& r : log) {
      std::vector<const EventRecord*>& events = streams[r.stream];
      ASSERT_EQ(r.revision.value(), events.size()) << r.stream << " has a gap at " << r.position;
      events.push_back(&r);
    }
    for (const auto& [stream, events] : streams) {
      ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo(stream));
      EXPECT_EQ(info.last_revision.value() + 1, events.size()) << stream;
      EXPECT_EQ(info.last_position, events.back()->position) << stream;
      ASSERT_OK_AND_ASSIGN(auto it, store_->ReadStream(stream));
      std::vector<EventRecord> read = Drain(*it);
      ASSERT_EQ(read.size(), events.size()) << stream;
      for (size_t i = 0; i < read.size(); ++i) {
        EXPECT_EQ(read[i].revision, events[i]->revision) << stream;
        EXPECT_EQ(read[i].position, events[i]->position) << stream;
        EXPECT_EQ(read[i].event_id, events[i]->event_id) << stream;
      }
    }
  }

  // Asserts each winning request's events sit at the positions its result
  // named, in its streams at its revisions, and that every event in `log`
  // belongs to a winner (losers wrote nothing).
  void CheckWinnersAreInLog(const std::vector<EventRecord>& log,
                            const std::vector<Winner>& winners) {
    std::set<std::string> winner_tags;
    for (const auto& [tag, parts] : winners) {
      winner_tags.insert(tag);
      for (const auto& [stream, result] : parts) {
        for (uint64_t k = 0; k <= result.last_revision.value() - result.first_revision.value();
             ++k) {
          const uint64_t position = result.first_position.value() + k;
          ASSERT_LE(position, log.size()) << tag << " acknowledged past the head";
          const EventRecord& r = log[position - 1];
          EXPECT_EQ(r.stream, stream) << "position " << position << " of " << tag;
          EXPECT_EQ(r.revision.value(), result.first_revision.value() + k) << tag;
          EXPECT_EQ(Meta(r, "append"), tag) << "position " << position;
        }
      }
    }
    for (const EventRecord& r : log) {
      ASSERT_TRUE(winner_tags.contains(Meta(r, "append")))
          << "position " << r.position << " was written by a rejected request "
          << Meta(r, "append");
    }
  }

  // kThreads threads append `batch`-event requests with exact expected
  // revisions (read by GetStreamInfo just before) to kStreams shared streams,
  // picked at random, until every stream holds `appends_per_stream` appends.
  // A reader checks $all throughout. Returns every attempt.
  std::vector<Attempt> Race(int batch, int appends_per_stream) {
    const uint64_t full = static_cast<uint64_t>(batch) * appends_per_stream;
    std::vector<std::vector<Attempt>> per_thread(kThreads);
    ConcurrentReader reader(*store_);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::minstd_rand rng(t + 1);
        std::vector<std::string> open;  // streams this thread has not yet seen full
        for (int s = 0; s < kStreams; ++s) open.push_back(StreamName(s));
        for (int i = 0; i < kMaxAttemptsPerThread && !open.empty(); ++i) {
          const size_t pick = rng() % open.size();
          const std::string stream = open[pick];
          absl::StatusOr<ExpectedRevision> expected = CurrentExpected(*store_, stream);
          if (!expected.ok()) {
            ADD_FAILURE() << "GetStreamInfo(" << stream << "): " << expected.status();
            return;
          }
          if (NextRevision(*expected) >= full) {
            open.erase(open.begin() + pick);
            continue;
          }
          std::string tag = absl::StrCat(t, ":", i);
          absl::StatusOr<AppendResult> result =
              store_->Append({stream, *expected, TaggedEvents(tag, 0, batch, batch)});
          per_thread[t].push_back({std::move(tag), stream, *expected, std::move(result)});
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(reader.Stop(), "") << "a concurrent $all read saw a partial commit or a gap";
    RecordProperty("snapshots", reader.snapshots());

    std::vector<Attempt> attempts;
    for (std::vector<Attempt>& mine : per_thread) {
      for (Attempt& attempt : mine) attempts.push_back(std::move(attempt));
    }
    return attempts;
  }

  // Checks a Race against the store: each (stream, revision) won by exactly
  // one append, losers rejected with the typed payload, the log dense and
  // made of exactly the winners' events.
  void CheckRace(const std::vector<Attempt>& attempts, int batch, int appends_per_stream) {
    const uint64_t full = static_cast<uint64_t>(batch) * appends_per_stream;
    std::map<std::pair<std::string, uint64_t>, int> wins_at;  // (stream, revision) -> wins
    std::vector<Winner> winners;
    int losses = 0;
    for (const Attempt& a : attempts) {
      if (!a.result.ok()) {
        ++losses;
        ASSERT_NO_FATAL_FAILURE(ExpectOvertaken(
            a.result.status(), {{a.stream, a.expected, static_cast<uint64_t>(batch)}}))
            << "attempt " << a.tag << " on " << a.stream << " sent " << a.expected;
        continue;
      }
      const AppendResult& r = *a.result;
      EXPECT_EQ(r.first_revision.value(), NextRevision(a.expected)) << a.tag;
      EXPECT_EQ(r.last_revision.value() - r.first_revision.value() + 1,
                static_cast<uint64_t>(batch))
          << a.tag;
      // The request's events took consecutive positions: nothing in between.
      EXPECT_EQ(r.last_position.value() - r.first_position.value() + 1,
                static_cast<uint64_t>(batch))
          << a.tag;
      for (uint64_t rev = r.first_revision.value(); rev <= r.last_revision.value(); ++rev) {
        ++wins_at[{a.stream, rev}];
      }
      winners.push_back({a.tag, {{a.stream, r}}});
    }
    RecordProperty("losses", losses);

    // Every revision of every stream won exactly once.
    ASSERT_EQ(wins_at.size(), kStreams * full)
        << "some revision was never won (kMaxAttemptsPerThread reached?)";
    for (const auto& [key, count] : wins_at) {
      ASSERT_EQ(count, 1) << key.first << "@" << key.second << " won " << count << " times";
      ASSERT_LT(key.second, full) << key.first << " grew past " << full << " events";
    }
    ASSERT_EQ(winners.size(), static_cast<size_t>(kStreams * appends_per_stream));
    const std::vector<EventRecord> log = ReadLog();
    ASSERT_EQ(log.size(), winners.size() * batch);
    ASSERT_EQ(store_->head().value(), winners.size() * batch);
    ASSERT_NO_FATAL_FAILURE(CheckLog(log));
    CheckWinnersAreInLog(log, winners);
  }

  // Replaces the store (TestOptions: sync = false) with one opened with `options`.
  void UseStore(StoreOptions options) {
    temp_ = std::make_unique<TempStore>(std::move(options));
    store_ = temp_->get();
  }

  std::unique_ptr<TempStore> temp_ = std::make_unique<TempStore>();
  EventStore* store_ = temp_->get();
};

TEST_F(ConcurrencyTest, EveryRevisionIsWonByExactlyOneAppend) {
  std::vector<Attempt> attempts = Race(/*batch=*/1, /*appends_per_stream=*/200);
  CheckRace(attempts, 1, 200);
}

TEST_F(ConcurrencyTest, MultiEventAppendsLandWholeAndContiguous) {
  std::vector<Attempt> attempts = Race(/*batch=*/3, /*appends_per_stream=*/100);
  CheckRace(attempts, 3, 100);
}

TEST_F(ConcurrencyTest, SimultaneousAppendsAtOneRevisionHaveExactlyOneWinner) {
  // Lockstep rounds: every thread reads its stream's head, then all append at
  // once, so each round is a real conflict with a known outcome. Half the
  // threads race on each of two streams: the first request to arrive commits
  // alone while the rest queue, so the other stream's contenders are then
  // usually decided inside one commit group. Per stream and round: one
  // winner; every loser is told the head moved by exactly the winner's event.
  constexpr int kRounds = 100;
  // Synced commits take long enough for the queued contenders to gather.
  StoreOptions options = TestOptions();
  options.sync = true;
  UseStore(options);
  std::barrier sync(kThreads);
  std::vector<std::vector<Attempt>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string stream = absl::StrCat("lockstep-", t % 2);
      for (int round = 0; round < kRounds; ++round) {
        std::string tag = absl::StrCat(t, ":", round);
        sync.arrive_and_wait();  // the previous round's appends have all returned
        absl::StatusOr<ExpectedRevision> expected = CurrentExpected(*store_, stream);
        sync.arrive_and_wait();  // every thread has read its head; none has appended
        if (!expected.ok()) {
          // Keep meeting the barrier (leaving would block the others).
          per_thread[t].push_back({tag, stream, ExpectedRevision::Any(), expected.status()});
          continue;
        }
        per_thread[t].push_back({tag, stream, *expected,
                                 store_->Append({stream, *expected, TaggedEvents(tag, 0, 1, 1)})});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<Winner> winners;
  for (int round = 0; round < kRounds; ++round) {
    std::map<std::string, int> wins;  // stream -> winners this round
    for (int t = 0; t < kThreads; ++t) {
      const Attempt& a = per_thread[t][round];
      ASSERT_EQ(NextRevision(a.expected), static_cast<uint64_t>(round))
          << "round " << round << ", thread " << t << ": " << a.result.status();
      wins.try_emplace(a.stream, 0);  // a stream nobody won still gets checked
      if (a.result.ok()) {
        ++wins[a.stream];
        EXPECT_EQ(a.result->first_revision.value(), static_cast<uint64_t>(round)) << a.tag;
        winners.push_back({a.tag, {{a.stream, *a.result}}});
        continue;
      }
      ASSERT_NO_FATAL_FAILURE(ExpectOvertaken(a.result.status(), {{a.stream, a.expected, 1}}))
          << "round " << round << ", thread " << t;
      EXPECT_EQ(GetWrongExpectedRevision(a.result.status())->conflicts[0].actual, Revision(round))
          << "round " << round << ": the loser should see the winner's revision";
    }
    for (const auto& [stream, count] : wins) {
      ASSERT_EQ(count, 1) << stream << " has " << count << " winners in round " << round;
    }
  }
  const std::vector<EventRecord> log = ReadLog();
  ASSERT_EQ(log.size(), static_cast<size_t>(2 * kRounds));
  ASSERT_NO_FATAL_FAILURE(CheckLog(log));
  CheckWinnersAreInLog(log, winners);
}

TEST_F(ConcurrencyTest, MultiStreamAppendsMoveBothStreamsOrNeither) {
  // Each request moves "account-left" by two events and "account-right" by
  // one, with exact expected revisions on both (read separately, so a
  // request may be stale on one stream only). Both move or neither, the
  // request's three events are adjacent in $all, and a concurrent reader
  // never sees one stream moved without the other.
  constexpr int kAttemptsPerThread = 100;
  const std::string left = "account-left", right = "account-right";
  struct MultiAttempt {
    std::string tag;
    ExpectedRevision left_sent, right_sent;
    absl::StatusOr<MultiAppendResult> result;
  };
  std::vector<std::vector<MultiAttempt>> per_thread(kThreads);
  ConcurrentReader reader(*store_);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        absl::StatusOr<ExpectedRevision> left_sent = CurrentExpected(*store_, left);
        absl::StatusOr<ExpectedRevision> right_sent = CurrentExpected(*store_, right);
        if (!left_sent.ok() || !right_sent.ok()) {
          ADD_FAILURE() << "GetStreamInfo: " << left_sent.status() << " / " << right_sent.status();
          return;
        }
        std::string tag = absl::StrCat(t, ":", i);
        MultiAppendRequest request;
        request.appends.push_back({left, *left_sent, TaggedEvents(tag, 0, 2, 3)});
        request.appends.push_back({right, *right_sent, TaggedEvents(tag, 2, 1, 3)});
        per_thread[t].push_back(
            {std::move(tag), *left_sent, *right_sent, store_->AppendMulti(std::move(request))});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(reader.Stop(), "") << "a concurrent $all read saw half of a multi-stream append";

  std::vector<Winner> winners;
  for (const std::vector<MultiAttempt>& mine : per_thread) {
    for (const MultiAttempt& a : mine) {
      if (!a.result.ok()) {
        ASSERT_NO_FATAL_FAILURE(
            ExpectOvertaken(a.result.status(), {{left, a.left_sent, 2}, {right, a.right_sent, 1}}))
            << "attempt " << a.tag;
        continue;
      }
      ASSERT_EQ(a.result->results.size(), 2u);
      const AppendResult& l = a.result->results[0];
      const AppendResult& r = a.result->results[1];
      EXPECT_EQ(l.first_revision.value(), NextRevision(a.left_sent)) << a.tag;
      EXPECT_EQ(r.first_revision.value(), NextRevision(a.right_sent)) << a.tag;
      EXPECT_EQ(l.last_revision.value(), l.first_revision.value() + 1) << a.tag;
      EXPECT_EQ(r.last_revision, r.first_revision) << a.tag;
      // In request order, adjacent: left's two events, then right's one.
      EXPECT_EQ(l.last_position.value(), l.first_position.value() + 1) << a.tag;
      EXPECT_EQ(r.first_position, l.last_position.Next()) << a.tag;
      EXPECT_EQ(r.last_position, r.first_position) << a.tag;
      // Both streams always move together, so they hold the same number of
      // requests: right's revision counts the requests before this one.
      EXPECT_EQ(l.first_revision.value(), 2 * r.first_revision.value()) << a.tag;
      winners.push_back({a.tag, {{left, l}, {right, r}}});
    }
  }
  // Every loss was caused by a win, so some request must have won.
  ASSERT_FALSE(winners.empty());
  ASSERT_OK_AND_ASSIGN(StreamInfo left_info, store_->GetStreamInfo(left));
  ASSERT_OK_AND_ASSIGN(StreamInfo right_info, store_->GetStreamInfo(right));
  EXPECT_EQ(left_info.last_revision.value() + 1, 2 * winners.size());
  EXPECT_EQ(right_info.last_revision.value() + 1, winners.size());
  const std::vector<EventRecord> log = ReadLog();
  ASSERT_EQ(log.size(), 3 * winners.size());
  ASSERT_NO_FATAL_FAILURE(CheckLog(log));
  CheckWinnersAreInLog(log, winners);
}

}  // namespace
}  // namespace annals::testing
