#include "errors.h"

#include "absl/strings/str_cat.h"

namespace annals::server {

grpc::Status CallError::Finish(grpc::CallbackServerContext* context) const {
  for (const auto& [key, value] : trailers) context->AddTrailingMetadata(key, value);
  return grpc::Status(code, message);
}

CallError InvalidArgument(std::string message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, std::move(message), {}};
}

CallError StreamDeleted(std::string_view stream) {
  return {grpc::StatusCode::FAILED_PRECONDITION,
          absl::StrCat("Event stream '", std::string(stream), "' is deleted."),
          {{"exception", "stream-deleted"}, {"stream-name", std::string(stream)}}};
}

CallError WrongExpectedVersion(std::string_view stream, int64_t expected, int64_t actual) {
  return {grpc::StatusCode::FAILED_PRECONDITION,
          absl::StrCat("Append failed due to WrongExpectedVersion. Stream: ", std::string(stream),
                       ", Expected version: ", expected, ", Actual version: ", actual),
          {{"exception", "wrong-expected-version"},
           {"stream-name", std::string(stream)},
           {"expected-version", absl::StrCat(expected)},
           {"actual-version", absl::StrCat(actual)}}};
}

CallError MaximumAppendSizeExceeded(size_t limit) {
  return {grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("Maximum append size of ", limit, " bytes exceeded."),
          {{"exception", "maximum-append-size-exceeded"},
           {"maximum-append-size", absl::StrCat(limit)}}};
}

CallError MissingRequiredMetadata() {
  return {grpc::StatusCode::INVALID_ARGUMENT,
          "every proposed message needs the metadata 'type' and 'content-type'",
          {{"exception", "missing-required-metadata-property"},
           {"required-metadata-properties", "type,content-type"}}};
}

CallError NotLeader(std::string_view host, int port) {
  return {grpc::StatusCode::NOT_FOUND,
          "this server is read-only: writes go to the application that owns the store",
          {{"exception", "not-leader"},
           {"leader-endpoint-host", std::string(host)},
           {"leader-endpoint-port", absl::StrCat(port)}}};
}

CallError FromStatus(const absl::Status& status) {
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return {};
    case absl::StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, message, {}};
    case absl::StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, message, {}};
    case absl::StatusCode::kAlreadyExists:
      return {grpc::StatusCode::ALREADY_EXISTS, message, {}};
    case absl::StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, message, {}};
    case absl::StatusCode::kAborted:
      return {grpc::StatusCode::ABORTED, message, {}};
    case absl::StatusCode::kDeadlineExceeded:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, message, {}};
    case absl::StatusCode::kCancelled:
      return {grpc::StatusCode::CANCELLED, message, {}};
    case absl::StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, message, {}};
    case absl::StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, message, {}};
    case absl::StatusCode::kDataLoss:
      return {grpc::StatusCode::DATA_LOSS, message, {}};
    case absl::StatusCode::kUnimplemented:
      return {grpc::StatusCode::UNIMPLEMENTED, message, {}};
    default:
      return {grpc::StatusCode::INTERNAL, message, {}};
  }
}

}  // namespace annals::server
