// Consumer groups (annals/consumer_group.h). Each group a consumer joined
// has one Group: a window of events read from the log (one subscription per
// group, read by whichever consumer finds nothing to take), each waiting or
// held by one consumer until it is done; events ReplayParked handed back sit
// beside the window and never hold the checkpoint back. The checkpoint is
// the position (or revision) before the window's first event.
#include "annals/consumer_group.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/base/mutex.h"
#include "annals/read_side.h"
#include "annals/storage/v1/projection.pb.h"
#include "annals/utf8.h"

namespace annals {
namespace {

using extension::ReadSide;
using extension::ReadSideBatch;
using extension::ReadSideFamily;
using internal::Mutex;
using internal::MutexLock;
namespace v1 = storage::v1;

// Events read ahead of the consumers at most, and per read of the log.
constexpr size_t kWindow = 1024;
constexpr size_t kReadBatch = 256;
// A reading consumer gives the others a turn this often.
constexpr absl::Duration kMaxReadWait = absl::Milliseconds(50);
constexpr size_t kMaxNameBytes = 200;

absl::Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || !IsValidUtf8(name) ||
      name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("a consumer group name is 1 to ", kMaxNameBytes,
                                                   " bytes of UTF-8 without NUL"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSettings(const ConsumerGroupSettings& s) {
  if (!s.stream.empty() && !s.filter.empty()) {
    return absl::InvalidArgumentError("a filter is for a group on $all (stream empty)");
  }
  if (s.max_retries < 0) return absl::InvalidArgumentError("max_retries must be >= 0");
  if (s.message_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("message_timeout must be at least 1 ms");
  }
  if (s.max_consumers < 0) return absl::InvalidArgumentError("max_consumers must be >= 0");
  if (s.checkpoint_after < 1) return absl::InvalidArgumentError("checkpoint_after must be >= 1");
  switch (s.strategy) {
    case ConsumerStrategy::kRoundRobin:
    case ConsumerStrategy::kPinned:
    case ConsumerStrategy::kDispatchToSingle:
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown ConsumerStrategy");
}

void SetTunables(const ConsumerGroupSettings& s, v1::ConsumerGroupRecord& r) {
  r.set_strategy(static_cast<uint32_t>(s.strategy));
  r.set_max_retries(static_cast<uint32_t>(s.max_retries));
  r.set_message_timeout_us(absl::ToInt64Microseconds(s.message_timeout));
  r.set_max_consumers(static_cast<uint32_t>(s.max_consumers));
  r.set_checkpoint_after(static_cast<uint32_t>(s.checkpoint_after));
}

ConsumerGroupSettings SettingsOf(const v1::ConsumerGroupRecord& r) {
  ConsumerGroupSettings s;
  s.stream = r.stream();
  s.filter.categories.assign(r.categories().begin(), r.categories().end());
  s.filter.event_types.assign(r.event_types().begin(), r.event_types().end());
  s.filter.stream_prefixes.assign(r.stream_prefixes().begin(), r.stream_prefixes().end());
  s.filter.exclude_system_events = r.exclude_system_events();
  s.strategy = static_cast<ConsumerStrategy>(r.strategy());
  s.max_retries = static_cast<int>(r.max_retries());
  s.message_timeout = absl::Microseconds(r.message_timeout_us());
  s.max_consumers = static_cast<int>(r.max_consumers());
  s.checkpoint_after = static_cast<int>(r.checkpoint_after());
  switch (r.start_kind()) {
    case 1:
      s.start = StartFrom::End();
      break;
    case 2:
      s.start = s.stream.empty() ? StartFrom::AfterPosition(Position(r.start_after()))
                                 : StartFrom::AfterRevision(Revision(r.start_after()));
      break;
    default:
      break;
  }
  return s;
}

// Where the group's read of the log starts: after its checkpoint.
StartFrom ResumeFrom(const v1::ConsumerGroupRecord& r) {
  if (!r.has_after()) return StartFrom::Start();
  return r.stream().empty() ? StartFrom::AfterPosition(Position(r.after()))
                            : StartFrom::AfterRevision(Revision(r.after()));
}

bool SameFilter(const EventFilter& a, const EventFilter& b) {
  return a.categories == b.categories && a.event_types == b.event_types &&
         a.stream_prefixes == b.stream_prefixes &&
         a.exclude_system_events == b.exclude_system_events;
}

// The event at `position`; nullopt if the log has none there (scavenged).
absl::StatusOr<std::optional<EventRecord>> EventAt(EventStore& store, Position position) {
  absl::StatusOr<std::unique_ptr<EventIterator>> it =
      store.ReadAll({.from = position, .max_count = 1});
  if (!it.ok()) return it.status();
  if (!(*it)->Valid() || (*it)->record().position != position) {
    if (absl::Status s = (*it)->status(); !s.ok()) return s;
    return std::nullopt;
  }
  return (*it)->record();
}

// The stored records of one group: every key of it in `projections`.
absl::StatusOr<std::optional<v1::ConsumerGroupRecord>> LoadRecord(const ReadSide& read_side,
                                                                  std::string_view name) {
  absl::StatusOr<std::optional<std::string>> value =
      read_side.Get(ReadSideFamily::kProjections, extension::ConsumerGroupKey(name));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  v1::ConsumerGroupRecord record;
  if (!record.ParseFromString(**value)) {
    return absl::DataLossError(
        absl::StrCat("consumer group '", std::string(name), "' does not parse"));
  }
  return record;
}

absl::StatusOr<std::vector<std::pair<Position, v1::GroupParkedRecord>>> LoadParked(
    const ReadSide& read_side, std::string_view name) {
  const std::string prefix = extension::GroupParkedKeyPrefix(name);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows =
      read_side.Scan(ReadSideFamily::kProjections, prefix, extension::PrefixEnd(prefix),
                     std::numeric_limits<size_t>::max());
  if (!rows.ok()) return rows.status();
  std::vector<std::pair<Position, v1::GroupParkedRecord>> parked;
  for (const auto& [key, value] : *rows) {
    std::optional<Position> position = extension::ParseGroupParkedKey(key);
    v1::GroupParkedRecord record;
    if (!position || !record.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("a parked event of group '", std::string(name), "' does not parse"));
    }
    parked.emplace_back(*position, std::move(record));
  }
  return parked;
}

struct Entry {
  EventRecord event;
  int retries = 0;        // deliveries so far, less one once delivered
  uint64_t consumer = 0;  // holding it; 0: waiting
  absl::Time deadline;
  bool replay = false;  // handed back by ReplayParked
  // Pinned: the consumer its stream belongs to, as of `owner_epoch`.
  uint64_t owner = 0;
  uint64_t owner_epoch = 0;
};

struct Slot {
  std::string name;
  int buffer = 0;
  int in_flight = 0;
  uint64_t acknowledged = 0;
};

// One group's delivery state, shared by its consumers. Thread-safe.
class Group {
 public:
  Group(EventStore& store, std::shared_ptr<ReadSide> read_side, std::string name,
        v1::ConsumerGroupRecord record)
      : store_(store),
        read_side_(std::move(read_side)),
        name_(std::move(name)),
        record_(std::move(record)) {}

  ~Group() { Close(absl::CancelledError("the consumer groups were closed"), /*store=*/false); }

  // Opens the group's read of the log after its checkpoint, and takes the
  // parked events being replayed back.
  absl::Status Start() {
    MutexLock lock(&mu_);
    SubscribeOptions options;
    options.stream = record_.stream();
    options.filter = SettingsOf(record_).filter;
    options.start = ResumeFrom(record_);
    absl::StatusOr<std::unique_ptr<Subscription>> source = store_.Subscribe(options);
    if (!source.ok()) return source.status();
    source_ = *std::move(source);
    absl::StatusOr<std::vector<std::pair<Position, v1::GroupParkedRecord>>> parked =
        LoadParked(*read_side_, name_);
    if (!parked.ok()) return parked.status();
    for (const auto& [position, record] : *parked) {
      if (!record.replaying()) continue;
      absl::StatusOr<std::optional<EventRecord>> event = EventAt(store_, position);
      if (!event.ok()) return event.status();
      if (event->has_value()) AddReplayLocked(**event);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> AddConsumer(const ConsumerOptions& options) {
    MutexLock lock(&mu_);
    if (!status_.ok()) return status_;
    if (record_.max_consumers() > 0 && consumers_.size() >= record_.max_consumers()) {
      return absl::ResourceExhaustedError(absl::StrCat("consumer group '", name_, "' has its ",
                                                       record_.max_consumers(), " consumers"));
    }
    const uint64_t id = ++next_consumer_;
    consumers_[id] = Slot{options.name.empty() ? absl::StrCat("consumer-", id) : options.name,
                          options.buffer_size};
    owners_.clear();
    ++consumers_epoch_;
    Changed();
    return id;
  }

  void RemoveConsumer(uint64_t id) {
    MutexLock lock(&mu_);
    if (!consumers_.contains(id)) return;
    ForEachHeldLocked(id, [&](Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      ReturnLocked(entry, "its consumer left");
    });
    consumers_.erase(id);
    owners_.clear();
    ++consumers_epoch_;
    if (consumers_.empty() && status_.ok()) StoreCheckpointLocked().IgnoreError();
    Changed();
  }

  absl::StatusOr<Delivery> Next(uint64_t id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    bool read = false;  // once at least, even with no time left
    for (;;) {
      absl::Duration read_wait;
      {
        MutexLock lock(&mu_);
        std::optional<absl::StatusOr<Delivery>> result = StepLocked(id, deadline, read, read_wait);
        if (result.has_value()) return *std::move(result);
      }
      // This consumer reads the log for the group, outside the lock.
      std::vector<EventRecord> batch;
      const absl::Status status = ReadBatch(read_wait, batch);
      read = true;
      MutexLock lock(&mu_);
      reading_ = false;
      for (EventRecord& event : batch) {
        const uint64_t seq = SeqOf(event);
        last_read_ = seq;
        // Parked before a restart lost the checkpoint past it, and being
        // replayed: delivered once, as the replay.
        if (replays_.contains(event.position.value())) continue;
        Entry& entry = entries_[seq] = Entry{.event = std::move(event)};
        waiting_[seq] = &entry;
      }
      if (!status.ok() && !absl::IsDeadlineExceeded(status) && status_.ok()) status_ = status;
      Changed();
    }
  }

  absl::Status Ack(uint64_t id, Position position) {
    MutexLock lock(&mu_);
    absl::StatusOr<Entry*> entry = HeldLocked(id, position);
    if (!entry.ok()) return entry.status();
    consumers_[id].acknowledged++;
    return DoneLocked(**entry);
  }

  absl::Status Nack(uint64_t id, Position position, NackAction action, std::string_view reason) {
    MutexLock lock(&mu_);
    absl::StatusOr<Entry*> entry = HeldLocked(id, position);
    if (!entry.ok()) return entry.status();
    switch (action) {
      case NackAction::kSkip:
        return DoneLocked(**entry);
      case NackAction::kPark:
        return ParkLocked(**entry, reason);
      case NackAction::kRetry:
        ReturnLocked(**entry, reason);
        return status_;
    }
    return absl::InvalidArgumentError("unknown NackAction");
  }

  // New tunables (stream and filter are checked equal by the caller).
  absl::Status Update(const ConsumerGroupSettings& settings) {
    MutexLock lock(&mu_);
    SetTunables(settings, record_);
    Changed();
    return StoreRecordLocked();
  }

  // Events ReplayParked marked (their records already say replaying).
  void AddReplays(std::vector<EventRecord> events) {
    MutexLock lock(&mu_);
    for (EventRecord& event : events) AddReplayLocked(std::move(event));
    Changed();
  }

  // Ends every consumer with `why`; `store`: the checkpoint is stored first.
  void Close(absl::Status why, bool store) {
    {
      MutexLock lock(&mu_);
      if (status_.ok()) {
        if (store) StoreCheckpointLocked().IgnoreError();
        status_ = std::move(why);
      }
      Changed();
    }
    // Wakes a consumer reading the log; the subscription itself stays until
    // the group goes (its reader may still hold it).
    if (source_ != nullptr) source_->Stop();
  }

  void Describe(ConsumerGroupInfo& info) {
    MutexLock lock(&mu_);
    info.checkpoint = CheckpointLocked();
    info.in_flight = 0;
    for (const auto* entries : {&entries_, &replays_}) {
      for (const auto& [key, entry] : *entries) info.in_flight += entry.consumer != 0;
    }
    info.waiting = waiting_.size() + waiting_replays_.size();
    for (const auto& [id, slot] : consumers_) {
      info.consumers.push_back({slot.name, slot.in_flight, slot.acknowledged});
    }
  }

 private:
  // A delivery, an error, or nullopt: read the log for up to `read_wait`
  // (reading_ is then set for this caller). `read`: this call read before.
  std::optional<absl::StatusOr<Delivery>> StepLocked(uint64_t id, absl::Time deadline, bool read,
                                                     absl::Duration& read_wait)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (;;) {
      if (!status_.ok()) return status_;
      auto slot = consumers_.find(id);
      if (slot == consumers_.end()) return absl::CancelledError("the consumer left its group");
      const absl::Time now = absl::Now();
      ExpireLocked(now);
      if (!status_.ok()) return status_;
      if (slot->second.in_flight < slot->second.buffer) {
        if (Entry* entry = PickLocked(id); entry != nullptr) {
          entry->consumer = id;
          entry->deadline = now + absl::Microseconds(record_.message_timeout_us());
          earliest_deadline_ = std::min(earliest_deadline_, entry->deadline);
          slot->second.in_flight++;
          if (entry->replay) {
            waiting_replays_.erase(entry->event.position.value());
          } else {
            waiting_.erase(SeqOf(entry->event));
          }
          held_[entry->event.position.value()] = {entry->replay, KeyOf(*entry)};
          return Delivery{entry->event, entry->retries};
        }
        if (!reading_ && entries_.size() < kWindow && (!read || now < deadline)) {
          reading_ = true;
          read_wait = std::clamp(deadline - now, absl::ZeroDuration(), kMaxReadWait);
          return std::nullopt;
        }
      }
      if (now >= deadline) {
        return absl::DeadlineExceededError("no event for this consumer within the timeout");
      }
      // Until something changes, the deadline, or the first delivery times out.
      const absl::Time wake = std::min(deadline, earliest_deadline_);
      const uint64_t seen = generation_;
      mu_.AwaitWithTimeout([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return generation_ != seen; },
                           std::max(wake - now, absl::Microseconds(100)));
    }
  }

  absl::Status ReadBatch(absl::Duration wait, std::vector<EventRecord>& out) {
    absl::StatusOr<EventRecord> event = source_->Next(wait);
    while (event.ok()) {
      out.push_back(*std::move(event));
      if (out.size() >= kReadBatch) return absl::OkStatus();
      event = source_->Next(absl::ZeroDuration());
    }
    return event.status();
  }

  // The waiting event this consumer should take: parked events handed back
  // first, then the window's, each in order.
  Entry* PickLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto strategy = static_cast<ConsumerStrategy>(record_.strategy());
    if (strategy == ConsumerStrategy::kDispatchToSingle) {
      // The first consumer (in joining order) with room takes everything.
      for (const auto& [other, slot] : consumers_) {
        if (slot.in_flight < slot.buffer) {
          if (other != id) return nullptr;
          break;
        }
      }
    }
    auto eligible = [&](Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return strategy != ConsumerStrategy::kPinned || OwnerLocked(entry) == id;
    };
    for (const auto& [position, entry] : waiting_replays_) {
      if (eligible(*entry)) return entry;
    }
    for (const auto& [seq, entry] : waiting_) {
      if (eligible(*entry)) return entry;
    }
    return nullptr;
  }

  // Pinned: the consumer a stream belongs to, by rendezvous hashing (the
  // highest hash of stream and consumer wins), so a consumer leaving moves
  // only its own streams. Remembered until the consumers change.
  uint64_t OwnerLocked(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entry.owner_epoch != consumers_epoch_) {
      entry.owner = OwnerLocked(entry.event.stream);
      entry.owner_epoch = consumers_epoch_;
    }
    return entry.owner;
  }
  uint64_t OwnerLocked(const std::string& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (auto it = owners_.find(stream); it != owners_.end()) return it->second;
    const uint64_t stream_hash = std::hash<std::string>{}(stream);
    uint64_t owner = 0, best = 0;
    for (const auto& [id, slot] : consumers_) {
      const uint64_t h = Mix(stream_hash ^ (id * 0x9e3779b97f4a7c15ULL));
      if (owner == 0 || h > best) {
        owner = id;
        best = h;
      }
    }
    owners_[stream] = owner;
    return owner;
  }

  // splitmix64's finaliser: every input bit moves every output bit.
  static uint64_t Mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  // Deliveries past their timeout go back to the group.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (now < earliest_deadline_) return;
    std::vector<Entry*> expired;
    earliest_deadline_ = absl::InfiniteFuture();
    for (auto* entries : {&entries_, &replays_}) {
      for (auto& [key, entry] : *entries) {
        if (entry.consumer == 0) continue;
        if (entry.deadline <= now) {
          expired.push_back(&entry);
        } else {
          earliest_deadline_ = std::min(earliest_deadline_, entry.deadline);
        }
      }
    }
    for (Entry* entry : expired) ReturnLocked(*entry, "its message timeout passed");
  }

  absl::StatusOr<Entry*> HeldLocked(uint64_t id, Position position)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!status_.ok()) return status_;
    if (!consumers_.contains(id)) return absl::CancelledError("the consumer left its group");
    auto held = held_.find(position.value());
    if (held != held_.end()) {
      auto& entries = held->second.first ? replays_ : entries_;
      auto it = entries.find(held->second.second);
      if (it != entries.end() && it->second.consumer == id) return &it->second;
    }
    return absl::NotFoundError(absl::StrCat("position ", position.value(),
                                            " is not held by this consumer (never delivered to "
                                            "it, done, or its message timeout passed)"));
  }

  template <typename Fn>
  void ForEachHeldLocked(uint64_t id, Fn fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Entry*> held;
    for (auto* entries : {&entries_, &replays_}) {
      for (auto& [key, entry] : *entries) {
        if (entry.consumer == id) held.push_back(&entry);
      }
    }
    for (Entry* entry : held) fn(*entry);
  }

  // Takes `entry` from its consumer; waits again, or is parked once retried
  // max_retries times.
  void ReturnLocked(Entry& entry, std::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Release(entry);
    entry.retries++;
    if (entry.retries > static_cast<int>(record_.max_retries())) {
      absl::Status parked = ParkLocked(entry, absl::StrCat("retried ", record_.max_retries(),
                                                           " times; last: ", std::string(why)));
      if (!parked.ok() && status_.ok()) status_ = parked;
      return;
    }
    if (entry.replay) {
      waiting_replays_[entry.event.position.value()] = &entry;
    } else {
      waiting_[SeqOf(entry.event)] = &entry;
    }
    Changed();
  }

  void Release(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entry.consumer == 0) return;
    if (auto slot = consumers_.find(entry.consumer); slot != consumers_.end()) {
      slot->second.in_flight--;
    }
    held_.erase(entry.event.position.value());
    entry.consumer = 0;
  }

  absl::Status ParkLocked(Entry& entry, std::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::GroupParkedRecord record;
    record.set_stream(entry.event.stream);
    record.set_reason(std::string(reason));
    // Held now (a nack): delivered once more than retried.
    record.set_deliveries(static_cast<uint32_t>(entry.retries + (entry.consumer != 0 ? 1 : 0)));
    record.set_parked_at_us(absl::ToUnixMicros(absl::Now()));
    ReadSideBatch batch;
    batch.Put(ReadSideFamily::kProjections, extension::GroupParkedKey(name_, entry.event.position),
              record.SerializeAsString());
    if (absl::Status s = read_side_->Commit(batch); !s.ok()) return s;
    return RemoveLocked(entry);
  }

  absl::Status DoneLocked(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entry.replay) {
      // A replayed parked event is parked no more.
      ReadSideBatch batch;
      batch.Delete(ReadSideFamily::kProjections,
                   extension::GroupParkedKey(name_, entry.event.position));
      if (absl::Status s = read_side_->Commit(batch); !s.ok()) return s;
    }
    return RemoveLocked(entry);
  }

  // `entry` is gone when it returns.
  absl::Status RemoveLocked(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Release(entry);
    Changed();
    if (entry.replay) {
      const uint64_t position = entry.event.position.value();
      waiting_replays_.erase(position);
      replays_.erase(position);
      return absl::OkStatus();
    }
    const uint64_t seq = SeqOf(entry.event);
    waiting_.erase(seq);
    entries_.erase(seq);
    if (++done_since_stored_ >= record_.checkpoint_after()) return StoreCheckpointLocked();
    return absl::OkStatus();
  }

  void AddReplayLocked(EventRecord event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t position = event.position.value();
    if (replays_.contains(position)) return;
    Entry& entry = replays_[position] = Entry{.event = std::move(event), .replay = true};
    waiting_replays_[position] = &entry;
  }

  // Every seq up to the result is done: the one before the window's first
  // event, or, with an empty window, as far as the log was read.
  std::optional<uint64_t> CheckpointLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::optional<uint64_t> after;
    if (record_.has_after()) after = record_.after();
    if (!entries_.empty()) {
      const uint64_t first = entries_.begin()->first;
      if (first > 0 && (!after || first - 1 > *after)) after = first - 1;
      return after;
    }
    if (last_read_ && (!after || *last_read_ > *after)) after = last_read_;
    // $all: also past the events the filter skipped (not while a consumer
    // reads: what it took is not in the window yet).
    if (record_.stream().empty() && source_ != nullptr && !reading_) {
      const uint64_t reached = source_->reached().value();
      if (reached > 0 && (!after || reached > *after)) after = reached;
    }
    return after;
  }

  absl::Status StoreCheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    done_since_stored_ = 0;
    const std::optional<uint64_t> after = CheckpointLocked();
    if (after == (record_.has_after() ? std::optional<uint64_t>(record_.after()) : std::nullopt)) {
      return absl::OkStatus();
    }
    if (after) record_.set_after(*after);
    return StoreRecordLocked();
  }

  absl::Status StoreRecordLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    record_.set_updated_at_us(absl::ToUnixMicros(absl::Now()));
    ReadSideBatch batch;
    batch.Put(ReadSideFamily::kProjections, extension::ConsumerGroupKey(name_),
              record_.SerializeAsString());
    return read_side_->Commit(batch);
  }

  uint64_t SeqOf(const EventRecord& event) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return record_.stream().empty() ? event.position.value() : event.revision.value();
  }
  uint64_t KeyOf(const Entry& entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entry.replay ? entry.event.position.value() : SeqOf(entry.event);
  }

  void Changed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++generation_;
    mu_.SignalAll();
  }

  EventStore& store_;
  const std::shared_ptr<ReadSide> read_side_;
  const std::string name_;
  // Read only by the consumer that set reading_ (Stop and reached are
  // thread-safe); set once in Start.
  std::unique_ptr<Subscription> source_;

  Mutex mu_;
  v1::ConsumerGroupRecord record_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Slot> consumers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_consumer_ ABSL_GUARDED_BY(mu_) = 0;
  // The window, by position ($all) or revision (a stream), and the events
  // handed back by ReplayParked, by position.
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Entry> replays_ ABSL_GUARDED_BY(mu_);
  // The waiting ones of each, in order.
  std::map<uint64_t, Entry*> waiting_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Entry*> waiting_replays_ ABSL_GUARDED_BY(mu_);
  // Delivered events by position: (a replay?, key in its map).
  absl::flat_hash_map<uint64_t, std::pair<bool, uint64_t>> held_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> last_read_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t done_since_stored_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // No delivery times out before it (it may be earlier than the first).
  absl::Time earliest_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::flat_hash_map<std::string, uint64_t> owners_ ABSL_GUARDED_BY(mu_);
  // Moves whenever a consumer joins or leaves (Entry::owner_epoch).
  uint64_t consumers_epoch_ ABSL_GUARDED_BY(mu_) = 1;
};

class ConsumerImpl final : public Consumer {
 public:
  ConsumerImpl(std::shared_ptr<Group> group, uint64_t id) : group_(std::move(group)), id_(id) {}
  ~ConsumerImpl() override { Leave(); }

  absl::StatusOr<Delivery> Next(absl::Duration timeout) override {
    return group_->Next(id_, timeout);
  }
  absl::Status Ack(Position position) override { return group_->Ack(id_, position); }
  absl::Status Nack(Position position, NackAction action, std::string_view reason) override {
    return group_->Nack(id_, position, action, reason);
  }
  void Leave() override { group_->RemoveConsumer(id_); }

 private:
  const std::shared_ptr<Group> group_;
  const uint64_t id_;
};

// The stores with an open ConsumerGroups.
struct OpenStores {
  Mutex mu;
  absl::flat_hash_set<const EventStore*> stores ABSL_GUARDED_BY(mu);
};
OpenStores& Opened() {
  static auto* opened = new OpenStores;
  return *opened;
}

class ConsumerGroupsImpl final : public ConsumerGroups {
 public:
  ConsumerGroupsImpl(EventStore& store, std::shared_ptr<ReadSide> read_side)
      : store_(store), read_side_(std::move(read_side)) {}

  ~ConsumerGroupsImpl() override {
    Close();
    OpenStores& opened = Opened();
    MutexLock lock(&opened.mu);
    opened.stores.erase(&store_);
  }

  absl::Status Create(std::string_view name, const ConsumerGroupSettings& settings) override {
    if (absl::Status s = ValidateName(name); !s.ok()) return s;
    if (absl::Status s = ValidateSettings(settings); !s.ok()) return s;
    MutexLock lock(&mu_);
    absl::StatusOr<std::optional<v1::ConsumerGroupRecord>> existing = LoadRecord(*read_side_, name);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return absl::AlreadyExistsError(
          absl::StrCat("consumer group '", std::string(name), "' exists"));
    }
    // Subscribe checks the stream and the filter, and resolves End.
    SubscribeOptions check{.stream = settings.stream, .filter = settings.filter};
    absl::StatusOr<std::unique_ptr<Subscription>> probe = store_.Subscribe(check);
    if (!probe.ok()) return probe.status();
    v1::ConsumerGroupRecord record;
    record.set_stream(settings.stream);
    for (const auto& c : settings.filter.categories) record.add_categories(c);
    for (const auto& t : settings.filter.event_types) record.add_event_types(t);
    for (const auto& p : settings.filter.stream_prefixes) record.add_stream_prefixes(p);
    record.set_exclude_system_events(settings.filter.exclude_system_events);
    SetTunables(settings, record);
    switch (settings.start.kind()) {
      case StartFrom::Kind::kStart:
        break;
      case StartFrom::Kind::kAfter:
        record.set_start_kind(2);
        record.set_start_after(settings.start.after());
        record.set_after(settings.start.after());
        break;
      case StartFrom::Kind::kEnd:
        record.set_start_kind(1);
        if (settings.stream.empty()) {
          if (store_.head().value() > 0) record.set_after(store_.head().value());
        } else {
          absl::StatusOr<StreamInfo> info = store_.GetStreamInfo(settings.stream);
          if (info.ok()) {
            record.set_after(info->last_revision.value());
          } else if (!absl::IsNotFound(info.status())) {
            return info.status();
          }
        }
        break;
    }
    const int64_t now = absl::ToUnixMicros(absl::Now());
    record.set_created_at_us(now);
    record.set_updated_at_us(now);
    ReadSideBatch batch;
    batch.Put(ReadSideFamily::kProjections, extension::ConsumerGroupKey(name),
              record.SerializeAsString());
    return read_side_->Commit(batch);
  }

  absl::Status Update(std::string_view name, const ConsumerGroupSettings& settings) override {
    if (absl::Status s = ValidateSettings(settings); !s.ok()) return s;
    MutexLock lock(&mu_);
    absl::StatusOr<v1::ConsumerGroupRecord> record = RecordLocked(name);
    if (!record.ok()) return record.status();
    const ConsumerGroupSettings now = SettingsOf(*record);
    if (now.stream != settings.stream || !SameFilter(now.filter, settings.filter)) {
      return absl::InvalidArgumentError(absl::StrCat("consumer group '", std::string(name),
                                                     "': its stream and filter cannot change"));
    }
    if (auto it = groups_.find(name); it != groups_.end()) return it->second->Update(settings);
    SetTunables(settings, *record);
    record->set_updated_at_us(absl::ToUnixMicros(absl::Now()));
    ReadSideBatch batch;
    batch.Put(ReadSideFamily::kProjections, extension::ConsumerGroupKey(name),
              record->SerializeAsString());
    return read_side_->Commit(batch);
  }

  absl::Status Delete(std::string_view name) override {
    MutexLock lock(&mu_);
    absl::StatusOr<v1::ConsumerGroupRecord> record = RecordLocked(name);
    if (!record.ok()) return record.status();
    if (auto it = groups_.find(name); it != groups_.end()) {
      it->second->Close(absl::CancelledError(
                            absl::StrCat("consumer group '", std::string(name), "' was deleted")),
                        /*store=*/false);
      groups_.erase(it);
    }
    ReadSideBatch batch;
    batch.Delete(ReadSideFamily::kProjections, extension::ConsumerGroupKey(name));
    const std::string parked = extension::GroupParkedKeyPrefix(name);
    batch.DeleteRange(ReadSideFamily::kProjections, parked, extension::PrefixEnd(parked));
    return read_side_->Commit(batch);
  }

  absl::StatusOr<ConsumerGroupInfo> Get(std::string_view name) override {
    MutexLock lock(&mu_);
    absl::StatusOr<v1::ConsumerGroupRecord> record = RecordLocked(name);
    if (!record.ok()) return record.status();
    return InfoLocked(name, *record);
  }

  absl::StatusOr<std::vector<ConsumerGroupInfo>> List() override {
    MutexLock lock(&mu_);
    const std::string prefix = extension::ConsumerGroupKeyPrefix();
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows =
        read_side_->Scan(ReadSideFamily::kProjections, prefix, extension::PrefixEnd(prefix),
                         std::numeric_limits<size_t>::max());
    if (!rows.ok()) return rows.status();
    std::vector<ConsumerGroupInfo> groups;
    for (const auto& [key, value] : *rows) {
      std::optional<std::string_view> name = extension::ParseConsumerGroupKey(key);
      v1::ConsumerGroupRecord record;
      if (!name || !record.ParseFromString(value)) {
        return absl::DataLossError("a consumer group record does not parse");
      }
      absl::StatusOr<ConsumerGroupInfo> info = InfoLocked(*name, record);
      if (!info.ok()) return info.status();
      groups.push_back(*std::move(info));
    }
    return groups;
  }

  absl::StatusOr<std::unique_ptr<Consumer>> Join(std::string_view name,
                                                 const ConsumerOptions& options) override {
    if (options.buffer_size < 1) return absl::InvalidArgumentError("buffer_size must be >= 1");
    MutexLock lock(&mu_);
    absl::StatusOr<std::shared_ptr<Group>> group = GroupLocked(name);
    if (!group.ok()) return group.status();
    absl::StatusOr<uint64_t> id = (*group)->AddConsumer(options);
    if (!id.ok()) return id.status();
    return std::make_unique<ConsumerImpl>(*group, *id);
  }

  absl::StatusOr<std::vector<GroupParkedEvent>> ReadParked(std::string_view name,
                                                           size_t max) override {
    MutexLock lock(&mu_);
    absl::StatusOr<v1::ConsumerGroupRecord> record = RecordLocked(name);
    if (!record.ok()) return record.status();
    absl::StatusOr<std::vector<std::pair<Position, v1::GroupParkedRecord>>> parked =
        LoadParked(*read_side_, name);
    if (!parked.ok()) return parked.status();
    std::vector<GroupParkedEvent> events;
    for (const auto& [position, entry] : *parked) {
      if (events.size() >= max) break;
      absl::StatusOr<std::optional<EventRecord>> event = EventAt(store_, position);
      if (!event.ok()) return event.status();
      if (!event->has_value()) continue;
      events.push_back({.event = **std::move(event),
                        .reason = entry.reason(),
                        .deliveries = static_cast<int>(entry.deliveries()),
                        .parked_at = absl::FromUnixMicros(entry.parked_at_us()),
                        .replaying = entry.replaying()});
    }
    return events;
  }

  absl::StatusOr<size_t> ReplayParked(std::string_view name, size_t max) override {
    MutexLock lock(&mu_);
    absl::StatusOr<std::shared_ptr<Group>> group = GroupLocked(name);
    if (!group.ok()) return group.status();
    absl::StatusOr<std::vector<std::pair<Position, v1::GroupParkedRecord>>> parked =
        LoadParked(*read_side_, name);
    if (!parked.ok()) return parked.status();
    ReadSideBatch batch;
    std::vector<EventRecord> events;
    for (auto& [position, entry] : *parked) {
      if (events.size() >= max) break;
      if (entry.replaying()) continue;
      absl::StatusOr<std::optional<EventRecord>> event = EventAt(store_, position);
      if (!event.ok()) return event.status();
      if (!event->has_value()) continue;
      entry.set_replaying(true);
      batch.Put(ReadSideFamily::kProjections, extension::GroupParkedKey(name, position),
                entry.SerializeAsString());
      events.push_back(**std::move(event));
    }
    if (events.empty()) return 0;
    // Marked before they are handed back: a restart hands them back again.
    if (absl::Status s = read_side_->Commit(batch); !s.ok()) return s;
    const size_t count = events.size();
    (*group)->AddReplays(std::move(events));
    return count;
  }

  void Close() override {
    MutexLock lock(&mu_);
    for (auto& [name, group] : groups_) {
      group->Close(absl::CancelledError("the consumer groups were closed"), /*store=*/true);
    }
    groups_.clear();
  }

 private:
  absl::StatusOr<v1::ConsumerGroupRecord> RecordLocked(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (absl::Status s = ValidateName(name); !s.ok()) return s;
    absl::StatusOr<std::optional<v1::ConsumerGroupRecord>> record = LoadRecord(*read_side_, name);
    if (!record.ok()) return record.status();
    if (!record->has_value()) {
      return absl::NotFoundError(absl::StrCat("no consumer group '", std::string(name), "'"));
    }
    return **record;
  }

  // The group's delivery state, started on first use.
  absl::StatusOr<std::shared_ptr<Group>> GroupLocked(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (auto it = groups_.find(name); it != groups_.end()) return it->second;
    absl::StatusOr<v1::ConsumerGroupRecord> record = RecordLocked(name);
    if (!record.ok()) return record.status();
    auto group = std::make_shared<Group>(store_, read_side_, std::string(name), *record);
    if (absl::Status s = group->Start(); !s.ok()) return s;
    groups_.emplace(std::string(name), group);
    return group;
  }

  absl::StatusOr<ConsumerGroupInfo> InfoLocked(std::string_view name,
                                               const v1::ConsumerGroupRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ConsumerGroupInfo info;
    info.name = std::string(name);
    info.settings = SettingsOf(record);
    if (record.has_after()) info.checkpoint = record.after();
    info.created_at = absl::FromUnixMicros(record.created_at_us());
    info.updated_at = absl::FromUnixMicros(record.updated_at_us());
    absl::StatusOr<std::vector<std::pair<Position, v1::GroupParkedRecord>>> parked =
        LoadParked(*read_side_, name);
    if (!parked.ok()) return parked.status();
    info.parked = parked->size();
    if (auto it = groups_.find(name); it != groups_.end()) it->second->Describe(info);
    return info;
  }

  EventStore& store_;
  const std::shared_ptr<ReadSide> read_side_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<Group>, std::less<>> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ConsumerGroups>> ConsumerGroups::Open(EventStore& store) {
  absl::StatusOr<std::unique_ptr<ReadSide>> read_side = ReadSide::Of(store);
  if (!read_side.ok()) return read_side.status();
  if ((*read_side)->read_only()) {
    return absl::FailedPreconditionError(
        "consumer groups keep their state in the store: not on a read-only store");
  }
  OpenStores& opened = Opened();
  MutexLock lock(&opened.mu);
  if (!opened.stores.insert(&store).second) {
    return absl::FailedPreconditionError("this store has its ConsumerGroups open already");
  }
  return std::make_unique<ConsumerGroupsImpl>(store,
                                              std::shared_ptr<ReadSide>(*std::move(read_side)));
}

}  // namespace annals
