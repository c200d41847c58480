// annals/append.h: the requests and results of EventStore::Append and
// EventStore::AppendMulti. Read annals/event_store.h first.
#ifndef ANNALS_APPEND_H_
#define ANNALS_APPEND_H_

#include <string>
#include <vector>
#include "annals/export.h"

#include "annals/event.h"
#include "annals/types.h"

namespace annals {

// Append `events` to `stream` if its state matches `expected`. All events are
// written or none. Plain value; thread-compatible.
struct ANNALS_EXPORT AppendRequest {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  std::vector<EventData> events;
};

// What an append wrote (or, for an idempotent retry, had written before).
struct ANNALS_EXPORT AppendResult {
  Revision first_revision;
  // The stream's new last revision: the `expected` for the next append.
  Revision last_revision;
  Position first_position;
  Position last_position;

  friend bool operator==(const AppendResult&, const AppendResult&) = default;
};

// A check on a stream that a multi-stream append does not write.
struct ANNALS_EXPORT StreamCondition {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
};

// Several appends and checks committed all together or not at all. The
// events take positions in request order: appends[0]'s first.
struct ANNALS_EXPORT MultiAppendRequest {
  std::vector<AppendRequest> appends;
  std::vector<StreamCondition> conditions;
};

struct ANNALS_EXPORT MultiAppendResult {
  // One per MultiAppendRequest::appends, in the same order.
  std::vector<AppendResult> results;
};

}  // namespace annals

#endif  // ANNALS_APPEND_H_
