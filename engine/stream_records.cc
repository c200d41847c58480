#include "stream_records.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "annals/storage/v1/stream_record.pb.h"
#include "key_codec.h"
#include "status_util.h"

namespace annals::internal {

StreamMetadata StreamRecord::metadata() const {
  StreamMetadata metadata;
  metadata.max_count = max_count;
  if (max_age_us) metadata.max_age = absl::Microseconds(*max_age_us);
  if (truncate_before) metadata.truncate_before = Revision(*truncate_before);
  metadata.custom_json = custom_json;
  return metadata;
}

std::string StreamRecord::Encode() const {
  storage::v1::StreamRecord info;
  info.set_stream_id(stream_id);
  info.set_created_at_us(created_at_us);
  if (truncate_before) info.set_truncate_before(*truncate_before);
  if (max_count) info.set_max_count(*max_count);
  if (max_age_us) info.set_max_age_us(*max_age_us);
  info.set_tombstoned(tombstoned);
  if (!custom_json.empty()) info.set_custom_json(custom_json);
  if (last_revision) {
    info.set_last_revision(*last_revision);
    info.set_last_position(last_position);
    info.set_last_recorded_at_us(last_recorded_at_us);
  }
  return info.SerializeAsString();
}

std::optional<StreamRecord> StreamRecord::Decode(std::string_view value) {
  storage::v1::StreamRecord info;
  if (!info.ParseFromArray(value.data(), static_cast<int>(value.size())) || info.stream_id() == 0) {
    return std::nullopt;
  }
  StreamRecord record;
  record.stream_id = info.stream_id();
  record.created_at_us = info.created_at_us();
  if (info.has_truncate_before()) record.truncate_before = info.truncate_before();
  if (info.has_max_count()) record.max_count = info.max_count();
  if (info.has_max_age_us()) record.max_age_us = info.max_age_us();
  record.tombstoned = info.tombstoned();
  record.custom_json = info.custom_json();
  if (info.has_last_revision()) {
    record.last_revision = info.last_revision();
    record.last_position = info.last_position();
    record.last_recorded_at_us = info.last_recorded_at_us();
  }
  return record;
}

absl::StatusOr<std::optional<StreamRecord>> ReadStreamRecord(Storage& storage,
                                                             std::string_view stream) {
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kStreams),
                                        rocksdb::Slice(stream.data(), stream.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  ANNALS_RETURN_IF_ERROR(
      FromRocksDb(s, absl::StrCat("read stream record of '", std::string(stream), "'")));
  std::optional<StreamRecord> record = StreamRecord::Decode(value);
  if (!record) {
    return absl::DataLossError(
        absl::StrCat("stream record of '", std::string(stream), "' is malformed"));
  }
  return record;
}

absl::StatusOr<std::optional<StreamHead>> ReadHeadFromEvents(Storage& storage, uint64_t stream_id) {
  rocksdb::ReadOptions read_options;
  read_options.prefix_same_as_start = true;
  BoundedIterator it(storage, Cf::kStreamEvents, StreamEventKey(stream_id, Revision(0)),
                     StreamEventsEnd(stream_id), read_options);
  it->SeekForPrev(StreamEventKey(stream_id, Revision(~uint64_t{0})));
  if (!it->Valid()) {
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read stream tail"));
    return std::nullopt;
  }
  storage::v1::StoredEvent last;
  if (!last.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return absl::DataLossError(
        absl::StrCat("last event of stream id ", stream_id, " does not parse"));
  }
  return StreamHead{Revision(last.revision()), Position(last.position()), last.recorded_at_us()};
}

absl::StatusOr<std::optional<StreamHead>> ReadStreamHead(Storage& storage,
                                                         const StreamRecord& record) {
  std::optional<StreamHead> tail;
  ANNALS_ASSIGN_OR_RETURN(tail, ReadHeadFromEvents(storage, record.stream_id));
  if (record.last_revision && (!tail || tail->last_revision.value() < *record.last_revision)) {
    return StreamHead{Revision(*record.last_revision), Position(record.last_position),
                      record.last_recorded_at_us};
  }
  return tail;
}

}  // namespace annals::internal
