#include "chain_store.h"

#include <memory>
#include <string>

#include "annals/storage/v1/stored_event.pb.h"
#include "key_codec.h"
#include "status_util.h"

namespace annals::internal {

absl::StatusOr<Position> ReadDigestFrom(Storage& storage,
                                        const rocksdb::ReadOptions& read_options) {
  std::string value;
  rocksdb::Status s = storage.db()->Get(read_options, storage.cf(Cf::kMeta),
                                        std::string(kMetaChainDigestFromKey), &value);
  if (s.IsNotFound()) return Position(~uint64_t{0});
  ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "read chain/digest_from"));
  if (value.size() != 8) return absl::DataLossError("chain/digest_from is malformed");
  return Position(ReadBigEndian64(value));
}

ChainHash ChainHashAt(const ChainHash& previous, std::string_view hashed_bytes, Position position,
                      Position digest_from) {
  return position >= digest_from ? ComputeChainHash(previous, hashed_bytes)
                                 : ComputeChainHashV1(previous, hashed_bytes);
}

absl::StatusOr<Carried> CarryOverRemoved(
    Storage& storage, const rocksdb::ReadOptions& read_options, const ChainHash& from,
    Position after, Position before, const std::function<void(Position, const ChainHash&)>& visit) {
  Carried carried{.hash = from, .last = after};
  if (before.value() <= after.value() + 1) return carried;
  BoundedIterator it(storage, Cf::kMeta, "", RemovedEventKey(before), read_options);
  uint64_t expected = after.value() + 1;
  for (it->Seek(RemovedEventKey(Position(expected))); it->Valid(); it->Next()) {
    const std::optional<Position> position = ParseRemovedEventKey(it->key().ToStringView());
    const std::optional<RemovedEvent> removed = DecodeRemovedEvent(it->value().ToStringView());
    if (!position || !removed)
      return absl::DataLossError("a removed event's record in meta is malformed");
    if (position->value() != expected) carried.complete = false;
    carried.hash = removed->digest ? ChainStep(carried.hash, removed->hash) : removed->hash;
    carried.proven &= removed->digest && position->value() == expected;
    carried.last_recorded_at_us = std::max(carried.last_recorded_at_us, removed->recorded_at_us);
    carried.last = *position;
    ++carried.removed;
    expected = position->value() + 1;
    if (visit) visit(*position, carried.hash);
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read removed events"));
  if (expected != before.value()) carried.complete = false;
  return carried;
}

absl::StatusOr<StoredHead> ReadStoredHead(Storage& storage,
                                          const rocksdb::ReadOptions& read_options) {
  StoredHead head;
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(read_options, storage.cf(Cf::kLog)));
  it->SeekToLast();
  if (it->Valid()) {
    const std::optional<Position> position = ParseLogKey(it->key().ToStringView());
    const std::string_view value = it->value().ToStringView();
    const std::optional<SplitValue> split = SplitStoredValue(value);
    storage::v1::StoredEvent last;
    if (!position || !split || !last.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError("the last event of the log is malformed");
    }
    head.head = *position;
    head.chain = split->stored_hash;
    head.last_recorded_at_us = last.recorded_at_us();
  } else {
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read log head"));
  }
  // Scavenge may have removed the log's last events: their records keep the
  // head and the chain, so positions are never reused.
  Carried carried;
  ANNALS_ASSIGN_OR_RETURN(carried, CarryOverRemoved(storage, read_options, head.chain, head.head,
                                                    Position(~uint64_t{0})));
  head.head = carried.last;
  head.chain = carried.hash;
  head.last_recorded_at_us = std::max(head.last_recorded_at_us, carried.last_recorded_at_us);
  // Positions lost in a repair are past the log's last event: skip them.
  std::unique_ptr<rocksdb::Iterator> lost(
      storage.db()->NewIterator(read_options, storage.cf(Cf::kMeta)));
  lost->SeekForPrev(LostRangeKey(Position(~uint64_t{0})));
  if (lost->Valid()) {
    if (ParseLostRangeKey(lost->key().ToStringView())) {
      if (lost->value().size() != 8)
        return absl::DataLossError("a lost range in meta is malformed");
      head.head = std::max(head.head, Position(ReadBigEndian64(lost->value().ToStringView())));
    }
  } else {
    ANNALS_RETURN_IF_ERROR(FromRocksDb(lost->status(), "read lost ranges"));
  }
  return head;
}

}  // namespace annals::internal
