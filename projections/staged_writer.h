// Internal to projections/: the one ReadModelWriter. Every `apply` writes
// through it, in every mode (async batches, catch-up, parked retries,
// inline), so all of them see their own writes the same way.
#ifndef ANNALS_PROJECTIONS_STAGED_WRITER_H_
#define ANNALS_PROJECTIONS_STAGED_WRITER_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "annals/read_model.h"
#include "annals/read_side.h"

namespace annals::projection_internal {

// The writes to one version of one read model, in two layers. `apply`
// writes into the pending layer; Keep moves it into the batch layer (the
// apply succeeded; inline: its request was kept), Drop forgets it. MoveTo
// hands the batch layer to a ReadSideBatch and empties it. Get reads the
// pending layer, then the batch layer, then what is committed.
// Thread-compatible: used by one thread at a time (the projection's, or the
// committing one under the writer's lock).
class StagedWriter final : public ReadModelWriter {
 public:
  // `prefix`: extension::ReadModelKeyPrefix of the version written.
  // `read_side` must outlive the writer.
  StagedWriter(const extension::ReadSide& read_side, std::string prefix);

  void Put(std::string_view key, std::string_view value) override;
  void Delete(std::string_view key) override;
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;

  void Keep();
  void Drop() { pending_.clear(); }
  // Adds the batch layer to `batch` as `read_models` puts and deletes.
  void MoveTo(extension::ReadSideBatch& batch);
  // Forgets both layers.
  void Clear();

 private:
  // Full key -> value; nullopt: deleted.
  using Layer = std::map<std::string, std::optional<std::string>>;

  const extension::ReadSide& read_side_;
  const std::string prefix_;
  Layer batch_;
  Layer pending_;
};

}  // namespace annals::projection_internal

#endif  // ANNALS_PROJECTIONS_STAGED_WRITER_H_
