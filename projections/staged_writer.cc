// StagedWriter (staged_writer.h): two layers of staged writes over the
// committed read model.
#include "staged_writer.h"

#include <utility>

namespace annals::projection_internal {

using extension::ReadSideFamily;

StagedWriter::StagedWriter(const extension::ReadSide& read_side, std::string prefix)
    : read_side_(read_side), prefix_(std::move(prefix)) {}

void StagedWriter::Put(std::string_view key, std::string_view value) {
  pending_[prefix_ + std::string(key)] = std::string(value);
}

void StagedWriter::Delete(std::string_view key) {
  pending_[prefix_ + std::string(key)] = std::nullopt;
}

absl::StatusOr<std::optional<std::string>> StagedWriter::Get(std::string_view key) {
  const std::string full = prefix_ + std::string(key);
  if (auto it = pending_.find(full); it != pending_.end()) return it->second;
  if (auto it = batch_.find(full); it != batch_.end()) return it->second;
  return read_side_.Get(ReadSideFamily::kReadModels, full);
}

void StagedWriter::Keep() {
  for (auto& [key, value] : pending_) batch_[key] = std::move(value);
  pending_.clear();
}

void StagedWriter::MoveTo(extension::ReadSideBatch& batch) {
  for (const auto& [key, value] : batch_) {
    if (value) {
      batch.Put(ReadSideFamily::kReadModels, key, *value);
    } else {
      batch.Delete(ReadSideFamily::kReadModels, key);
    }
  }
  batch_.clear();
}

void StagedWriter::Clear() {
  batch_.clear();
  pending_.clear();
}

}  // namespace annals::projection_internal
