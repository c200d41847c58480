// The catalog of projections a store holds: Register, the stored checkpoint
// and serving version of each, the switch to a rebuilt version, and
// ListStored (what a store holds without running anything).
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/projection.h"
#include "runner_internal.h"

namespace annals::projection_internal {
namespace {

using extension::ProjectionCheckpointKey;
using extension::ReadModelKeyPrefix;
using extension::ServingVersionKey;

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void PutServingVersion(ReadSideBatch& batch, std::string_view name, uint32_t version) {
  storage::v1::ServingVersion stored;
  stored.set_version(version);
  batch.Put(ReadSideFamily::kProjections, ServingVersionKey(name), stored.SerializeAsString());
}

// The status ListStored gives the serving `version` of `name`.
absl::StatusOr<ProjectionStatus> StoredStatus(EventStore& store, const ReadSide& read_side,
                                              const std::string& name, uint32_t version) {
  ProjectionStatus status;
  status.name = name;
  status.version = version;
  status.serving_version = version;
  status.state = ProjectionState::kStopped;
  absl::StatusOr<storage::v1::ProjectionCheckpoint> stored =
      ReadCheckpoint(read_side, name, version);
  if (!stored.ok()) return stored.status();
  const uint64_t head = store.head().value();
  status.checkpoint = Position(stored->position());
  if (stored->updated_at_us() != 0 && head > stored->position()) {
    // How far behind: the time of the first event not yet projected.
    auto next = store.ReadAll({.from = status.checkpoint.Next(), .max_count = 1});
    if (next.ok() && (*next)->Valid())
      status.time_behind = absl::Now() - (*next)->record().recorded_at;
  }
  status.lag = head > status.checkpoint.value() ? head - status.checkpoint.value() : 0;
  absl::StatusOr<std::vector<ParkedEvent>> parked = ReadParked(store, read_side, name, version);
  if (!parked.ok()) return parked.status();
  status.parked = parked->size();
  return status;
}

}  // namespace

Projector::Projector(EventStore& store, std::unique_ptr<ReadSide> read_side, ProjectionSpec spec,
                     bool inline_mode)
    : store(store),
      read_side(std::move(read_side)),
      spec(std::move(spec)),
      inline_mode(inline_mode),
      model_prefix(ReadModelKeyPrefix(this->spec.name, this->spec.version)) {}

absl::Status ValidateSpec(const ProjectionSpec& spec) {
  if (!ValidName(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "projection name '", spec.name, "' must be 1-200 letters, digits, '-', '_' or '.'"));
  }
  if (!spec.apply) return absl::InvalidArgumentError("ProjectionSpec::apply is empty");
  if (spec.batch_size == 0)
    return absl::InvalidArgumentError("ProjectionSpec::batch_size must be > 0");
  if (spec.max_attempts < 1)
    return absl::InvalidArgumentError("ProjectionSpec::max_attempts must be >= 1");
  if (spec.version == 0) return absl::InvalidArgumentError("ProjectionSpec::version must be >= 1");
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> EnsureServingVersion(ReadSide& read_side, const ProjectionSpec& spec) {
  absl::StatusOr<std::optional<std::string>> value =
      read_side.Get(ReadSideFamily::kProjections, ServingVersionKey(spec.name));
  if (!value.ok()) return value.status();
  if (!value->has_value()) {
    ReadSideBatch batch;
    PutServingVersion(batch, spec.name, spec.version);
    if (absl::Status s = read_side.Commit(batch); !s.ok()) return s;
    return spec.version;
  }
  storage::v1::ServingVersion stored;
  if (!stored.ParseFromString(**value)) return absl::DataLossError("serving version is malformed");
  if (stored.version() > spec.version) {
    return absl::FailedPreconditionError(
        absl::StrCat("projection '", spec.name, "' already serves version ", stored.version(),
                     "; register version ", stored.version(), " or newer"));
  }
  return stored.version();
}

absl::StatusOr<std::vector<std::pair<std::string, uint32_t>>> StoredServingVersions(
    const ReadSide& read_side) {
  const std::string prefix = extension::ServingVersionKeyPrefix();
  auto rows = read_side.Scan(ReadSideFamily::kProjections, prefix, extension::PrefixEnd(prefix),
                             std::numeric_limits<size_t>::max());
  if (!rows.ok()) return rows.status();
  std::vector<std::pair<std::string, uint32_t>> names;
  for (const auto& [key, value] : *rows) {
    const std::optional<std::string_view> name = extension::ParseServingVersionKey(key);
    storage::v1::ServingVersion stored;
    if (!name || !stored.ParseFromString(value))
      return absl::DataLossError("serving version is malformed");
    names.emplace_back(std::string(*name), stored.version());
  }
  return names;
}

absl::StatusOr<storage::v1::ProjectionCheckpoint> ReadCheckpoint(const ReadSide& read_side,
                                                                 std::string_view name,
                                                                 uint32_t version) {
  absl::StatusOr<std::optional<std::string>> value =
      read_side.Get(ReadSideFamily::kProjections, ProjectionCheckpointKey(name, version));
  if (!value.ok()) return value.status();
  storage::v1::ProjectionCheckpoint stored;
  if (value->has_value() && !stored.ParseFromString(**value)) {
    return absl::DataLossError("projection checkpoint is malformed");
  }
  return stored;
}

void PutCheckpoint(ReadSideBatch& batch, const ProjectionSpec& spec, uint64_t position) {
  storage::v1::ProjectionCheckpoint stored;
  stored.set_position(position);
  stored.set_updated_at_us(absl::ToUnixMicros(absl::Now()));
  batch.Put(ReadSideFamily::kProjections, ProjectionCheckpointKey(spec.name, spec.version),
            stored.SerializeAsString());
}

void DropVersion(ReadSideBatch& batch, std::string_view name, uint32_t version) {
  const std::string model = ReadModelKeyPrefix(name, version);
  batch.DeleteRange(ReadSideFamily::kReadModels, model, extension::PrefixEnd(model));
  batch.Delete(ReadSideFamily::kProjections, ProjectionCheckpointKey(name, version));
  const std::string parked = extension::ParkedEventKeyPrefix(name, version);
  batch.DeleteRange(ReadSideFamily::kProjections, parked, extension::PrefixEnd(parked));
}

void MaybeSwitchServing(Projector& p) {
  uint32_t serving;
  {
    MutexLock lock(&p.mu);
    if (p.state != ProjectionState::kLive || p.serving_version == p.spec.version) return;
    serving = p.serving_version;
  }
  // Rebuilt and caught up: queries move to the new version in one write,
  // and the old version's data goes with it.
  ReadSideBatch batch;
  PutServingVersion(batch, p.spec.name, p.spec.version);
  DropVersion(batch, p.spec.name, serving);
  MutexLock serving_lock(&p.serving_mu);
  if (absl::Status s = p.read_side->Commit(batch); !s.ok()) {
    Fail(p, s);
    return;
  }
  MutexLock lock(&p.mu);
  p.serving_version = p.spec.version;
}

}  // namespace annals::projection_internal

namespace annals {

using projection_internal::Projector;

absl::Status ProjectionRunner::Impl::Register(ProjectionSpec spec, bool inline_mode) {
  if (absl::Status valid = projection_internal::ValidateSpec(spec); !valid.ok()) return valid;
  absl::StatusOr<std::unique_ptr<extension::ReadSide>> read_side = extension::ReadSide::Of(store_);
  if (!read_side.ok()) return read_side.status();
  absl::StatusOr<uint32_t> serving = projection_internal::EnsureServingVersion(**read_side, spec);
  if (!serving.ok()) return serving.status();
  auto p = std::make_unique<Projector>(store_, *std::move(read_side), std::move(spec), inline_mode);
  {
    projection_internal::MutexLock lock(&p->mu);
    p->serving_version = *serving;
  }
  Projector* raw = p.get();
  {
    projection_internal::MutexLock lock(&mu_);
    if (!projectors_.try_emplace(raw->spec.name, std::move(p)).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("projection '", raw->spec.name, "' is already registered"));
    }
  }
  absl::Status started =
      inline_mode ? projection_internal::StartInline(*raw) : projection_internal::Start(*raw);
  if (!started.ok()) {
    projection_internal::MutexLock lock(&mu_);
    projectors_.erase(raw->spec.name);
  }
  return started;
}

absl::StatusOr<std::vector<ProjectionStatus>> ProjectionRunner::ListStored(EventStore& store) {
  absl::StatusOr<std::unique_ptr<extension::ReadSide>> read_side = extension::ReadSide::Of(store);
  if (!read_side.ok()) return read_side.status();
  auto names = projection_internal::StoredServingVersions(**read_side);
  if (!names.ok()) return names.status();
  std::vector<ProjectionStatus> statuses;
  for (const auto& [name, version] : *names) {
    absl::StatusOr<ProjectionStatus> status =
        projection_internal::StoredStatus(store, **read_side, name, version);
    if (!status.ok()) return status.status();
    statuses.push_back(*std::move(status));
  }
  return statuses;
}

}  // namespace annals
