// Internal: converting RocksDB statuses, and the two status macros.
#ifndef ANNALS_ENGINE_STATUS_UTIL_H_
#define ANNALS_ENGINE_STATUS_UTIL_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace annals::internal {

// The one place a rocksdb::Status becomes an absl::Status. `context` says
// what was being done ("write batch", "open").
absl::Status FromRocksDb(const rocksdb::Status& status, std::string_view context);

}  // namespace annals::internal

#define ANNALS_STATUS_CONCAT_INNER_(a, b) a##b
#define ANNALS_STATUS_CONCAT_(a, b) ANNALS_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` is not OK.
#define ANNALS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status annals_status_ = (expr);          \
    if (!annals_status_.ok()) return annals_status_; \
  } while (0)

// `lhs = std::move(value)` of a StatusOr, or returns its status. Several
// statements: always brace an `if` around it.
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` may be a declaration.
#define ANNALS_ASSIGN_OR_RETURN(lhs, expr) \
  ANNALS_ASSIGN_OR_RETURN_IMPL_(ANNALS_STATUS_CONCAT_(annals_statusor_, __LINE__), lhs, expr)
#define ANNALS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // ANNALS_ENGINE_STATUS_UTIL_H_
