#include "history.h"
#include "annals/snapshot.h"

#include <dlfcn.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "time_arg.h"

namespace annals::tool {
namespace {

using EntryPoint = int (*)(int, plugin::Registry*);

class JsonState final : public plugin::FoldState {
 public:
  Json value = Json::object();
};

class JsonMergeFold final : public plugin::Fold {
 public:
  explicit JsonMergeFold(const PayloadDecoder& decoder) : decoder_(decoder) {}
  std::unique_ptr<plugin::FoldState> Initial() const override {
    return std::make_unique<JsonState>();
  }
  absl::Status Apply(plugin::FoldState& state, const EventRecord& event) const override {
    absl::StatusOr<std::optional<Json>> payload = decoder_.Decode(event);
    if (!payload.ok()) return payload.status();
    if (*payload && (*payload)->is_object())
      static_cast<JsonState&>(state).value.merge_patch(**payload);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ToJson(const plugin::FoldState& state) const override {
    return Dump(static_cast<const JsonState&>(state).value);
  }

 private:
  const PayloadDecoder& decoder_;
};

// The first event of `stream` at or after `revision` (nullopt: none).
absl::StatusOr<std::optional<EventRecord>> EventAtOrAfter(EventStore& store,
                                                          const std::string& stream,
                                                          Revision revision) {
  auto it = store.ReadStream(stream, {.from = revision, .max_count = 1});
  if (!it.ok()) return it.status();
  if (!(*it)->Valid()) {
    if (!(*it)->status().ok()) return (*it)->status();
    return std::nullopt;
  }
  return (*it)->record();
}

absl::StatusOr<EventRecord> EdgeEvent(EventStore& store, const std::string& stream,
                                      Direction direction) {
  auto it = store.ReadStream(stream, {.direction = direction, .max_count = 1});
  if (!it.ok()) return it.status();
  if (!(*it)->Valid()) {
    if (!(*it)->status().ok()) return (*it)->status();
    return absl::NotFoundError(absl::StrCat("stream '", stream, "' has no events"));
  }
  return (*it)->record();
}

std::string EscapePointerToken(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

void DiffInto(const Json& a, const Json& b, const std::string& path, std::vector<Change>& out) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      const std::string child = path + "/" + EscapePointerToken(key);
      auto it = b.find(key);
      if (it == b.end()) {
        out.push_back({child, Change::Kind::kRemoved, value, nullptr});
      } else {
        DiffInto(value, *it, child, out);
      }
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key))
        out.push_back({path + "/" + EscapePointerToken(key), Change::Kind::kAdded, nullptr, value});
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    const size_t common = std::min(a.size(), b.size());
    for (size_t i = 0; i < common; ++i) DiffInto(a[i], b[i], absl::StrCat(path, "/", i), out);
    for (size_t i = common; i < a.size(); ++i)
      out.push_back({absl::StrCat(path, "/", i), Change::Kind::kRemoved, a[i], nullptr});
    for (size_t i = common; i < b.size(); ++i)
      out.push_back({absl::StrCat(path, "/", i), Change::Kind::kAdded, nullptr, b[i]});
    return;
  }
  out.push_back({path, Change::Kind::kChanged, a, b});
}

std::string_view Strip(std::string_view text) {
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::optional<double> AsNumber(const Json& value) {
  if (value.is_number()) return value.get<double>();
  double number = 0;
  if (value.is_string() && absl::SimpleAtod(value.get<std::string>(), &number)) return number;
  return std::nullopt;
}

}  // namespace

Plugins::~Plugins() {
  // The folds' code lives in the libraries: destroy them first. The
  // libraries stay loaded (their static destructors may run at exit).
  folds_.clear();
  projections_.clear();
}

absl::Status Plugins::Load(const std::string& path) {
  void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load plugin '", path, "': ", ::dlerror()));
  }
  auto entry = reinterpret_cast<EntryPoint>(::dlsym(library, ANNALS_TOOL_PLUGIN_ENTRY));
  if (entry == nullptr) {
    ::dlclose(library);
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not an annals tool plugin (no ",
                                                   ANNALS_TOOL_PLUGIN_ENTRY, " entry point)"));
  }
  libraries_.push_back(library);
  const int version = entry(plugin::kApiVersion, this);
  if (version != plugin::kApiVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin '", path, "' speaks plugin API version ", version, "; this tool speaks ",
        plugin::kApiVersion, ": rebuild it against this annals"));
  }
  return absl::OkStatus();
}

void Plugins::AddFold(std::string name, std::string category, std::unique_ptr<plugin::Fold> fold) {
  if (!category.empty()) fold_by_category_[category] = name;
  folds_[std::move(name)] = std::move(fold);
}

void Plugins::AddProjection(ProjectionSpec spec) { projections_.push_back(std::move(spec)); }

const plugin::Fold* Plugins::FindFold(const std::string& name) const {
  auto it = folds_.find(name);
  return it == folds_.end() ? nullptr : it->second.get();
}

const plugin::Fold* Plugins::FoldForStream(const std::string& stream) const {
  const std::string category = stream.substr(0, stream.find('-'));
  auto it = fold_by_category_.find(category);
  return it == fold_by_category_.end() ? nullptr : FindFold(it->second);
}

std::unique_ptr<plugin::Fold> GenericJsonFold(const PayloadDecoder& decoder) {
  return std::make_unique<JsonMergeFold>(decoder);
}

std::optional<Point> ParsePoint(std::string_view text) {
  Point point;
  if (!text.empty() && text.front() == '@') {
    point.kind = Point::Kind::kPosition;
    if (!absl::SimpleAtoi(std::string(text.substr(1)), &point.number)) return std::nullopt;
    return point;
  }
  if (absl::SimpleAtoi(std::string(text), &point.number)) return point;
  absl::StatusOr<absl::Time> time = ParseTimeArg(text, absl::Now());
  if (!time.ok()) return std::nullopt;
  point.kind = Point::Kind::kTime;
  point.time = *time;
  return point;
}

std::string DescribePoint(const Point& point) {
  switch (point.kind) {
    case Point::Kind::kRevision:
      return absl::StrCat("revision ", point.number);
    case Point::Kind::kPosition:
      return absl::StrCat("position ", point.number);
    case Point::Kind::kTime:
      return absl::StrCat("time ", Rfc3339(point.time));
  }
  return "";
}

absl::StatusOr<std::optional<Revision>> ResolvePoint(EventStore& store, const std::string& stream,
                                                     const Point& point) {
  absl::StatusOr<EventRecord> last = EdgeEvent(store, stream, Direction::kBackward);
  if (!last.ok()) return last.status();
  if (point.kind == Point::Kind::kRevision) {
    if (point.number >= last->revision.value()) return last->revision;
    auto it = store.ReadStream(
        stream,
        {.direction = Direction::kBackward, .from = Revision(point.number), .max_count = 1});
    if (!it.ok()) return it.status();
    if (!(*it)->Valid()) return std::optional<Revision>();
    return (*it)->record().revision;
  }
  // Positions and times grow with revisions: binary search.
  auto at_or_before = [&](const EventRecord& e) {
    return point.kind == Point::Kind::kPosition ? e.position.value() <= point.number
                                                : e.recorded_at <= point.time;
  };
  if (at_or_before(*last)) return last->revision;
  absl::StatusOr<EventRecord> first = EdgeEvent(store, stream, Direction::kForward);
  if (!first.ok()) return first.status();
  if (!at_or_before(*first)) return std::optional<Revision>();
  uint64_t lo = first->revision.value(), hi = last->revision.value() - 1;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    absl::StatusOr<std::optional<EventRecord>> e = EventAtOrAfter(store, stream, Revision(mid));
    if (!e.ok()) return e.status();
    if (!e->has_value() || (*e)->revision.value() > hi || !at_or_before(**e)) {
      hi = mid - 1;
    } else {
      lo = (*e)->revision.value();
    }
  }
  return Revision(lo);
}

absl::StatusOr<StateAt> LoadStateAt(EventStore& store, const plugin::Fold& fold,
                                    const std::string& stream, std::optional<Revision> revision,
                                    bool use_snapshots) {
  StateAt result;
  if (!revision) {
    // Still check that the stream is there.
    absl::StatusOr<EventRecord> first = EdgeEvent(store, stream, Direction::kForward);
    if (!first.ok()) return first.status();
    result.state = fold.Initial();
    return result;
  }
  Revision start(0);
  if (use_snapshots) {
    absl::StatusOr<std::optional<Snapshot>> snapshot = ReadSnapshot(store, stream, *revision);
    if (!snapshot.ok()) return snapshot.status();
    if (snapshot->has_value()) {
      absl::StatusOr<std::unique_ptr<plugin::FoldState>> state = fold.FromSnapshot(**snapshot);
      if (!state.ok()) return state.status();
      if (*state != nullptr) {
        result.state = *std::move(state);
        result.from_snapshot = (*snapshot)->revision;
        start = (*snapshot)->revision.Next();
      }
    }
  }
  if (result.state == nullptr) result.state = fold.Initial();
  if (start <= *revision) {
    auto it = store.ReadStream(stream,
                               {.from = start, .max_count = revision->value() - start.value() + 1});
    if (!it.ok()) return it.status();
    EventRecord last;
    for (; (*it)->Valid(); (*it)->Next()) {
      const EventRecord& event = (*it)->record();
      if (absl::Status s = fold.Apply(*result.state, event); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("fold of ", stream, "@", event.revision.value(),
                                                   ": ", s.message()));
      }
      ++result.events_folded;
      last = event;
    }
    if (!(*it)->status().ok()) return (*it)->status();
    if (result.events_folded > 0) result.last_event = std::move(last);
  }
  if (!result.last_event) {
    auto it = store.ReadStream(
        stream, {.direction = Direction::kBackward, .from = *revision, .max_count = 1});
    if (!it.ok()) return it.status();
    if ((*it)->Valid()) result.last_event = (*it)->record();
  }
  return result;
}

absl::StatusOr<Json> StateJson(const plugin::Fold& fold, const plugin::FoldState& state) {
  absl::StatusOr<std::string> text = fold.ToJson(state);
  if (!text.ok()) return text.status();
  Json json = Json::parse(*text, nullptr, false);
  if (json.is_discarded()) return absl::InternalError("the fold's state is not valid JSON");
  return json;
}

absl::Status Replay(EventStore& store, const plugin::Fold& fold, const std::string& stream,
                    Revision from, std::optional<Revision> to, bool use_snapshots,
                    const Step& step) {
  std::optional<Revision> before_from;
  if (from.value() > 0) before_from = Revision(from.value() - 1);
  absl::StatusOr<StateAt> start = LoadStateAt(store, fold, stream, before_from, use_snapshots);
  if (!start.ok()) return start.status();
  absl::StatusOr<Json> before = StateJson(fold, *start->state);
  if (!before.ok()) return before.status();
  ReadStreamOptions options{.from = from};
  if (to) {
    if (*to < from) return absl::OkStatus();
    options.max_count = to->value() - from.value() + 1;
  }
  auto it = store.ReadStream(stream, options);
  if (!it.ok()) return it.status();
  for (; (*it)->Valid(); (*it)->Next()) {
    const EventRecord& event = (*it)->record();
    if (absl::Status s = fold.Apply(*start->state, event); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("fold of ", stream, "@", event.revision.value(),
                                                 ": ", s.message()));
    }
    absl::StatusOr<Json> after = StateJson(fold, *start->state);
    if (!after.ok()) return after.status();
    absl::StatusOr<bool> go_on = step(event, *before, *after);
    if (!go_on.ok()) return go_on.status();
    if (!*go_on) return absl::OkStatus();
    *before = *std::move(after);
  }
  return (*it)->status();
}

std::vector<Change> Diff(const Json& before, const Json& after) {
  std::vector<Change> changes;
  DiffInto(before, after, "", changes);
  return changes;
}

Json ChangesToJson(const std::vector<Change>& changes) {
  Json out = Json::array();
  for (const Change& c : changes) {
    Json item = Json::object();
    item["path"] = c.path;
    item["op"] = c.kind == Change::Kind::kAdded     ? "added"
                 : c.kind == Change::Kind::kRemoved ? "removed"
                                                    : "changed";
    if (c.kind != Change::Kind::kAdded) item["before"] = c.before;
    if (c.kind != Change::Kind::kRemoved) item["after"] = c.after;
    out.push_back(std::move(item));
  }
  return out;
}

std::string FormatChanges(const std::vector<Change>& changes, bool color) {
  std::string out;
  for (const Change& c : changes) {
    const char* paint = "";
    std::string line;
    switch (c.kind) {
      case Change::Kind::kAdded:
        paint = "\033[32m";
        line = absl::StrCat("  + ", c.path, ": ", Dump(c.after));
        break;
      case Change::Kind::kRemoved:
        paint = "\033[31m";
        line = absl::StrCat("  - ", c.path, ": ", Dump(c.before));
        break;
      case Change::Kind::kChanged:
        paint = "\033[33m";
        line = absl::StrCat("  ~ ", c.path, ": ", Dump(c.before), " -> ", Dump(c.after));
        break;
    }
    absl::StrAppend(&out, color ? paint : "", line, color ? "\033[0m" : "", "\n");
  }
  return out;
}

absl::StatusOr<Predicate> Predicate::Parse(std::string_view text) {
  Predicate p;
  p.text_ = std::string(text);
  std::string_view rest = Strip(text);
  if (rest.empty() || rest.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("predicate '", std::string(text),
                     "' must start with a JSON pointer, e.g. '/total_cents > 1000'"));
  }
  size_t end = rest.find_first_of(" \t=!<>");
  p.pointer_ = std::string(rest.substr(0, end));
  rest = end == std::string_view::npos ? "" : Strip(rest.substr(end));
  try {
    (void)Json::json_pointer(p.pointer_);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad JSON pointer '", p.pointer_, "': ", e.what()));
  }
  if (rest.empty()) return p;
  for (std::string_view op : {">=", "<=", "==", "!=", "<", ">"}) {
    if (rest.starts_with(op)) {
      p.op_ = std::string(op);
      break;
    }
  }
  if (p.op_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "predicate '", std::string(text), "': expected one of == != < <= > >= after the pointer"));
  }
  std::string_view literal = Strip(rest.substr(p.op_.size()));
  if (literal.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("predicate '", std::string(text), "' has no value to compare with"));
  }
  p.value_ = Json::parse(literal, nullptr, false);
  if (p.value_.is_discarded()) p.value_ = std::string(literal);  // a bare word: a string
  return p;
}

bool Predicate::Holds(const Json& state) const {
  const Json::json_pointer pointer(pointer_);
  const Json* actual = nullptr;
  try {
    if (state.contains(pointer)) actual = &state.at(pointer);
  } catch (const Json::exception&) {
    actual = nullptr;
  }
  if (op_.empty()) return actual != nullptr && !actual->is_null() && *actual != false;
  if (actual == nullptr) return op_ == "!=";
  const std::optional<double> a = AsNumber(*actual), b = AsNumber(value_);
  if (op_ == "==" || op_ == "!=") {
    const bool equal = (a && b) ? *a == *b : *actual == value_;
    return (op_ == "==") == equal;
  }
  int order = 0;
  if (a && b) {
    order = *a < *b ? -1 : *a > *b ? 1 : 0;
  } else if (actual->is_string() && value_.is_string()) {
    order = actual->get<std::string>().compare(value_.get<std::string>());
  } else {
    return false;
  }
  if (op_ == "<") return order < 0;
  if (op_ == "<=") return order <= 0;
  if (op_ == ">") return order > 0;
  return order >= 0;
}

}  // namespace annals::tool
