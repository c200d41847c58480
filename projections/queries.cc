// Queries of a projection's served read model: Get, Scan, ScanPrefix. Each
// holds the projection's serving lock from choosing the version to the end
// of its read, so it never reads a version being dropped, and each read is
// one consistent view of the store.
#include <string>
#include <utility>
#include <vector>

#include "annals/projection.h"
#include "runner_internal.h"

namespace annals {
namespace {

using projection_internal::MutexLock;
using projection_internal::Projector;

// The key prefix of the version queries read. REQUIRES: p.serving_mu held
// (the version cannot switch until the read is done).
std::string ServingPrefix(const Projector& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.serving_mu) {
  MutexLock lock(&p.mu);
  return extension::ReadModelKeyPrefix(p.spec.name, p.serving_version);
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ProjectionRunner::Get(std::string_view name,
                                                                 std::string_view key) const {
  absl::StatusOr<Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  MutexLock serving_lock(&(*p)->serving_mu);
  return (*p)->read_side->Get(extension::ReadSideFamily::kReadModels,
                              ServingPrefix(**p) + std::string(key));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ProjectionRunner::Scan(
    std::string_view name, std::string_view from, std::string_view to, size_t limit) const {
  absl::StatusOr<Projector*> p = impl_->Find(name);
  if (!p.ok()) return p.status();
  MutexLock serving_lock(&(*p)->serving_mu);
  const std::string prefix = ServingPrefix(**p);
  const std::string lower = prefix + std::string(from);
  const std::string upper = to.empty() ? extension::PrefixEnd(prefix) : prefix + std::string(to);
  auto rows = (*p)->read_side->Scan(extension::ReadSideFamily::kReadModels, lower, upper, limit);
  if (!rows.ok()) return rows.status();
  for (auto& [key, value] : *rows) key.erase(0, prefix.size());
  return rows;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ProjectionRunner::ScanPrefix(
    std::string_view name, std::string_view prefix, size_t limit) const {
  // The keys that start with `prefix` are [prefix, PrefixEnd(prefix)); an
  // empty end (prefix empty or all 0xff bytes) is no upper bound.
  return Scan(name, prefix, extension::PrefixEnd(prefix), limit);
}

}  // namespace annals
