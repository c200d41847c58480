#include "verify.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "event_codec.h"
#include "hash_chain.h"
#include "indexes.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "status_util.h"

namespace annals::internal {
namespace {

// Records the first problem only; later ones are counted by the caller.
void Problem(VerifyReport* report, uint64_t position, std::string what) {
  if (report->first_bad_position || !report->problem.empty()) return;
  if (position > 0) report->first_bad_position = Position(position);
  report->problem = std::move(what);
}

std::string IndexName(Cf cf) { return std::string(CfName(cf)); }

// The name an event files under in index `cf`.
std::string_view IndexedName(Cf cf, const EventRecord& event) {
  switch (cf) {
    case Cf::kByCategory:
      return CategoryOf(event.stream);
    case Cf::kByType:
      return event.type;
    case Cf::kByCorrelation:
      return event.correlation_id;
    default:
      return event.causation_id;
  }
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyStorage(Storage& storage, Position head) {
  VerifyReport report;
  rocksdb::DB* db = storage.db();
  const std::string upper = LogKey(head.Next());
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions bounded;
  bounded.iterate_upper_bound = &upper_slice;

  // 1. The log: chain, decoding, stream copies, index entries present.
  std::unique_ptr<rocksdb::Iterator> log(db->NewIterator(bounded, storage.cf(Cf::kLog)));
  ChainHash previous = kGenesisChainHash;
  uint64_t previous_position = 0;
  EventRecord event;
  std::string value;
  for (log->SeekToFirst(); log->Valid(); log->Next()) {
    const std::optional<Position> key = ParseLogKey(log->key().ToStringView());
    const std::string_view bytes = log->value().ToStringView();
    const uint64_t position = key ? key->value() : 0;
    ++report.events_checked;
    if (!key) {
      Problem(&report, previous_position + 1, "malformed log key");
      break;
    }
    const std::optional<SplitValue> split = SplitStoredValue(bytes);
    if (!split || !DecodeStoredEvent(bytes, &event).ok() || event.position != *key) {
      Problem(&report, position, "the stored event does not decode (or holds another position)");
      break;
    }
    if (position == previous_position + 1) {
      if (ComputeChainHash(previous, split->hashed_bytes) != split->stored_hash) {
        Problem(&report, position, "chain hash mismatch: the event or its predecessor was altered");
        break;
      }
    } else {
      // Scavenged events: the chain restarts after the gap, unverifiable at
      // its first event.
      report.gaps += position - previous_position - 1;
    }
    previous = split->stored_hash;
    previous_position = position;

    // The stream's own copy must be the same bytes (the stream id is in the
    // value, not in the decoded record).
    storage::v1::StoredEvent ids;
    if (!ids.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      Problem(&report, position, "the stored event does not parse");
      break;
    }
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), storage.cf(Cf::kStreamEvents),
                                StreamEventKey(ids.stream_id(), event.revision), &value);
    if (!s.ok() && !s.IsNotFound()) return FromRocksDb(s, "verify stream copy");
    if (s.IsNotFound() || value != bytes) {
      Problem(&report, position,
              absl::StrCat("the copy in stream '", event.stream, "' at revision ",
                           event.revision.value(), s.IsNotFound() ? " is missing" : " differs"));
      break;
    }
    bool missing = false;
    ForEachIndexKey(event.stream, event.type, event.correlation_id, event.causation_id,
                    event.position, [&](Cf cf, const std::string& index_key) {
                      if (missing) return;
                      ++report.index_entries_checked;
                      std::string empty;
                      rocksdb::Status got = db->Get(rocksdb::ReadOptions(), storage.cf(cf), index_key, &empty);
                      if (!got.ok()) {
                        missing = true;
                        Problem(&report, position, absl::StrCat("its ", IndexName(cf), " entry is missing"));
                      }
                    });
    if (missing) break;
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(log->status(), "verify log"));
  if (!report.ok()) return report;

  auto event_at = [&](uint64_t position, EventRecord* out) -> absl::StatusOr<bool> {
    if (position > head.value()) return false;  // committed after the head we verify
    std::string bytes;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), storage.cf(Cf::kLog), LogKey(Position(position)), &bytes);
    if (s.IsNotFound()) return false;
    ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "verify lookup"));
    ANNALS_RETURN_IF_ERROR(DecodeStoredEvent(bytes, out));
    return true;
  };

  // 2. Every index entry points to a log event filed under that name.
  for (Cf cf : {Cf::kByCategory, Cf::kByType, Cf::kByCorrelation, Cf::kByCausation}) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), storage.cf(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      const std::optional<Position> position = ParseIndexKeyPosition(key);
      if (!position) {
        Problem(&report, 0, absl::StrCat("malformed ", IndexName(cf), " key"));
        return report;
      }
      if (position->value() > head.value()) continue;
      ++report.index_entries_checked;
      absl::StatusOr<bool> found = event_at(position->value(), &event);
      if (!found.ok()) return found.status();
      const std::string_view name = key.substr(0, key.size() - 9);
      if (!*found || IndexedName(cf, event) != name) {
        Problem(&report, position->value(),
                absl::StrCat(IndexName(cf), " entry '", std::string(name), "' points to ",
                             *found ? "an event filed under another name" : "no event"));
        return report;
      }
    }
    ANNALS_RETURN_IF_ERROR(FromRocksDb(it->status(), "verify index"));
  }

  // 3. Every stream copy and event-id entry has its log event.
  std::unique_ptr<rocksdb::Iterator> copies(
      db->NewIterator(rocksdb::ReadOptions(), storage.cf(Cf::kStreamEvents)));
  for (copies->SeekToFirst(); copies->Valid(); copies->Next()) {
    if (!DecodeStoredEvent(copies->value().ToStringView(), &event).ok()) {
      Problem(&report, 0, "a stream copy does not decode");
      return report;
    }
    if (event.position.value() > head.value()) continue;
    absl::StatusOr<bool> found = event_at(event.position.value(), &event);
    if (!found.ok()) return found.status();
    if (!*found) {
      Problem(&report, event.position.value(), "a stream copy has no event in the log");
      return report;
    }
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(copies->status(), "verify stream copies"));
  std::unique_ptr<rocksdb::Iterator> ids(db->NewIterator(rocksdb::ReadOptions(), storage.cf(Cf::kEventIds)));
  for (ids->SeekToFirst(); ids->Valid(); ids->Next()) {
    const std::optional<EventIdValue> entry = DecodeEventIdValue(ids->value().ToStringView());
    const std::string_view key = ids->key().ToStringView();
    if (!entry || key.size() != kEventIdKeySize) {
      Problem(&report, 0, "malformed event id entry");
      return report;
    }
    if (entry->position.value() > head.value()) continue;
    ++report.index_entries_checked;
    absl::StatusOr<bool> found = event_at(entry->position.value(), &event);
    if (!found.ok()) return found.status();
    if (!*found || event.event_id.AsBytes() != key.substr(0, 16)) {
      Problem(&report, entry->position.value(), "an event id entry points to another event");
      return report;
    }
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(ids->status(), "verify event ids"));
  return report;
}

}  // namespace annals::internal
