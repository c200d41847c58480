// The errors of the KurrentDB protocol: a gRPC status plus the trailers the
// clients switch on (`exception: ...`), as ../shared/PROTOCOL.md lists them.
#ifndef ANNALS_SERVER_ERRORS_H_
#define ANNALS_SERVER_ERRORS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace annals::server {

struct CallError {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::vector<std::pair<std::string, std::string>> trailers;

  // Adds the trailers to `context` and returns the status to finish with.
  grpc::Status Finish(grpc::CallbackServerContext* context) const;
};

CallError InvalidArgument(std::string message);
CallError StreamDeleted(std::string_view stream);
// `expected` and `actual` in KurrentDB's wire numbering (ToWireValue; the
// actual revision of a missing stream is -1).
CallError WrongExpectedVersion(std::string_view stream, int64_t expected, int64_t actual);
CallError MaximumAppendSizeExceeded(size_t limit);
CallError MissingRequiredMetadata();
CallError NotLeader(std::string_view host, int port);
// Every other store status, by its code (the message kept).
CallError FromStatus(const absl::Status& status);

}  // namespace annals::server

#endif  // ANNALS_SERVER_ERRORS_H_
