#include "indexes.h"

#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "annals/event_store.h"
#include "annals/storage/v1/meta.pb.h"
#include "event_codec.h"
#include "rocksdb/db.h"
#include "status_util.h"

namespace annals::internal {

absl::Status BackfillIndexes(Storage& storage) {
  constexpr size_t kEventsPerBatch = 10000;
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(rocksdb::ReadOptions(), storage.cf(Cf::kLog)));
  rocksdb::WriteBatch batch;
  size_t in_batch = 0;
  int64_t last_recorded_at_us = std::numeric_limits<int64_t>::min();
  EventRecord record;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ANNALS_RETURN_IF_ERROR(
        DecodeStoredEvent(std::string_view(it->value().data(), it->value().size()), &record));
    ForEachIndexKey(
        record.stream, record.type, record.correlation_id, record.causation_id, record.position,
        [&](Cf cf, const std::string& key) { batch.Put(storage.cf(cf), key, rocksdb::Slice()); });
    const int64_t recorded_at_us = absl::ToUnixMicros(record.recorded_at);
    if (last_recorded_at_us == std::numeric_limits<int64_t>::min() ||
        TimeIndexBucket(recorded_at_us) > TimeIndexBucket(last_recorded_at_us)) {
      std::string position;
      AppendBigEndian64(&position, record.position.value());
      batch.Put(storage.cf(Cf::kByTime), TimeKey(recorded_at_us), position);
      last_recorded_at_us = recorded_at_us;
    }
    if (++in_batch == kEventsPerBatch) {
      ANNALS_RETURN_IF_ERROR(
          FromRocksDb(storage.db()->Write(write_options, &batch), "backfill indexes"));
      batch.Clear();
      in_batch = 0;
    }
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan log for backfill"));

  // The format record moves to 2 with the last entries, never before them.
  std::string value;
  ANNALS_RETURN_IF_ERROR(
      FromRocksDb(storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kMeta),
                                    std::string(kMetaFormatKey), &value),
                  "read format record"));
  storage::v1::FormatInfo format;
  if (!format.ParseFromString(value)) return absl::DataLossError("format record does not parse");
  format.set_format_version(2);  // Open then upgrades it further
  batch.Put(storage.cf(Cf::kMeta), std::string(kMetaFormatKey), format.SerializeAsString());
  return FromRocksDb(storage.db()->Write(write_options, &batch), "finish format upgrade");
}

}  // namespace annals::internal
