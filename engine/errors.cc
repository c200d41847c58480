#include "annals/errors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "annals/storage/v1/errors.pb.h"
#include "schema_compat.h"

namespace annals {
namespace {

constexpr absl::string_view kWrongExpectedRevisionUrl =
    "annals/annals.storage.v1.WrongExpectedRevisionPayload";
constexpr absl::string_view kBreakingSchemaChangesUrl =
    "annals/annals.storage.v1.BreakingSchemaChangesPayload";

std::string ActualToString(const std::optional<Revision>& actual) {
  return actual.has_value() ? absl::StrCat(actual->value()) : "no_stream";
}

}  // namespace

absl::Status WrongExpectedRevisionError(const WrongExpectedRevision& details) {
  storage::v1::WrongExpectedRevisionPayload payload;
  std::vector<std::string> parts;
  for (const StreamConflict& conflict : details.conflicts) {
    auto* entry = payload.add_conflicts();
    entry->set_stream(conflict.stream);
    entry->set_expected(conflict.expected.ToWireValue());
    entry->set_actual(conflict.actual ? static_cast<int64_t>(conflict.actual->value()) : -1);
    parts.push_back(absl::StrCat("stream '", conflict.stream, "' expected ",
                                 conflict.expected.ToString(), ", actual ",
                                 ActualToString(conflict.actual)));
  }
  absl::Status status =
      absl::AbortedError(absl::StrCat("wrong expected revision: ", absl::StrJoin(parts, "; ")));
  status.SetPayload(kWrongExpectedRevisionUrl, absl::Cord(payload.SerializeAsString()));
  return status;
}

bool IsWrongExpectedRevision(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted &&
         status.GetPayload(kWrongExpectedRevisionUrl).has_value();
}

std::optional<WrongExpectedRevision> GetWrongExpectedRevision(const absl::Status& status) {
  if (!IsWrongExpectedRevision(status)) return std::nullopt;
  storage::v1::WrongExpectedRevisionPayload payload;
  if (!payload.ParseFromString(std::string(*status.GetPayload(kWrongExpectedRevisionUrl)))) {
    return std::nullopt;
  }
  WrongExpectedRevision details;
  for (const auto& entry : payload.conflicts()) {
    StreamConflict conflict;
    conflict.stream = entry.stream();
    conflict.expected =
        ExpectedRevision::FromWireValue(entry.expected()).value_or(ExpectedRevision::Any());
    if (entry.actual() >= 0) conflict.actual = Revision(static_cast<uint64_t>(entry.actual()));
    details.conflicts.push_back(std::move(conflict));
  }
  return details;
}

bool IsBreakingSchemaChange(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         status.GetPayload(kBreakingSchemaChangesUrl).has_value();
}

std::vector<std::string> GetBreakingSchemaChanges(const absl::Status& status) {
  if (!IsBreakingSchemaChange(status)) return {};
  storage::v1::BreakingSchemaChangesPayload payload;
  if (!payload.ParseFromString(std::string(*status.GetPayload(kBreakingSchemaChangesUrl))))
    return {};
  return {payload.changes().begin(), payload.changes().end()};
}

bool IsCorruption(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDataLoss;
}

namespace internal {

absl::Status BreakingSchemaChangesError(const std::vector<std::string>& changes) {
  storage::v1::BreakingSchemaChangesPayload payload;
  for (const std::string& change : changes) payload.add_changes(change);
  absl::Status status = absl::FailedPreconditionError(absl::StrJoin(changes, "\n"));
  status.SetPayload(kBreakingSchemaChangesUrl, absl::Cord(payload.SerializeAsString()));
  return status;
}

}  // namespace internal
}  // namespace annals
