// annals/event.h: EventData (an event proposed for append) and EventRecord (an
// event as stored). Read annals/event_store.h first.
#ifndef ANNALS_EVENT_H_
#define ANNALS_EVENT_H_

#include <map>
#include <string>
#include "annals/export.h"

#include "absl/time/time.h"
#include "annals/types.h"

namespace annals {

// An event proposed for append. Plain value; thread-compatible. What each
// field may hold (Append refuses anything else with InvalidArgument, writing
// nothing); every accepted byte reads back unchanged:
struct ANNALS_EXPORT EventData {
  // What happened, e.g. "ItemAdded". Required: non-empty UTF-8 without NUL,
  // at most StoreOptions::max_field_bytes.
  std::string type;
  // Payload bytes, any; annals never interprets them.
  std::string data;
  // How `data` is encoded, e.g. "application/json": printable ASCII (a
  // MIME type), at most max_field_bytes. Optional.
  std::string content_type;
  // Free-form metadata (user, tenant, ...): keys non-empty UTF-8 without
  // NUL, at most max_field_bytes; values any bytes.
  std::map<std::string, std::string> metadata;
  // Makes the append idempotent. Nil means "assign a new UUIDv7".
  EventId event_id;
  // The id of the conversation this event belongs to, and of the message
  // that caused it: UTF-8 without NUL, at most max_field_bytes (they are
  // index keys). Optional.
  std::string correlation_id;
  std::string causation_id;
};

// An event as stored: the EventData fields plus where and when it was
// recorded. Immutable value; safe to copy across threads.
struct ANNALS_EXPORT EventRecord {
  std::string stream;
  Revision revision;
  Position position;
  // Set by the store at commit; non-decreasing in position order.
  absl::Time recorded_at;
  std::string type;
  std::string data;
  std::string content_type;
  std::map<std::string, std::string> metadata;
  EventId event_id;
  std::string correlation_id;
  std::string causation_id;
};

}  // namespace annals

#endif  // ANNALS_EVENT_H_
