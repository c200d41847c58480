// Internal: what one group commit (or one Import) stages before its single
// WriteBatch is written, shared by the writer's files: writer.cc (the queue,
// leaders and group commit), writer_stage.cc (staging appends and lifecycle
// operations), writer_import.cc (Import), append_rules.cc (expected
// revisions and the idempotency rule).
#ifndef ANNALS_ENGINE_WRITER_GROUP_H_
#define ANNALS_ENGINE_WRITER_GROUP_H_

#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "key_codec.h"
#include "rocksdb/write_batch.h"
#include "writer.h"

namespace annals::internal {

// The most stream heads kept in memory; past it the cache starts over (a miss
// costs one bloom-filtered point read).
constexpr size_t kMaxCachedHeads = 1 << 20;

using StreamRevisionKey = std::pair<uint64_t, uint64_t>;
using EventIdStreamKey = std::pair<EventId, uint64_t>;

// Writes staged by one request: merged into the group only if the whole
// request passes its checks.
struct Staged {
  absl::flat_hash_map<std::string, LoadedStream> heads;
  absl::flat_hash_map<StreamRevisionKey, std::pair<EventId, Position>> events;
  absl::flat_hash_map<EventIdStreamKey, EventIdValue> ids;

  void MergeInto(Staged& other) {
    for (auto& [k, v] : heads) other.heads[k] = v;
    for (auto& [k, v] : events) other.events[k] = v;
    for (auto& [k, v] : ids) other.ids[k] = v;
  }
};

// One group commit's WriteBatch and what it has staged so far.
struct Writer::GroupState {
  rocksdb::WriteBatch batch;
  Position next_position;
  ChainHash chain;
  uint64_t next_stream_id;
  bool stream_id_counter_dirty = false;
  int64_t recorded_at_us;
  Staged staged;   // requests of this group already accepted
  Staged request;  // the request being staged now
  storage::v1::StoredEvent scratch;
};

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_WRITER_GROUP_H_
