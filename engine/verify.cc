#include "verify.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "annals/storage/v1/checkpoint.pb.h"
#include "annals/storage/v1/meta.pb.h"
#include "annals/storage/v1/projection.pb.h"
#include "annals/storage/v1/snapshot.pb.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "event_codec.h"
#include "google/protobuf/descriptor.pb.h"
#include "hash_chain.h"
#include "indexes.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "status_util.h"
#include "stream_heads.h"

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

std::string HashString(const ChainHash& hash) {
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// 0. Every table file of every column family: each block against its
// checksum, and the whole file against the checksum recorded when it was
// written (files written before file checksums were on have none).
absl::Status VerifyTables(Storage& storage, VerifyReport* report) {
  rocksdb::DB* db = storage.db();
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& file : files) {
    ++report->files_checked;
    report->file_bytes_checked += file.size;
  }
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;
  rocksdb::Status s = db->VerifyChecksum(read_options);
  if (s.ok()) s = db->VerifyFileChecksums(read_options);
  if (s.IsCorruption() || s.IsIOError()) {
    Problem(report, 0, absl::StrCat("a table file is damaged: ", s.ToString()));
    return absl::OkStatus();
  }
  return FromRocksDb(s, "verify table files");
}

// 1. The log: chain (across gaps through their bridges), decoding, stream
// copies, index entries present.
absl::Status VerifyLog(Storage& storage, Position head, const VerifyOptions& options,
                       VerifyReport* report) {
  rocksdb::DB* db = storage.db();
  const std::string upper = LogKey(head.Next());
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions bounded;
  bounded.iterate_upper_bound = &upper_slice;
  bounded.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> log(db->NewIterator(bounded, storage.cf(Cf::kLog)));
  ChainHash previous = kGenesisChainHash;
  uint64_t previous_position = 0;
  // The chain is proven from position 1 up to here (no unbridged gap).
  bool proven = true;
  EventRecord event;
  std::string value;
  for (log->SeekToFirst(); log->Valid(); log->Next()) {
    const std::optional<Position> key = ParseLogKey(log->key().ToStringView());
    const std::string_view bytes = log->value().ToStringView();
    const uint64_t position = key ? key->value() : 0;
    ++report->events_checked;
    if (!key) {
      Problem(report, previous_position + 1, "malformed log key");
      return absl::OkStatus();
    }
    const std::optional<SplitValue> split = SplitStoredValue(bytes);
    if (!split || !DecodeStoredEvent(bytes, &event).ok() || event.position != *key) {
      Problem(report, position, "the stored event does not decode (or holds another position)");
      return absl::OkStatus();
    }
    bool chained = ComputeChainHash(previous, split->hashed_bytes) == split->stored_hash;
    if (position != previous_position + 1) {
      report->gaps += position - previous_position - 1;
      // An import chains straight over a source's gap; Scavenge records the
      // removed event's hash (the bridge) the next event was chained from.
      if (!chained) {
        std::string bridge;
        rocksdb::Status s = db->Get(rocksdb::ReadOptions(), storage.cf(Cf::kMeta),
                                    ChainBridgeKey(*key), &bridge);
        if (!s.ok() && !s.IsNotFound()) return FromRocksDb(s, "verify chain bridge");
        if (s.ok()) {
          const std::optional<ChainBridge> bridged = DecodeChainBridge(bridge);
          if (!bridged) {
            Problem(report, position, "the chain bridge before this event is malformed");
            return absl::OkStatus();
          }
          chained = ComputeChainHash(bridged->hash, split->hashed_bytes) == split->stored_hash;
        } else {
          // Scavenged before bridges were recorded: the chain restarts here,
          // unverifiable at this event.
          ++report->unbridged_gaps;
          proven = false;
          chained = true;
        }
      }
    }
    if (!chained) {
      Problem(report, position, "chain hash mismatch: the event or its predecessor was altered");
      return absl::OkStatus();
    }
    previous = split->stored_hash;
    previous_position = position;
    if (options.expect_head && options.expect_head->position == *key) {
      if (!proven) {
        Problem(report, position,
                "cannot prove the expected head: the chain before it has a gap without a bridge "
                "(scavenged by an older annals)");
        return absl::OkStatus();
      }
      if (options.expect_head->hash != HashString(split->stored_hash)) {
        Problem(report, position,
                "the chain hash at the expected head differs: an event at or before it was changed");
        return absl::OkStatus();
      }
      report->expected_head_matched = true;
    }

    // The stream's own copy must be the same bytes (the stream id is in the
    // value, not in the decoded record).
    storage::v1::StoredEvent ids;
    if (!ids.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      Problem(report, position, "the stored event does not parse");
      return absl::OkStatus();
    }
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), storage.cf(Cf::kStreamEvents),
                                StreamEventKey(ids.stream_id(), event.revision), &value);
    if (!s.ok() && !s.IsNotFound()) return FromRocksDb(s, "verify stream copy");
    if (s.IsNotFound() || value != bytes) {
      Problem(report, position,
              absl::StrCat("the copy in stream '", event.stream, "' at revision ",
                           event.revision.value(), s.IsNotFound() ? " is missing" : " differs"));
      return absl::OkStatus();
    }
    bool missing = false;
    ForEachIndexKey(event.stream, event.type, event.correlation_id, event.causation_id,
                    event.position, [&](Cf cf, const std::string& index_key) {
                      if (missing) return;
                      ++report->index_entries_checked;
                      std::string empty;
                      rocksdb::Status got = db->Get(rocksdb::ReadOptions(), storage.cf(cf), index_key, &empty);
                      if (!got.ok()) {
                        missing = true;
                        Problem(report, position, absl::StrCat("its ", IndexName(cf), " entry is missing"));
                      }
                    });
    if (missing) return absl::OkStatus();
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(log->status(), "verify log"));
  report->entries_checked["log"] = report->events_checked;
  report->head = ChainHead{Position(previous_position), HashString(previous)};
  if (options.expect_head && !report->expected_head_matched) {
    Problem(report, options.expect_head->position.value(),
            options.expect_head->position.value() > previous_position
                ? "the expected head is past the log's last event: events were lost"
                : "the expected head's event is no longer in the log");
  }
  return absl::OkStatus();
}

// Walks one column family, calling `check(key, value)` for each entry;
// stops at the first problem `check` reports. Counts what it read.
absl::Status ForEachEntry(Storage& storage, Cf cf, VerifyReport* report,
                          const std::function<bool(std::string_view, std::string_view)>& check) {
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(storage.db()->NewIterator(read_options, storage.cf(cf)));
  uint64_t& count = report->entries_checked[std::string(CfName(cf))];
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++count;
    if (!check(it->key().ToStringView(), it->value().ToStringView())) return absl::OkStatus();
  }
  return FromRocksDb(it->status(), absl::StrCat("verify ", std::string(CfName(cf))));
}

template <typename Message>
bool Parses(std::string_view value) {
  Message message;
  return message.ParseFromArray(value.data(), static_cast<int>(value.size()));
}

// 4. The families that hold no events: each value decodes.
absl::Status VerifyOtherFamilies(Storage& storage, Position head, VerifyReport* report) {
  auto bad = [&](Cf cf, std::string_view key, std::string what) {
    Problem(report, 0, absl::StrCat(std::string(CfName(cf)), " entry '", absl::CHexEscape(std::string(key)), "' ", what));
    return false;
  };
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kStreams, report, [&](std::string_view key, std::string_view value) {
    return StreamRecord::Decode(value) ? true : bad(Cf::kStreams, key, "does not decode");
  }));
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kByTime, report, [&](std::string_view key, std::string_view value) {
    if (!ParseTimeKey(key) || value.size() != 8) return bad(Cf::kByTime, key, "is malformed");
    return true;
  }));
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kSnapshots, report, [&](std::string_view key, std::string_view value) {
    if (!ParseStreamEventKey(key) || !Parses<storage::v1::StoredSnapshot>(value)) {
      return bad(Cf::kSnapshots, key, "does not decode");
    }
    return true;
  }));
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kCheckpoints, report, [&](std::string_view key, std::string_view value) {
    return Parses<storage::v1::SubscriberCheckpoint>(value) ? true : bad(Cf::kCheckpoints, key, "does not decode");
  }));
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kProjections, report, [&](std::string_view key, std::string_view value) {
    const bool ok = key.starts_with(std::string_view("c\0", 2))   ? Parses<storage::v1::ProjectionCheckpoint>(value)
                    : key.starts_with(std::string_view("p\0", 2)) ? Parses<storage::v1::ParkedRecord>(value)
                    : key.starts_with(std::string_view("s\0", 2)) ? Parses<storage::v1::ServingVersion>(value)
                                                                  : false;
    return ok ? true : bad(Cf::kProjections, key, "does not decode");
  }));
  // Read models are the projections' own bytes: their blocks' checksums
  // (above) are what can be checked.
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kReadModels, report, [](std::string_view, std::string_view) { return true; }));
  ANNALS_RETURN_IF_ERROR(ForEachEntry(storage, Cf::kMeta, report, [&](std::string_view key, std::string_view value) {
    bool ok = true;
    if (key == kMetaFormatKey) {
      ok = Parses<storage::v1::FormatInfo>(value);
    } else if (key == kMetaNextStreamIdKey) {
      ok = Parses<storage::v1::StreamIdCounter>(value);
    } else if (key.starts_with(kMetaChainBridgePrefix)) {
      ok = ParseChainBridgeKey(key).has_value() && DecodeChainBridge(value).has_value();
    } else if (key.starts_with("schema/file/")) {
      ok = Parses<google::protobuf::FileDescriptorProto>(value);
    }
    return ok ? true : bad(Cf::kMeta, key, "does not decode");
  }));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyStorage(Storage& storage, Position head, const VerifyOptions& options) {
  VerifyReport report;
  rocksdb::DB* db = storage.db();
  ANNALS_RETURN_IF_ERROR(VerifyTables(storage, &report));
  if (!report.ok()) return report;
  ANNALS_RETURN_IF_ERROR(VerifyLog(storage, head, options, &report));
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
  EventRecord event;
  rocksdb::ReadOptions scan;
  scan.fill_cache = false;

  // 2. Every index entry points to a log event filed under that name.
  for (Cf cf : {Cf::kByCategory, Cf::kByType, Cf::kByCorrelation, Cf::kByCausation}) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan, storage.cf(cf)));
    uint64_t& count = report.entries_checked[IndexName(cf)];
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      const std::string_view key = it->key().ToStringView();
      const std::optional<Position> position = ParseIndexKeyPosition(key);
      if (!position) {
        Problem(&report, 0, absl::StrCat("malformed ", IndexName(cf), " key"));
        return report;
      }
      if (position->value() > head.value()) continue;
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
  std::unique_ptr<rocksdb::Iterator> copies(db->NewIterator(scan, storage.cf(Cf::kStreamEvents)));
  uint64_t& copies_count = report.entries_checked["stream_events"];
  for (copies->SeekToFirst(); copies->Valid(); copies->Next()) {
    ++copies_count;
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
  std::unique_ptr<rocksdb::Iterator> ids(db->NewIterator(scan, storage.cf(Cf::kEventIds)));
  uint64_t& ids_count = report.entries_checked["event_ids"];
  for (ids->SeekToFirst(); ids->Valid(); ids->Next()) {
    ++ids_count;
    const std::optional<EventIdValue> entry = DecodeEventIdValue(ids->value().ToStringView());
    const std::string_view key = ids->key().ToStringView();
    if (!entry || key.size() != kEventIdKeySize) {
      Problem(&report, 0, "malformed event id entry");
      return report;
    }
    if (entry->position.value() > head.value()) continue;
    absl::StatusOr<bool> found = event_at(entry->position.value(), &event);
    if (!found.ok()) return found.status();
    if (!*found || event.event_id.AsBytes() != key.substr(0, 16)) {
      Problem(&report, entry->position.value(), "an event id entry points to another event");
      return report;
    }
  }
  ANNALS_RETURN_IF_ERROR(FromRocksDb(ids->status(), "verify event ids"));

  ANNALS_RETURN_IF_ERROR(VerifyOtherFamilies(storage, head, &report));
  return report;
}

}  // namespace annals::internal
