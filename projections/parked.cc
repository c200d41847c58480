// Parked events (OnFailure::kPark): parking an event (and every later one of
// its stream behind it), listing them, and releasing them again — retried
// in order or skipped, one shared routine.
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/projection.h"
#include "runner_internal.h"
#include "staged_writer.h"

namespace annals::projection_internal {
namespace {

using extension::ParkedEventKey;
using extension::ParkedEventKeyPrefix;

// The stored parked records of one version of `name`, by key, in key (so
// position) order.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanParked(
    const ReadSide& read_side, std::string_view name, uint32_t version) {
  const std::string prefix = ParkedEventKeyPrefix(name, version);
  return read_side.Scan(ReadSideFamily::kProjections, prefix, extension::PrefixEnd(prefix),
                        std::numeric_limits<size_t>::max());
}

// Takes the parked events of `stream` out of the park, in position order,
// in one commit. `reapply`: each is applied again first, and the first that
// still fails stays parked with every later one (its error is returned);
// the writes of those that succeed commit with their release.
absl::Status ReleaseParked(Projector& p, std::string_view stream, bool reapply) {
  // Listed under the lock: the projection cannot park more meanwhile.
  MutexLock apply(&p.apply_mu);
  absl::StatusOr<std::vector<ParkedEvent>> parked =
      ReadParked(p.store, *p.read_side, p.spec.name, p.spec.version);
  if (!parked.ok()) return parked.status();
  StagedWriter writer(*p.read_side, p.model_prefix);
  ReadSideBatch batch;
  uint64_t released = 0;
  absl::Status first_error;
  for (const ParkedEvent& entry : *parked) {
    if (entry.event.stream != stream) continue;
    if (reapply) {
      first_error = p.spec.apply(entry.event, writer);
      if (!first_error.ok()) {
        writer.Drop();  // order is kept: this one and every later one stay
        break;
      }
      writer.Keep();
    }
    batch.Delete(ReadSideFamily::kProjections,
                 ParkedEventKey(p.spec.name, p.spec.version, entry.event.position));
    ++released;
  }
  writer.MoveTo(batch);
  if (absl::Status s = p.read_side->Commit(batch); !s.ok()) return s;
  if (first_error.ok()) p.parked_streams.erase(std::string(stream));
  MutexLock lock(&p.mu);
  p.parked -= released;
  return first_error;
}

}  // namespace

void Park(Projector& p, const EventRecord& event, const std::string& why, ReadSideBatch& batch) {
  storage::v1::ParkedRecord record;
  record.set_stream(event.stream);
  record.set_error(why);
  record.set_parked_at_us(absl::ToUnixMicros(absl::Now()));
  batch.Put(ReadSideFamily::kProjections,
            ParkedEventKey(p.spec.name, p.spec.version, event.position),
            record.SerializeAsString());
  p.parked_streams.insert(event.stream);
  MutexLock lock(&p.mu);
  ++p.parked;
}

absl::StatusOr<std::vector<ParkedEvent>> ReadParked(EventStore& store, const ReadSide& read_side,
                                                    std::string_view name, uint32_t version) {
  auto rows = ScanParked(read_side, name, version);
  if (!rows.ok()) return rows.status();
  std::vector<ParkedEvent> parked;
  for (const auto& [key, value] : *rows) {
    storage::v1::ParkedRecord record;
    const std::optional<Position> position = extension::ParseParkedEventKey(key);
    if (!position || !record.ParseFromString(value))
      return absl::DataLossError("parked record is malformed");
    auto event = store.ReadAll({.from = *position, .max_count = 1});
    if (!event.ok()) return event.status();
    if (!(*event)->Valid() || (*event)->record().position != *position) continue;  // scavenged
    parked.push_back({(*event)->record(), record.error()});
  }
  return parked;
}

absl::StatusOr<uint64_t> LoadParkedStreams(Projector& p) {
  MutexLock lock(&p.apply_mu);
  p.parked_streams.clear();
  auto rows = ScanParked(*p.read_side, p.spec.name, p.spec.version);
  if (!rows.ok()) return rows.status();
  for (const auto& [key, value] : *rows) {
    storage::v1::ParkedRecord record;
    if (!record.ParseFromString(value)) return absl::DataLossError("parked record is malformed");
    p.parked_streams.insert(record.stream());
  }
  return rows->size();
}

}  // namespace annals::projection_internal

namespace annals {

absl::StatusOr<std::vector<ParkedEvent>> ProjectionRunner::Parked(std::string_view name) const {
  absl::StatusOr<projection_internal::Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  return projection_internal::ReadParked((*p)->store, *(*p)->read_side, (*p)->spec.name,
                                         (*p)->spec.version);
}

absl::StatusOr<std::vector<ParkedEvent>> ProjectionRunner::StoredParked(EventStore& store,
                                                                        std::string_view name) {
  absl::StatusOr<std::unique_ptr<extension::ReadSide>> read_side = extension::ReadSide::Of(store);
  if (!read_side.ok()) return read_side.status();
  auto names = projection_internal::StoredServingVersions(**read_side);
  if (!names.ok()) return names.status();
  for (const auto& [stored_name, version] : *names) {
    if (stored_name == name)
      return projection_internal::ReadParked(store, **read_side, stored_name, version);
  }
  return absl::NotFoundError(absl::StrCat("no projection '", std::string(name), "' in this store"));
}

absl::Status ProjectionRunner::RetryParked(std::string_view name, std::string_view stream) {
  absl::StatusOr<projection_internal::Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  return projection_internal::ReleaseParked(**p, stream, /*reapply=*/true);
}

absl::Status ProjectionRunner::SkipParked(std::string_view name, std::string_view stream) {
  absl::StatusOr<projection_internal::Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  return projection_internal::ReleaseParked(**p, stream, /*reapply=*/false);
}

}  // namespace annals
