#include "subscription_impl.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "annals/storage/v1/checkpoint.pb.h"
#include "key_codec.h"
#include "reader.h"
#include "status_util.h"
#include "stream_records.h"
#include "validation.h"

namespace annals::internal {
namespace {

std::string SortedJoin(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  // Names may hold any byte but NUL... except stream prefixes; length
  // prefixes keep the text unambiguous whatever they hold.
  std::string out;
  for (const std::string& name : names) absl::StrAppend(&out, name.size(), ":", name, ";");
  return out;
}

// The longest wait per AwaitHeadBeyond call (condition variables overflow on
// an infinite timeout); Next loops until its own deadline.
constexpr absl::Duration kMaxWait = absl::Hours(1);

}  // namespace

std::string FilterKey(const EventFilter& filter) {
  return absl::StrCat("c=", SortedJoin(filter.categories), " t=", SortedJoin(filter.event_types),
                      " p=", SortedJoin(filter.stream_prefixes),
                      " x=", filter.exclude_system_events ? 1 : 0);
}

SubscriptionImpl::SubscriptionImpl(std::shared_ptr<Storage> storage, std::shared_ptr<Writer> writer,
                                   std::shared_ptr<OpenSubscribers> open,
                                   const SubscribeOptions& options, bool sync)
    : storage_(std::move(storage)),
      writer_(std::move(writer)),
      open_(std::move(open)),
      options_(options),
      sync_(sync),
      filter_key_(FilterKey(options.filter)) {}

absl::StatusOr<std::unique_ptr<Subscription>> SubscriptionImpl::Create(
    std::shared_ptr<Storage> storage, std::shared_ptr<Writer> writer,
    std::shared_ptr<OpenSubscribers> open, const SubscribeOptions& options, bool sync) {
  if (options.batch_size == 0) {
    return absl::InvalidArgumentError("SubscribeOptions::batch_size must be > 0");
  }
  if (!options.stream.empty() && !options.filter.empty()) {
    return absl::InvalidArgumentError(
        "SubscribeOptions::filter applies to $all only; leave it empty for a stream");
  }
  if (!options.durable_name.empty() && !IsValidUtf8(options.durable_name)) {
    return absl::InvalidArgumentError("SubscribeOptions::durable_name is not valid UTF-8");
  }
  std::unique_ptr<SubscriptionImpl> subscription(
      new SubscriptionImpl(std::move(storage), std::move(writer), std::move(open), options, sync));
  ANNALS_RETURN_IF_ERROR(subscription->Start());
  return std::unique_ptr<Subscription>(std::move(subscription));
}

absl::Status SubscriptionImpl::Start() {
  const std::string& name = options_.durable_name;
  if (!name.empty()) {
    MutexLock lock(&open_->mu);
    if (!open_->names.insert(name).second) {
      return absl::FailedPreconditionError(
          absl::StrCat("durable subscriber '", name, "' already has an open subscription"));
    }
    holds_name_ = true;
  }
  if (!name.empty()) {
    std::string value;
    rocksdb::Status s =
        storage_->db()->Get(rocksdb::ReadOptions(), storage_->cf(Cf::kCheckpoints), name, &value);
    if (s.ok()) {
      storage::v1::SubscriberCheckpoint checkpoint;
      if (!checkpoint.ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("checkpoint of '", name, "' does not parse"));
      }
      if (checkpoint.stream() != options_.stream || checkpoint.filter() != filter_key_) {
        return absl::FailedPreconditionError(absl::StrCat(
            "durable subscriber '", name, "' is stored for another target (stream '",
            checkpoint.stream(), "'); delete it first (DeleteSubscriber) or use a new name"));
      }
      scanned_ = checkpoint.position();
      next_revision_ = delivered_next_revision_ = checkpoint.next_revision();
      reached_.store(scanned_, std::memory_order_release);
      return absl::OkStatus();
    }
    if (!s.IsNotFound()) return FromRocksDb(s, "read checkpoint");
  }

  const StartFrom& start = options_.start;
  if (options_.stream.empty()) {
    if (start.kind() == StartFrom::Kind::kEnd) scanned_ = writer_->head().value();
    if (start.kind() == StartFrom::Kind::kAfter) scanned_ = start.after();
  } else if (start.kind() == StartFrom::Kind::kAfter) {
    next_revision_ = start.after() + 1;
  } else if (start.kind() == StartFrom::Kind::kEnd) {
    std::optional<StreamRecord> record;
    ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(*storage_, options_.stream));
    if (record) {
      std::optional<StreamHead> tail;
      ANNALS_ASSIGN_OR_RETURN(tail, ReadStreamHead(*storage_, *record));
      if (tail) {
        writer_->AwaitPublished(tail->last_position);
        next_revision_ = tail->last_revision.value() + 1;
      }
    }
    scanned_ = writer_->head().value();
  }
  delivered_next_revision_ = next_revision_;
  reached_.store(scanned_, std::memory_order_release);
  return absl::OkStatus();
}

SubscriptionImpl::~SubscriptionImpl() {
  if (holds_name_) {
    MutexLock lock(&open_->mu);
    open_->names.erase(options_.durable_name);
  }
}

void SubscriptionImpl::Stop() {
  stopped_.store(true, std::memory_order_release);
  writer_->WakeWaiters();
}

absl::StatusOr<EventRecord> SubscriptionImpl::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (stopped_.load(std::memory_order_acquire)) {
      return absl::CancelledError("the subscription was stopped");
    }
    if (writer_->closed_for_subscriptions()) return absl::CancelledError("the store was closed");
    if (!buffer_.empty()) {
      EventRecord record = std::move(buffer_.front());
      buffer_.pop_front();
      delivered_next_revision_ = record.revision.value() + 1;
      // Once the buffer is drained, everything scanned counts as handled
      // with this event (the rest was filtered out).
      reached_.store(buffer_.empty() ? scanned_ : record.position.value(),
                     std::memory_order_release);
      return record;
    }
    const Position head = writer_->head();
    if (head.value() > scanned_) {
      ANNALS_RETURN_IF_ERROR(Refill(head));
      if (buffer_.empty()) reached_.store(scanned_, std::memory_order_release);
      continue;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("no event within the timeout");
    }
    writer_->AwaitHeadBeyond(Position(scanned_), absl::Now() + std::min(left, kMaxWait), stopped_);
  }
}

absl::Status SubscriptionImpl::Refill(Position head) {
  if (!options_.stream.empty()) return RefillStream(head);
  ReadAllOptions read;
  read.from = Position(scanned_ + 1);
  read.max_count = options_.batch_size;
  read.filter = options_.filter;
  std::unique_ptr<EventIterator> it;
  ANNALS_ASSIGN_OR_RETURN(it, NewLogRead(storage_, head, SourceForFilter(options_.filter), read));
  for (; it->Valid(); it->Next()) buffer_.push_back(it->record());
  ANNALS_RETURN_IF_ERROR(it->status());
  scanned_ = std::max(scanned_, it->reached().value());
  return absl::OkStatus();
}

absl::Status SubscriptionImpl::RefillStream(Position head) {
  std::optional<StreamRecord> record;
  ANNALS_ASSIGN_OR_RETURN(record, ReadStreamRecord(*storage_, options_.stream));
  if (!record) {
    // Not created yet: nothing up to `head` belongs to it.
    scanned_ = head.value();
    return absl::OkStatus();
  }
  if (record->tombstoned) {
    return absl::FailedPreconditionError(
        absl::StrCat("stream '", options_.stream, "' is deleted (tombstoned)"));
  }
  // A soft delete hides the events before its truncation point.
  const uint64_t first = std::max(next_revision_, record->truncate_before.value_or(0));
  std::unique_ptr<EventIterator> it = NewRangeEventIterator(
      storage_, Cf::kStreamEvents, StreamEventKey(record->stream_id, Revision(first)),
      StreamEventKey(record->stream_id, Revision(~uint64_t{0})), Direction::kForward,
      options_.batch_size, head, Position(0));
  size_t count = 0;
  for (; it->Valid(); it->Next()) {
    buffer_.push_back(it->record());
    next_revision_ = it->record().revision.value() + 1;
    ++count;
  }
  ANNALS_RETURN_IF_ERROR(it->status());
  // A full batch may have more behind it; a short one read all up to head.
  scanned_ = count == options_.batch_size ? buffer_.back().position.value() : head.value();
  return absl::OkStatus();
}

absl::Status SubscriptionImpl::SaveCheckpoint() {
  if (options_.durable_name.empty()) {
    return absl::FailedPreconditionError(
        "only a durable subscription (durable_name) has a checkpoint");
  }
  storage::v1::SubscriberCheckpoint checkpoint;
  checkpoint.set_stream(options_.stream);
  checkpoint.set_filter(filter_key_);
  checkpoint.set_position(reached_.load(std::memory_order_acquire));
  checkpoint.set_next_revision(delivered_next_revision_);
  checkpoint.set_updated_at_us(absl::ToUnixMicros(absl::Now()));
  rocksdb::WriteBatch batch;
  batch.Put(storage_->cf(Cf::kCheckpoints), options_.durable_name, checkpoint.SerializeAsString());
  return writer_->WriteExclusive(batch, sync_);
}

}  // namespace annals::internal
