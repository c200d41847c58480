#include "stream_heads.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "annals/storage/v1/stream_info.pb.h"
#include "key_codec.h"
#include "status_util.h"

namespace annals::internal {

absl::StatusOr<std::optional<StreamRecord>> ReadStreamRecord(Storage& storage,
                                                             std::string_view stream) {
  std::string value;
  rocksdb::Status s = storage.db()->Get(rocksdb::ReadOptions(), storage.cf(Cf::kStreams),
                                        rocksdb::Slice(stream.data(), stream.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  ANNALS_RETURN_IF_ERROR(FromRocksDb(s, absl::StrCat("read stream record of '", std::string(stream), "'")));
  storage::v1::StreamInfo info;
  if (!info.ParseFromString(value) || info.stream_id() == 0) {
    return absl::DataLossError(absl::StrCat("stream record of '", std::string(stream), "' is malformed"));
  }
  return StreamRecord{info.stream_id(), info.created_at_us()};
}

absl::StatusOr<StreamTail> ReadStreamTail(Storage& storage, uint64_t stream_id) {
  const std::string lower = StreamEventKey(stream_id, Revision(0));
  const std::string upper = StreamEventsEnd(stream_id);
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  read_options.iterate_upper_bound = &upper_slice;
  read_options.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(
      storage.db()->NewIterator(read_options, storage.cf(Cf::kStreamEvents)));
  it->SeekForPrev(StreamEventKey(stream_id, Revision(~uint64_t{0})));
  if (!it->Valid()) {
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "read stream tail"));
    return absl::DataLossError(absl::StrCat("stream id ", stream_id, " has a record but no events"));
  }
  storage::v1::StoredEvent last;
  if (!last.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return absl::DataLossError(absl::StrCat("last event of stream id ", stream_id, " does not parse"));
  }
  return StreamTail{Revision(last.revision()), Position(last.position()), last.recorded_at_us()};
}

}  // namespace annals::internal
