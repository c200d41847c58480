#include "reader.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "event_codec.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "status_util.h"

namespace annals {

bool EventFilter::Matches(const EventRecord& record) const {
  if (exclude_system_events && !record.stream.empty() && record.stream[0] == '$') return false;
  if (!categories.empty()) {
    const std::string_view category = CategoryOf(record.stream);
    if (std::find(categories.begin(), categories.end(), category) == categories.end()) {
      return false;
    }
  }
  if (!event_types.empty() &&
      std::find(event_types.begin(), event_types.end(), record.type) == event_types.end()) {
    return false;
  }
  if (!stream_prefixes.empty() &&
      std::none_of(stream_prefixes.begin(), stream_prefixes.end(),
                   [&](const std::string& prefix) { return record.stream.starts_with(prefix); })) {
    return false;
  }
  return true;
}

namespace internal {
namespace {

class RangeEventIterator final : public EventIterator {
 public:
  RangeEventIterator(std::shared_ptr<Storage> storage, Cf cf, std::string lower, std::string upper,
                     Direction direction, uint64_t max_count, Position head,
                     Position reached_at_end, int64_t min_recorded_at_us)
      : storage_(std::move(storage)),
        direction_(direction),
        head_(head),
        reached_at_end_(reached_at_end),
        min_recorded_at_us_(min_recorded_at_us),
        iterator_(*storage_, cf, std::move(lower), std::move(upper), ReadOptionsFor(cf)),
        remaining_(max_count) {
    if (direction_ == Direction::kForward) {
      iterator_->Seek(iterator_.lower());
    } else {
      // SeekForPrev keeps prefix (per-stream) seeks valid; the exclusive
      // upper bound keeps `upper` itself out.
      iterator_->SeekForPrev(iterator_.upper());
    }
    Load();
  }

  bool Valid() const override { return valid_; }

  void Next() override {
    if (!valid_) return;
    if (direction_ == Direction::kForward) {
      iterator_->Next();
    } else {
      iterator_->Prev();
    }
    Load();
  }

  const EventRecord& record() const override { return record_; }
  absl::Status status() const override { return status_; }
  Position reached() const override { return reached_; }

 private:
  void Load() {
    valid_ = false;
    if (remaining_ == 0) return;
    for (;;) {
      if (!iterator_->Valid()) {
        status_ = FromRocksDb(iterator_->status(), "read events");
        if (status_.ok()) End();
        return;
      }
      rocksdb::Slice value = iterator_->value();
      status_ = DecodeStoredEvent(std::string_view(value.data(), value.size()), &record_);
      if (!status_.ok()) return;
      if (record_.position > head_) {
        // Committed after this read began: not part of it. Forward, every
        // later key is later still; backward, step over it.
        if (direction_ == Direction::kForward) {
          End();
          return;
        }
        iterator_->Prev();
        continue;
      }
      if (absl::ToUnixMicros(record_.recorded_at) < min_recorded_at_us_) {
        // Past the stream's max age. Backward, every earlier one is too.
        if (direction_ == Direction::kBackward) {
          End();
          return;
        }
        iterator_->Next();
        continue;
      }
      break;
    }
    --remaining_;
    reached_ = record_.position;
    valid_ = true;
  }

  // The range is exhausted: a zero reached_at_end_ keeps the last position.
  void End() {
    if (reached_at_end_.value() != 0) reached_ = reached_at_end_;
  }

  static rocksdb::ReadOptions ReadOptionsFor(Cf cf) {
    rocksdb::ReadOptions read_options;
    // Stream reads stay inside one stream id's prefix.
    read_options.prefix_same_as_start = (cf == Cf::kStreamEvents);
    return read_options;
  }

  // Constant after construction.
  const std::shared_ptr<Storage> storage_;
  const Direction direction_;
  const Position head_;
  const Position reached_at_end_;
  const int64_t min_recorded_at_us_;

  BoundedIterator iterator_;
  uint64_t remaining_;
  bool valid_ = false;
  absl::Status status_;
  EventRecord record_;
  Position reached_;
};

class EmptyEventIterator final : public EventIterator {
 public:
  EmptyEventIterator(absl::Status status, Position reached)
      : status_(std::move(status)), reached_(reached) {}
  bool Valid() const override { return false; }
  void Next() override {}
  const EventRecord& record() const override { return record_; }
  absl::Status status() const override { return status_; }
  Position reached() const override { return reached_; }

 private:
  const absl::Status status_;
  const Position reached_;
  EventRecord record_;
};

// Merges the entries of several names of one index column family in
// position order, and fetches their events from `log` with one MultiGet per
// batch (positions ascend, so the gets walk the log in order).
class IndexEventIterator final : public EventIterator {
 public:
  IndexEventIterator(std::shared_ptr<Storage> storage, Cf cf, const std::vector<std::string>& names,
                     Position lo, Position hi, Direction direction, uint64_t max_count)
      : storage_(std::move(storage)),
        direction_(direction),
        reached_at_end_(direction == Direction::kForward ? hi : lo),
        remaining_(max_count) {
    cursors_.reserve(names.size());
    for (const std::string& name : names) {
      auto cursor = std::make_unique<Cursor>(
          Cursor{BoundedIterator(*storage_, cf, IndexKey(name, lo), IndexKey(name, hi.Next()))});
      if (direction_ == Direction::kForward) {
        cursor->it->Seek(cursor->it.lower());
      } else {
        cursor->it->SeekToLast();
      }
      cursors_.push_back(std::move(cursor));
    }
    Advance();
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    if (valid_) Advance();
  }
  const EventRecord& record() const override { return record_; }
  absl::Status status() const override { return status_; }
  Position reached() const override { return reached_; }

 private:
  static constexpr size_t kBatch = 128;

  struct Cursor {
    BoundedIterator it;
  };

  void Advance() {
    valid_ = false;
    if (remaining_ == 0 || !status_.ok()) return;
    while (buffered_.empty()) {
      if (!Refill()) return;
    }
    record_ = std::move(buffered_.front());
    buffered_.pop_front();
    reached_ = record_.position;
    --remaining_;
    valid_ = true;
  }

  // Reads up to kBatch index entries and their events. False at the end.
  bool Refill() {
    std::vector<std::string> keys;
    while (keys.size() < kBatch) {
      Cursor* best = nullptr;
      uint64_t best_position = 0;
      for (auto& cursor : cursors_) {
        if (!cursor->it->Valid()) continue;
        std::optional<Position> p = ParseIndexKeyPosition(
            std::string_view(cursor->it->key().data(), cursor->it->key().size()));
        if (!p) {
          status_ = absl::DataLossError("malformed index key");
          return false;
        }
        const bool better =
            best == nullptr || (direction_ == Direction::kForward ? p->value() < best_position
                                                                  : p->value() > best_position);
        if (better) {
          best = cursor.get();
          best_position = p->value();
        }
      }
      if (best == nullptr) break;
      keys.push_back(LogKey(Position(best_position)));
      if (direction_ == Direction::kForward) {
        best->it->Next();
      } else {
        best->it->Prev();
      }
    }
    for (auto& cursor : cursors_) {
      if (!cursor->it->Valid() && !cursor->it->status().ok()) {
        status_ = FromRocksDb(cursor->it->status(), "read index");
        return false;
      }
    }
    if (keys.empty()) {
      reached_ = reached_at_end_;
      return false;
    }
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    storage_->db()->MultiGet(rocksdb::ReadOptions(), storage_->cf(Cf::kLog), keys.size(),
                             slices.data(), values.data(), statuses.data(),
                             /*sorted_input=*/false);
    for (size_t i = 0; i < keys.size(); ++i) {
      // Removed by a Scavenge running meanwhile: no longer part of the log.
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) {
        status_ = FromRocksDb(statuses[i], "read indexed event");
        return false;
      }
      EventRecord record;
      status_ = DecodeStoredEvent(std::string_view(values[i].data(), values[i].size()), &record);
      if (!status_.ok()) return false;
      buffered_.push_back(std::move(record));
    }
    if (buffered_.empty()) reached_ = ParseLogKey(keys.back()).value_or(reached_);
    return true;
  }

  // Constant after construction.
  const std::shared_ptr<Storage> storage_;
  const Direction direction_;
  const Position reached_at_end_;

  std::vector<std::unique_ptr<Cursor>> cursors_;
  std::deque<EventRecord> buffered_;
  uint64_t remaining_;
  bool valid_ = false;
  absl::Status status_;
  EventRecord record_;
  Position reached_;
};

// Passes on the events of `inner` that `filter` selects, at most max_count.
class FilteringIterator final : public EventIterator {
 public:
  FilteringIterator(std::unique_ptr<EventIterator> inner, EventFilter filter, uint64_t max_count)
      : inner_(std::move(inner)), filter_(std::move(filter)), remaining_(max_count) {
    Settle();
  }
  bool Valid() const override { return valid_; }
  void Next() override {
    if (!valid_) return;
    inner_->Next();
    Settle();
  }
  const EventRecord& record() const override { return inner_->record(); }
  absl::Status status() const override { return inner_->status(); }
  Position reached() const override { return reached_; }

 private:
  void Settle() {
    valid_ = false;
    if (remaining_ == 0) return;
    while (inner_->Valid() && !filter_.Matches(inner_->record())) inner_->Next();
    reached_ = inner_->reached();
    if (!inner_->Valid()) return;
    --remaining_;
    valid_ = true;
  }

  std::unique_ptr<EventIterator> inner_;
  const EventFilter filter_;
  uint64_t remaining_;
  bool valid_ = false;
  Position reached_;
};

int64_t MicrosAtOrAfter(absl::Time time) {
  int64_t us = absl::ToUnixMicros(time);
  if (absl::FromUnixMicros(us) < time) ++us;
  return us;
}

std::vector<std::string> Deduplicated(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& name : names) {
    if (seen.insert(name).second) out.push_back(name);
  }
  return out;
}

}  // namespace

std::unique_ptr<EventIterator> NewRangeEventIterator(std::shared_ptr<Storage> storage, Cf cf,
                                                     std::string lower, std::string upper,
                                                     Direction direction, uint64_t max_count,
                                                     Position head, Position reached_at_end,
                                                     int64_t min_recorded_at_us) {
  return std::make_unique<RangeEventIterator>(std::move(storage), cf, std::move(lower),
                                              std::move(upper), direction, max_count, head,
                                              reached_at_end, min_recorded_at_us);
}

std::unique_ptr<EventIterator> NewEmptyEventIterator(absl::Status status, Position reached) {
  return std::make_unique<EmptyEventIterator>(std::move(status), reached);
}

ReadSource SourceForFilter(const EventFilter& filter) {
  if (!filter.categories.empty()) return {Cf::kByCategory, Deduplicated(filter.categories)};
  if (!filter.event_types.empty()) return {Cf::kByType, Deduplicated(filter.event_types)};
  return {Cf::kLog, {}};
}

absl::StatusOr<Position> FindPositionAt(Storage& storage, int64_t time_us, Position head) {
  // The last bucket entry at or before `time_us`; the answer lies in its
  // bucket (or is the next entry), so the log scan below stays within one
  // bucket's events.
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(rocksdb::ReadOptions(), storage.cf(Cf::kByTime)));
  it->SeekForPrev(TimeKey(time_us));
  if (!it->Valid()) {
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read time index"));
    // Before every entry: every event is at or after `time_us`.
    return Position(std::min<uint64_t>(1, head.value() + 1));
  }
  std::optional<int64_t> entry_us = ParseTimeKey(it->key().ToStringView());
  if (!entry_us || it->value().size() != 8)
    return absl::DataLossError("malformed time index entry");
  const uint64_t start = ReadBigEndian64(std::string_view(it->value().data(), 8));
  if (*entry_us == time_us) return Position(std::min(start, head.value() + 1));
  BoundedIterator log(storage, Cf::kLog, "", LogKey(head.Next()));
  EventRecord record;
  for (log->Seek(LogKey(Position(start))); log->Valid(); log->Next()) {
    ANNALS_RETURN_IF_ERROR(
        DecodeStoredEvent(std::string_view(log->value().data(), log->value().size()), &record));
    if (absl::ToUnixMicros(record.recorded_at) >= time_us) return record.position;
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(log->status(), "scan log for a time"));
  return head.Next();
}

absl::StatusOr<std::unique_ptr<EventIterator>> NewLogRead(std::shared_ptr<Storage> storage,
                                                          Position head, const ReadSource& source,
                                                          const ReadAllOptions& options) {
  const bool forward = options.direction == Direction::kForward;
  uint64_t lo = 1;
  uint64_t hi = head.value();
  if (options.since) {
    ANNALS_ASSIGN_OR_RETURN(Position p,
                            FindPositionAt(*storage, MicrosAtOrAfter(*options.since), head));
    lo = std::max(lo, p.value());
  }
  if (options.until) {
    ANNALS_ASSIGN_OR_RETURN(Position p,
                            FindPositionAt(*storage, MicrosAtOrAfter(*options.until), head));
    hi = std::min(hi, p.value() - 1);
  }
  if (options.from) {
    if (forward) {
      lo = std::max(lo, options.from->value());
    } else {
      hi = std::min(hi, options.from->value());
    }
  }
  const Position reached_at_end(forward ? hi : lo);
  if (lo > hi || options.max_count == 0)
    return NewEmptyEventIterator(absl::OkStatus(), reached_at_end);

  const bool filtered = !options.filter.empty();
  const uint64_t inner_count = filtered ? std::numeric_limits<uint64_t>::max() : options.max_count;
  std::unique_ptr<EventIterator> inner;
  if (source.cf == Cf::kLog) {
    inner = NewRangeEventIterator(std::move(storage), Cf::kLog, LogKey(Position(lo)),
                                  LogKey(Position(hi + 1)), options.direction, inner_count, head,
                                  reached_at_end);
  } else {
    inner = std::make_unique<IndexEventIterator>(std::move(storage), source.cf, source.names,
                                                 Position(lo), Position(hi), options.direction,
                                                 inner_count);
  }
  if (!filtered) return inner;
  return std::make_unique<FilteringIterator>(std::move(inner), options.filter, options.max_count);
}

}  // namespace internal
}  // namespace annals
