#include "verify.h"

#include <functional>
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
#include "chain_store.h"
#include "event_codec.h"
#include "google/protobuf/descriptor.pb.h"
#include "hash_chain.h"
#include "indexes.h"
#include "key_codec.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "status_util.h"
#include "stream_records.h"
#include "validation.h"

namespace annals::internal {
namespace {

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

template <typename Message>
bool Parses(std::string_view value) {
  Message message;
  return message.ParseFromArray(value.data(), static_cast<int>(value.size()));
}

// Progress is reported every so many events or entries (a power of two).
constexpr uint64_t kProgressEvery = 1024;

// One run of Verify over one RocksDB snapshot: what a concurrent append or
// Scavenge changes meanwhile cannot make it report a problem that is none.
// (A read-only store's secondary instance has no snapshots; its view moves
// only on Refresh.)
class Verifier {
 public:
  Verifier(Storage& storage, Position head, const VerifyOptions& options)
      : storage_(storage),
        db_(storage.db()),
        head_(head),
        options_(options),
        snapshot_(storage.read_only() ? nullptr : db_->GetSnapshot()) {
    read_.snapshot = snapshot_;
    scan_.snapshot = snapshot_;
    scan_.fill_cache = false;  // a full scan would evict the application's working set
  }
  ~Verifier() {
    if (snapshot_ != nullptr) db_->ReleaseSnapshot(snapshot_);
  }
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  absl::StatusOr<VerifyReport> Run() {
    for (const auto& step :
         {&Verifier::Tables, &Verifier::Log, &Verifier::Indexes, &Verifier::StreamCopies,
          &Verifier::EventIds, &Verifier::OtherFamilies}) {
      ANNALS_RETURN_IF_ERROR((this->*step)());
      if (!report_.ok()) break;
    }
    if (entries_walked_) Progress("entries", entries_, 0);
    return std::move(report_);
  }

 private:
  // Reports progress, if asked to (VerifyOptions::progress).
  void Progress(std::string_view step, uint64_t done, uint64_t total) const {
    if (options_.progress) options_.progress(step, done, total);
  }

  // Records the first problem only.
  void Problem(uint64_t position, std::string what) {
    if (!report_.ok()) return;
    if (position > 0) report_.first_bad_position = Position(position);
    report_.problem = std::move(what);
  }

  // 0. Every table file of every column family: each block against its
  // checksum, and the whole file against the checksum recorded when it was
  // written (files written before file checksums were on have none).
  absl::Status Tables() {
    std::vector<rocksdb::LiveFileMetaData> files;
    db_->GetLiveFilesMetaData(&files);
    for (const rocksdb::LiveFileMetaData& file : files) {
      ++report_.files_checked;
      report_.file_bytes_checked += file.size;
    }
    rocksdb::Status s = db_->VerifyChecksum(scan_);
    if (s.ok()) s = db_->VerifyFileChecksums(scan_);
    if (s.IsCorruption() || s.IsIOError()) {
      Problem(0, absl::StrCat("a table file is damaged: ", s.ToString()));
      return absl::OkStatus();
    }
    return FromRocksDb(s, "verify table files");
  }

  // Checks the expected head at `position`, whose chain hash is `hash`.
  void ExpectHead(Position position, const ChainHash& hash) {
    if (!options_.expect_head || options_.expect_head->position != position) return;
    if (!proven_) {
      Problem(
          position.value(),
          "cannot prove the expected head: the chain before it has a gap whose removed events were "
          "not kept (scavenged by an older annals)");
    } else if (options_.expect_head->hash != HashString(hash)) {
      Problem(position.value(),
              "the chain hash at the expected head differs: an event at or before it was changed");
    } else {
      report_.expected_head_matched = true;
    }
  }

  // Carries the chain over the removed events in (previous_, before).
  // Returns whether the chain reached `before - 1` through them.
  absl::StatusOr<bool> CarryOverGap(Position before) {
    Carried carried;
    ANNALS_ASSIGN_OR_RETURN(
        carried,
        CarryOverRemoved(storage_, read_, previous_hash_, previous_, before,
                         [&](Position at, const ChainHash& hash) { ExpectHead(at, hash); }));
    report_.gaps += before.value() - previous_.value() - 1;
    if (!carried.complete) return false;
    proven_ &= carried.proven;
    previous_hash_ = carried.hash;
    return true;
  }

  // Checks the chain hash of the event at `position`.
  absl::Status Chain(Position position, const SplitValue& split) {
    // Straight from the previous event: no gap, or an import that chained
    // over its source's gap.
    bool chained = ChainHashAt(previous_hash_, split.hashed_bytes, position, digest_from_) ==
                   split.stored_hash;
    if (position != previous_.Next() && !chained) {
      // Across the events Scavenge removed, through what it kept of them.
      absl::StatusOr<bool> carried = CarryOverGap(position);
      if (!carried.ok()) return carried.status();
      if (*carried) {
        chained = ChainHashAt(previous_hash_, split.hashed_bytes, position, digest_from_) ==
                  split.stored_hash;
      } else {
        // Removed by an older annals, which kept nothing: the chain restarts
        // here, unverifiable at this event.
        ++report_.unbridged_gaps;
        proven_ = false;
        chained = true;
      }
    } else if (position != previous_.Next()) {
      report_.gaps += position.value() - previous_.value() - 1;
    }
    if (!chained)
      Problem(position.value(), "chain hash mismatch: the event or its predecessor was altered");
    previous_ = position;
    previous_hash_ = split.stored_hash;
    ExpectHead(position, previous_hash_);
    return absl::OkStatus();
  }

  // The event's stream copy is the same bytes, its index entries exist.
  absl::Status Copies(Position position, std::string_view bytes, const EventRecord& event) {
    storage::v1::StoredEvent ids;
    if (!ids.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      Problem(position.value(), "the stored event does not parse");
      return absl::OkStatus();
    }
    std::string value;
    rocksdb::Status s = db_->Get(read_, storage_.cf(Cf::kStreamEvents),
                                 StreamEventKey(ids.stream_id(), event.revision), &value);
    if (!s.ok() && !s.IsNotFound()) return FromRocksDb(s, "verify stream copy");
    if (s.IsNotFound() || value != bytes) {
      Problem(position.value(),
              absl::StrCat("the copy in stream '", event.stream, "' at revision ",
                           event.revision.value(), s.IsNotFound() ? " is missing" : " differs"));
      return absl::OkStatus();
    }
    absl::Status looked_up = absl::OkStatus();
    ForEachIndexKey(event.stream, event.type, event.correlation_id, event.causation_id,
                    event.position, [&](Cf cf, const std::string& index_key) {
                      if (!report_.ok() || !looked_up.ok()) return;
                      ++report_.index_entries_checked;
                      std::string empty;
                      rocksdb::Status got = db_->Get(read_, storage_.cf(cf), index_key, &empty);
                      if (got.IsNotFound()) {
                        Problem(position.value(),
                                absl::StrCat("its ", IndexName(cf), " entry is missing"));
                      } else if (!got.ok()) {
                        looked_up = FromRocksDb(got, "verify index entry");
                      }
                    });
    return looked_up;
  }

  // 1. The log, in position order: decoding, chain, copies, index entries.
  absl::Status Log() {
    ANNALS_ASSIGN_OR_RETURN(digest_from_, ReadDigestFrom(storage_, read_));
    BoundedIterator log(storage_, Cf::kLog, "", LogKey(head_.Next()), scan_);
    EventRecord event;
    for (log->SeekToFirst(); log->Valid() && report_.ok(); log->Next()) {
      if ((++report_.events_checked & (kProgressEvery - 1)) == 0) {
        Progress("log", previous_.value(), head_.value());
      }
      const std::optional<Position> key = ParseLogKey(log->key().ToStringView());
      const std::string_view bytes = log->value().ToStringView();
      if (!key) {
        Problem(previous_.value() + 1, "malformed log key");
        break;
      }
      const std::optional<SplitValue> split = SplitStoredValue(bytes);
      if (!split || !DecodeStoredEvent(bytes, &event).ok() || event.position != *key) {
        Problem(key->value(), "the stored event does not decode (or holds another position)");
        break;
      }
      ANNALS_RETURN_IF_ERROR(Chain(*key, *split));
      if (report_.ok()) ANNALS_RETURN_IF_ERROR(Copies(*key, bytes, event));
    }
    ANNALS_RETURN_IF_ERROR(FromRocksDb(log->status(), "verify log"));
    Progress("log", report_.ok() ? head_.value() : previous_.value(), head_.value());
    if (!report_.ok()) return absl::OkStatus();
    report_.entries_checked["log"] = report_.events_checked;
    // Events removed after the log's last one still carry the chain to the head.
    if (previous_ < head_) {
      absl::StatusOr<bool> carried = CarryOverGap(head_.Next());
      if (!carried.ok()) return carried.status();
      if (*carried) previous_ = head_;
    }
    report_.head = ChainHead{previous_, HashString(previous_hash_)};
    ANNALS_RETURN_IF_ERROR(CountLost());
    if (options_.expect_head && !report_.expected_head_matched && report_.ok()) {
      const Position expected = options_.expect_head->position;
      if (expected.value() == 0 && options_.expect_head->hash == HashString(kGenesisChainHash)) {
        report_.expected_head_matched = true;  // the empty log's head
      } else {
        Problem(
            expected.value(),
            expected > previous_
                ? "the expected head is past the log's last event: events were lost"
                : "the expected head's event is no longer in the log, and nothing of it was kept");
      }
    }
    return absl::OkStatus();
  }

  // Positions lost in a repair (meta `chain/lost/`).
  absl::Status CountLost() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_, storage_.cf(Cf::kMeta)));
    for (it->Seek(kMetaLostPrefix); it->Valid() && it->key().starts_with(kMetaLostPrefix);
         it->Next()) {
      const std::optional<Position> first = ParseLostRangeKey(it->key().ToStringView());
      if (!first || it->value().size() != 8) continue;  // reported by OtherFamilies
      report_.lost += ReadBigEndian64(it->value().ToStringView()) - first->value() + 1;
    }
    return FromRocksDb(it->status(), "read lost ranges");
  }

  // The event at `position` if the log has it (at or below the head).
  absl::StatusOr<bool> EventAt(uint64_t position, EventRecord* out) {
    if (position > head_.value()) return false;  // committed after the head we verify
    std::string bytes;
    rocksdb::Status s = db_->Get(read_, storage_.cf(Cf::kLog), LogKey(Position(position)), &bytes);
    if (s.IsNotFound()) return false;
    ANNALS_RETURN_IF_ERROR(FromRocksDb(s, "verify lookup"));
    ANNALS_RETURN_IF_ERROR(DecodeStoredEvent(bytes, out));
    return true;
  }

  // Walks one column family, calling `check(key, value)` for each entry
  // until it reports a problem (false). Counts what it read.
  absl::Status ForEachEntry(
      Cf cf, const std::function<absl::StatusOr<bool>(std::string_view, std::string_view)>& check) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(scan_, storage_.cf(cf)));
    uint64_t& count = report_.entries_checked[std::string(CfName(cf))];
    entries_walked_ = true;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      if ((++entries_ & (kProgressEvery - 1)) == 0) Progress("entries", entries_, 0);
      absl::StatusOr<bool> ok = check(it->key().ToStringView(), it->value().ToStringView());
      if (!ok.ok()) return ok.status();
      if (!*ok) return absl::OkStatus();
    }
    return FromRocksDb(it->status(), absl::StrCat("verify ", std::string(CfName(cf))));
  }

  // 2. Every index entry points to a log event filed under that name.
  absl::Status Indexes() {
    EventRecord event;
    for (Cf cf : {Cf::kByCategory, Cf::kByType, Cf::kByCorrelation, Cf::kByCausation}) {
      ANNALS_RETURN_IF_ERROR(
          ForEachEntry(cf, [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
            const std::optional<Position> position = ParseIndexKeyPosition(key);
            if (!position) {
              Problem(0, absl::StrCat("malformed ", IndexName(cf), " key"));
              return false;
            }
            if (position->value() > head_.value()) return true;
            ANNALS_ASSIGN_OR_RETURN(bool found, EventAt(position->value(), &event));
            const std::string_view name = key.substr(0, key.size() - 9);
            if (!found || IndexedName(cf, event) != name) {
              Problem(position->value(),
                      absl::StrCat(IndexName(cf), " entry '", std::string(name), "' points to ",
                                   found ? "an event filed under another name" : "no event"));
              return false;
            }
            return true;
          }));
      if (!report_.ok()) break;
    }
    return absl::OkStatus();
  }

  // 3a. Every stream copy has its log event.
  absl::Status StreamCopies() {
    EventRecord event, logged;
    return ForEachEntry(
        Cf::kStreamEvents, [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
          if (!DecodeStoredEvent(value, &event).ok()) {
            Problem(0, "a stream copy does not decode");
            return false;
          }
          if (event.position.value() > head_.value()) return true;
          ANNALS_ASSIGN_OR_RETURN(bool found, EventAt(event.position.value(), &logged));
          if (!found) Problem(event.position.value(), "a stream copy has no event in the log");
          return found;
        });
  }

  // 3b. Every event-id entry points to the event with that id.
  absl::Status EventIds() {
    EventRecord event;
    return ForEachEntry(
        Cf::kEventIds, [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
          const std::optional<EventIdValue> entry = DecodeEventIdValue(value);
          if (!entry || key.size() != kEventIdKeySize) {
            Problem(0, "malformed event id entry");
            return false;
          }
          if (entry->position.value() > head_.value()) return true;
          ANNALS_ASSIGN_OR_RETURN(bool found, EventAt(entry->position.value(), &event));
          if (!found || event.event_id.AsBytes() != key.substr(0, 16)) {
            Problem(entry->position.value(), "an event id entry points to another event");
            return false;
          }
          return true;
        });
  }

  // 4. The families that hold no events: each value decodes.
  absl::Status OtherFamilies() {
    auto decodes = [&](Cf cf, std::string_view key, bool ok) {
      if (!ok)
        Problem(0, absl::StrCat(std::string(CfName(cf)), " entry '",
                                absl::CHexEscape(std::string(key)), "' does not decode"));
      return ok;
    };
    const std::vector<std::pair<Cf, std::function<bool(std::string_view, std::string_view)>>>
        checks = {
            {Cf::kStreams,
             [](std::string_view, std::string_view v) {
               // Its custom metadata as SetStreamMetadata accepts it, too.
               const std::optional<StreamRecord> record = StreamRecord::Decode(v);
               return record && ValidateCustomMetadataJson(record->custom_json).ok();
             }},
            {Cf::kByTime, [](std::string_view k,
                             std::string_view v) { return ParseTimeKey(k) && v.size() == 8; }},
            {Cf::kSnapshots,
             [](std::string_view k, std::string_view v) {
               return ParseStreamEventKey(k) && Parses<storage::v1::StoredSnapshot>(v);
             }},
            {Cf::kCheckpoints,
             [](std::string_view, std::string_view v) {
               return Parses<storage::v1::SubscriberCheckpoint>(v);
             }},
            {Cf::kProjections,
             [](std::string_view k, std::string_view v) {
               using extension::ProjectionKeyKind;
               const std::optional<ProjectionKeyKind> kind = extension::ParseProjectionKeyKind(k);
               if (kind == ProjectionKeyKind::kCheckpoint)
                 return Parses<storage::v1::ProjectionCheckpoint>(v);
               if (kind == ProjectionKeyKind::kParked) return Parses<storage::v1::ParkedRecord>(v);
               if (kind == ProjectionKeyKind::kServing)
                 return Parses<storage::v1::ServingVersion>(v);
               if (kind == ProjectionKeyKind::kConsumerGroup)
                 return extension::ParseConsumerGroupKey(k) &&
                        Parses<storage::v1::ConsumerGroupRecord>(v);
               if (kind == ProjectionKeyKind::kGroupParked)
                 return extension::ParseGroupParkedKey(k) &&
                        Parses<storage::v1::GroupParkedRecord>(v);
               return false;
             }},
            // Read models are the projections' own bytes: their blocks'
            // checksums (above) are what can be checked.
            {Cf::kReadModels, [](std::string_view, std::string_view) { return true; }},
            {Cf::kMeta,
             [](std::string_view k, std::string_view v) {
               if (k == kMetaFormatKey) return Parses<storage::v1::FormatInfo>(v);
               if (k == kMetaNextStreamIdKey) return Parses<storage::v1::StreamIdCounter>(v);
               if (k == kMetaChainDigestFromKey) return v.size() == 8;
               if (k.starts_with(kMetaRemovedPrefix))
                 return ParseRemovedEventKey(k) && DecodeRemovedEvent(v);
               if (k.starts_with(kMetaLostPrefix)) return ParseLostRangeKey(k) && v.size() == 8;
               if (k.starts_with("schema/file/"))
                 return Parses<google::protobuf::FileDescriptorProto>(v);
               return true;
             }},
        };
    for (const auto& [cf, check] : checks) {
      ANNALS_RETURN_IF_ERROR(
          ForEachEntry(cf,
                       [&, &cf = cf, &check = check](std::string_view k, std::string_view v)
                           -> absl::StatusOr<bool> { return decodes(cf, k, check(k, v)); }));
      if (!report_.ok()) break;
    }
    return absl::OkStatus();
  }

  Storage& storage_;
  rocksdb::DB* const db_;
  const Position head_;
  const VerifyOptions& options_;
  const rocksdb::Snapshot* const snapshot_;
  rocksdb::ReadOptions read_;
  rocksdb::ReadOptions scan_;
  VerifyReport report_;
  Position digest_from_;
  // The last position the chain reached and its hash; whether the chain is
  // proven from position 1 up to there.
  Position previous_;
  ChainHash previous_hash_ = kGenesisChainHash;
  bool proven_ = true;
  // Entries of the families after the log read so far, for progress.
  uint64_t entries_ = 0;
  bool entries_walked_ = false;
};

}  // namespace

absl::StatusOr<VerifyReport> VerifyStorage(Storage& storage, Position head,
                                           const VerifyOptions& options) {
  Verifier verifier(storage, head, options);
  return verifier.Run();
}

}  // namespace annals::internal
