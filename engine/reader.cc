#include "reader.h"

#include <utility>

#include "event_codec.h"
#include "rocksdb/db.h"
#include "status_util.h"

namespace annals::internal {
namespace {

class RangeEventIterator final : public EventIterator {
 public:
  RangeEventIterator(std::shared_ptr<Storage> storage, Cf cf, std::string lower,
                     std::string upper, Direction direction, uint64_t max_count, Position head)
      : storage_(std::move(storage)),
        lower_(std::move(lower)),
        upper_(std::move(upper)),
        lower_slice_(lower_),
        upper_slice_(upper_),
        direction_(direction),
        head_(head),
        remaining_(max_count) {
    rocksdb::ReadOptions read_options;
    read_options.iterate_lower_bound = &lower_slice_;
    read_options.iterate_upper_bound = &upper_slice_;
    // Stream reads stay inside one stream id's prefix.
    read_options.prefix_same_as_start = (cf == Cf::kStreamEvents);
    iterator_.reset(storage_->db()->NewIterator(read_options, storage_->cf(cf)));
    if (direction_ == Direction::kForward) {
      iterator_->Seek(lower_slice_);
    } else {
      // SeekForPrev keeps prefix (per-stream) seeks valid; the exclusive
      // upper bound keeps `upper` itself out.
      iterator_->SeekForPrev(upper_slice_);
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

 private:
  void Load() {
    valid_ = false;
    if (remaining_ == 0) return;
    for (;;) {
      if (!iterator_->Valid()) {
        status_ = FromRocksDb(iterator_->status(), "read events");
        return;
      }
      rocksdb::Slice value = iterator_->value();
      status_ = DecodeStoredEvent(std::string_view(value.data(), value.size()), &record_);
      if (!status_.ok()) return;
      if (record_.position <= head_) break;
      // Committed after this read began: not part of it.
      if (direction_ == Direction::kForward) return;  // later revisions are later still
      iterator_->Prev();
    }
    --remaining_;
    valid_ = true;
  }

  // Constant after construction.
  const std::shared_ptr<Storage> storage_;
  const std::string lower_;
  const std::string upper_;
  const rocksdb::Slice lower_slice_;
  const rocksdb::Slice upper_slice_;
  const Direction direction_;
  const Position head_;

  std::unique_ptr<rocksdb::Iterator> iterator_;
  uint64_t remaining_;
  bool valid_ = false;
  absl::Status status_;
  EventRecord record_;
};

class EmptyEventIterator final : public EventIterator {
 public:
  explicit EmptyEventIterator(absl::Status status) : status_(std::move(status)) {}
  bool Valid() const override { return false; }
  void Next() override {}
  const EventRecord& record() const override { return record_; }
  absl::Status status() const override { return status_; }

 private:
  const absl::Status status_;
  EventRecord record_;
};

}  // namespace

std::unique_ptr<EventIterator> NewRangeEventIterator(std::shared_ptr<Storage> storage, Cf cf,
                                                     std::string lower, std::string upper,
                                                     Direction direction, uint64_t max_count,
                                                     Position head) {
  return std::make_unique<RangeEventIterator>(std::move(storage), cf, std::move(lower),
                                              std::move(upper), direction, max_count, head);
}

std::unique_ptr<EventIterator> NewEmptyEventIterator(absl::Status status) {
  return std::make_unique<EmptyEventIterator>(std::move(status));
}

}  // namespace annals::internal
