// One append as both Streams.Append and Streams.BatchAppend take it: its
// proposed messages checked and collected (AppendBuilder), then committed
// (StartAppend) into an outcome that each call spells in its own messages
// (append_call.cc, batch_append_call.cc).
#ifndef ANNALS_SERVER_APPEND_COMMIT_H_
#define ANNALS_SERVER_APPEND_COMMIT_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "annals/event.h"
#include "annals/types.h"
#include "errors.h"
#include "services.h"

namespace annals::server {

// Collects the events of one append, each checked as it arrives.
class AppendBuilder {
 public:
  explicit AppendBuilder(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Adds one proposed message (AppendReq's or BatchAppendReq's), taking its
  // payload. An error refuses the whole append.
  template <typename Proposed>
  std::optional<CallError> Add(Proposed& message);

  std::vector<EventData>& events() { return events_; }
  size_t bytes() const { return bytes_; }

 private:
  size_t max_bytes_;
  std::vector<EventData> events_;
  size_t bytes_ = 0;
};

// What an append came to.
struct AppendOutcome {
  enum class Kind { kSuccess, kWrongVersion, kError };
  Kind kind = Kind::kSuccess;
  // kSuccess: the stream's revision now (nullopt: there is no stream, after
  // an append of nothing); kWrongVersion: its actual revision (nullopt: no
  // stream).
  std::optional<Revision> revision;
  std::optional<Position> position;  // kSuccess; nullopt: none (nothing written)
  CallError error;                   // kError
};

// A kSuccess outcome in AppendResp's or BatchAppendResp's Success (the same
// fields): the stream's revision or no_stream, the position or no_position.
template <typename Success>
void FillSuccess(const AppendOutcome& outcome, Success* success) {
  if (outcome.revision) {
    success->set_current_revision(outcome.revision->value());
  } else {
    success->mutable_no_stream();
  }
  if (outcome.position) {
    success->mutable_position()->set_commit_position(outcome.position->value());
    success->mutable_position()->set_prepare_position(outcome.position->value());
  } else {
    success->mutable_no_position();
  }
}

// Appends `append`'s events to `stream` and calls `done` with the outcome,
// from another thread, without blocking the caller: an append of events to
// a stream through the funnel (state.funnel: one group commit for all that
// meet there); a write to a `$$x` metastream (it sets x's metadata), an
// append of nothing (it only checks `expected`, as KurrentDB does) or one
// to another `$` stream (refused) on the worker pool.
void StartAppend(ServerState& state, std::string stream, ExpectedRevision expected,
                 AppendBuilder append, std::function<void(AppendOutcome)> done);

}  // namespace annals::server

#endif  // ANNALS_SERVER_APPEND_COMMIT_H_
