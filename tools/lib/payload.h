// Payloads as JSON: JSON payloads as they are, protobuf payloads through the
// store's schema registry (annals/schemas.h), anything else as base64 with
// its content type. Also the exact (lossless) event form of export/import.
#ifndef ANNALS_TOOLS_PAYLOAD_H_
#define ANNALS_TOOLS_PAYLOAD_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event.h"
#include "annals/event_store.h"
#include "annals/schemas.h"
#include "output.h"

namespace google::protobuf {
class DescriptorPool;
class DynamicMessageFactory;
class SimpleDescriptorDatabase;
}  // namespace google::protobuf

namespace annals::tool {

class PayloadDecoder {
 public:
  // A decoder with `store`'s registered schemas.
  static absl::StatusOr<std::unique_ptr<PayloadDecoder>> Load(EventStore& store);
  // A decoder with `schemas` (what Load reads from the store). DataLoss if a
  // file is malformed or duplicated, or if the files define a well-known
  // type (google.protobuf.Struct, Any, ...) unlike protobuf's own: its JSON
  // printer relies on their shape (a Struct whose field is no map makes it
  // loop forever).
  static absl::StatusOr<std::unique_ptr<PayloadDecoder>> FromSchemas(const StoredSchemas& schemas);
  // A decoder that knows JSON only.
  PayloadDecoder();
  ~PayloadDecoder();

  // The payload as JSON if it is JSON or a registered protobuf message;
  // nullopt if it is neither. DataLoss, naming the event's position, type
  // and message, if its message is registered (named by its content type's
  // `messageType=` or bound to its type) but it does not decode as that
  // message: malformed bytes, a missing required field, or a field (also in
  // a nested message) the schema does not describe, which is what a field
  // whose type changed on the same number looks like.
  absl::StatusOr<std::optional<Json>> Decode(const EventRecord& event) const;
  // For display: Decode's answer, or {"base64": ..., "content_type": ...}
  // for a payload of no known form. DataLoss as Decode.
  absl::StatusOr<Json> Display(const EventRecord& event) const;

 private:
  std::unique_ptr<google::protobuf::SimpleDescriptorDatabase> database_;
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::map<std::string, std::string> bindings_;
};

// RFC 3339 in UTC with microseconds (the store's precision).
std::string Rfc3339(absl::Time time);
// Parses RFC 3339 (`2026-11-23T10:00:00Z`, offsets and fractions allowed).
std::optional<absl::Time> ParseRfc3339(std::string_view text);

// The display form of an event: where, what, who, and the payload as JSON.
// DataLoss as PayloadDecoder::Decode.
absl::StatusOr<Json> EventToJson(const EventRecord& event, const PayloadDecoder& decoder);

// application/json, or a `+json` media type (parameters and case aside).
bool IsJsonContentType(std::string_view content_type);

// The exact form (docs/FORMAT.md, "Export lines"): every field, the payload
// as its JSON value under "data" for a JSON content type, otherwise base64
// under "data_base64"; other bytes that are not UTF-8 in base64; so that
// EventFromExport(parse(line)) == event. EventFromExport also reads the
// older shape ("data" a string: the payload's UTF-8 bytes, whatever the
// content type). Appends one line, newline included.
void AppendExportLine(const EventRecord& event, std::string* out);
absl::StatusOr<EventRecord> EventFromExport(const Json& line);

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_PAYLOAD_H_
