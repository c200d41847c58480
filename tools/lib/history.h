// Time travel for the tool: which fold a stream uses (a plugin's or the
// generic JSON one), the state at a point of a stream (revision, position
// or time; from the nearest usable snapshot), field-level JSON diffs and
// the predicates `bisect` searches for.
#ifndef ANNALS_TOOLS_HISTORY_H_
#define ANNALS_TOOLS_HISTORY_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "annals/event_store.h"
#include "annals/tool_plugin.h"
#include "output.h"
#include "payload.h"

namespace annals::tool {

// What a plugin (or several) registered.
class Plugins final : public plugin::Registry {
 public:
  Plugins() = default;
  ~Plugins() override;
  // Loads the shared library at `path` and calls its entry point.
  // InvalidArgument if it is no annals tool plugin or of another API version.
  absl::Status Load(const std::string& path);

  void AddFold(std::string name, std::string category, std::unique_ptr<plugin::Fold> fold) override;
  void AddProjection(ProjectionSpec spec) override;

  // The fold named `name`; nullptr if none.
  const plugin::Fold* FindFold(const std::string& name) const;
  // The fold registered for `stream`'s category; nullptr if none.
  const plugin::Fold* FoldForStream(const std::string& stream) const;
  const std::vector<ProjectionSpec>& projections() const { return projections_; }

 private:
  std::vector<void*> libraries_;
  std::map<std::string, std::unique_ptr<plugin::Fold>> folds_;
  std::map<std::string, std::string> fold_by_category_;
  std::vector<ProjectionSpec> projections_;
};

// Without a plugin: the state is a JSON object and each event's payload, if
// it decodes to a JSON object, is merged into it as a JSON Merge Patch
// (RFC 7386: fields replace fields, objects merge, null removes). Other
// payloads leave the state as it is.
std::unique_ptr<plugin::Fold> GenericJsonFold(const PayloadDecoder& decoder);

// A point in a stream's history: after revision N, after the event at or
// before position P, or as of time T.
struct Point {
  enum class Kind { kRevision, kPosition, kTime };
  Kind kind = Kind::kRevision;
  uint64_t number = 0;
  absl::Time time;
};
// "12" (revision), "@120" (position) or a time (time_arg.h: RFC 3339, a
// date, relative to now...).
std::optional<Point> ParsePoint(std::string_view text);
std::string DescribePoint(const Point& point);

// The last revision of `stream` at or before `point`; nullopt if the point
// lies before its first event. Position and time points are found by binary
// search over the stream's revisions (O(log n) reads).
absl::StatusOr<std::optional<Revision>> ResolvePoint(EventStore& store, const std::string& stream,
                                                     const Point& point);

// A state and the event that produced it (none for the initial state).
struct StateAt {
  std::unique_ptr<plugin::FoldState> state;
  std::optional<EventRecord> last_event;
  // The snapshot folding started from, if any.
  std::optional<Revision> from_snapshot;
  uint64_t events_folded = 0;
};

// The state after `revision` (nullopt: the initial state), from the newest
// usable snapshot at or below it unless `use_snapshots` is false.
absl::StatusOr<StateAt> LoadStateAt(EventStore& store, const plugin::Fold& fold,
                                    const std::string& stream, std::optional<Revision> revision,
                                    bool use_snapshots);

// Folds `stream` from its first event (or the newest usable snapshot before
// `from`), calling `step` with each event at or after revision `from` up to
// `to` and the states before and after it. `step` returns false to stop.
using Step = std::function<absl::StatusOr<bool>(const EventRecord& event, const Json& before,
                                                const Json& after)>;
absl::Status Replay(EventStore& store, const plugin::Fold& fold, const std::string& stream,
                    Revision from, std::optional<Revision> to, bool use_snapshots,
                    const Step& step);

absl::StatusOr<Json> StateJson(const plugin::Fold& fold, const plugin::FoldState& state);

// One field-level difference between two JSON values.
struct Change {
  std::string path;  // JSON pointer; "" is the whole value
  enum class Kind { kAdded, kRemoved, kChanged } kind;
  Json before;  // null when added
  Json after;   // null when removed
};
std::vector<Change> Diff(const Json& before, const Json& after);
Json ChangesToJson(const std::vector<Change>& changes);
// "  + /path: value" lines, colored (ANSI) if `color`.
std::string FormatChanges(const std::vector<Change>& changes, bool color);

// `POINTER [OP VALUE]`, e.g. `/balance < 0`, `/status == "SHIPPED"`; OP is
// one of == != < <= > >=, VALUE a JSON literal. Without OP: the field is
// present and neither null nor false. Numbers in strings (protobuf's JSON
// form of 64-bit integers) compare as numbers.
class Predicate {
 public:
  static absl::StatusOr<Predicate> Parse(std::string_view text);
  bool Holds(const Json& state) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string pointer_;
  std::string op_;
  Json value_;
};

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_HISTORY_H_
