// annals: the command-line tool. Subcommands so far:
//   annals info STORE                      head position and format version
//   annals read STORE [STREAM] [--backward] [--from N] [--limit N]
//                                          a stream, or $all without STREAM
// docs/CLI.md documents them. Uses the public API only.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "annals/event_store.h"

namespace {

// The payload as one TSV field: printable text as is, anything else
// (binary protobuf, tabs, newlines) as "base64:...".
std::string PrintableData(const std::string& data) {
  const bool printable = std::all_of(data.begin(), data.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;  // bytes >= 0x80 are UTF-8 text
  });
  return printable ? data : "base64:" + absl::Base64Escape(data);
}


constexpr char kUsage[] =
    "usage: annals info STORE\n"
    "       annals read STORE [STREAM] [--backward] [--from N] [--limit N]\n"
    "       annals verify STORE\n"
    "       annals streams STORE [--prefix P] [--limit N]\n"
    "       annals audit STORE [--stream S] [--category C] [--type T] [--correlation ID]\n"
    "                    [--causation ID] [--since TIME] [--until TIME] [--meta KEY=VALUE]\n"
    "                    [--limit N]   (TIME: RFC 3339, e.g. 2026-11-23T10:00:00Z)\n";

int Usage(const std::string& problem) {
  std::cerr << "annals: " << problem << "\n" << kUsage;
  return 2;
}

int Fail(const absl::Status& status) {
  std::cerr << "annals: " << status << "\n";
  return 1;
}

// Every command only reads: open read-only, so the tool works beside an
// application that has the store open for writing.
absl::StatusOr<std::unique_ptr<annals::EventStore>> OpenExisting(const std::string& path) {
  annals::StoreOptions options;  // create_if_missing = false
  options.read_only = true;
  return annals::EventStore::Open(path, options);
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

const char* StateName(annals::StreamState state) {
  switch (state) {
    case annals::StreamState::kActive:
      return "active";
    case annals::StreamState::kDeleted:
      return "deleted";
    case annals::StreamState::kTombstoned:
      return "tombstoned";
  }
  return "?";
}

int Streams(const std::vector<std::string>& args) {
  std::optional<std::string> path;
  annals::ListStreamsOptions options{.limit = std::numeric_limits<size_t>::max()};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--prefix" && i + 1 < args.size()) {
      options.prefix = args[++i];
    } else if (arg == "--limit") {
      if (i + 1 >= args.size() || !absl::SimpleAtoi(args[i + 1], &options.limit)) {
        return Usage("--limit needs a non-negative number");
      }
      ++i;
    } else if (arg.rfind("--", 0) == 0) {
      return Usage("unknown flag or missing value: " + arg);
    } else if (!path) {
      path = arg;
    } else {
      return Usage("unexpected argument " + arg);
    }
  }
  if (!path) return Usage("streams needs a STORE");
  auto store = OpenExisting(*path);
  if (!store.ok()) return Fail(store.status());
  auto streams = (*store)->ListStreams(options);
  if (!streams.ok()) return Fail(streams.status());
  std::cout << "stream\tlast_revision\tlast_position\tupdated_at\tstate\n";
  for (const annals::StreamInfo& s : *streams) {
    std::cout << s.stream << "\t" << s.last_revision << "\t" << s.last_position << "\t"
              << Utc(s.updated_at) << "\t" << StateName(s.state) << "\n";
  }
  return 0;
}

// Who did what when: the events matching every given criterion, read
// through the most selective index that applies (never a full scan when
// one does).
int Audit(const std::vector<std::string>& args) {
  std::optional<std::string> path, stream, category, type, correlation, causation, meta_key,
      meta_value;
  annals::ReadAllOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg.rfind("--", 0) == 0 && !has_value) return Usage(arg + " needs a value");
    if (arg == "--stream") {
      stream = args[++i];
    } else if (arg == "--category") {
      category = args[++i];
    } else if (arg == "--type") {
      type = args[++i];
    } else if (arg == "--correlation") {
      correlation = args[++i];
    } else if (arg == "--causation") {
      causation = args[++i];
    } else if (arg == "--since" || arg == "--until") {
      absl::Time t;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, args[i + 1], &t, &error)) {
        return Usage(arg + " needs an RFC 3339 time: " + error);
      }
      (arg == "--since" ? options.since : options.until) = t;
      ++i;
    } else if (arg == "--meta") {
      const std::string& kv = args[++i];
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return Usage("--meta needs KEY=VALUE");
      meta_key = kv.substr(0, eq);
      meta_value = kv.substr(eq + 1);
    } else if (arg == "--limit") {
      if (!absl::SimpleAtoi(args[i + 1], &options.max_count)) {
        return Usage("--limit needs a non-negative number");
      }
      ++i;
    } else if (arg.rfind("--", 0) == 0) {
      return Usage("unknown flag " + arg);
    } else if (!path) {
      path = arg;
    } else {
      return Usage("unexpected argument " + arg);
    }
  }
  if (!path) return Usage("audit needs a STORE");
  auto store = OpenExisting(*path);
  if (!store.ok()) return Fail(store.status());
  // Metadata and stream checks run here, so the limit applies after them.
  const uint64_t limit = options.max_count;
  const bool post_filter = meta_key.has_value() || stream.has_value();
  if (post_filter) options.max_count = std::numeric_limits<uint64_t>::max();
  if (category) options.filter.categories = {*category};
  if (type) options.filter.event_types = {*type};
  if (stream && !correlation && !causation) options.filter.stream_prefixes = {*stream};
  absl::StatusOr<std::unique_ptr<annals::EventIterator>> it;
  if (correlation) {
    it = (*store)->ReadCorrelation(*correlation, options);
  } else if (causation) {
    it = (*store)->ReadCausation(*causation, options);
  } else {
    it = (*store)->ReadAll(options);  // picks the category or type index when given
  }
  if (!it.ok()) return Fail(it.status());
  std::cout << "position\trecorded_at\tstream\trevision\ttype\tuser\tcorrelation_id\tcausation_id\n";
  uint64_t printed = 0;
  for (; (*it)->Valid() && printed < limit; (*it)->Next()) {
    const annals::EventRecord& r = (*it)->record();
    if (stream && r.stream != *stream) continue;
    if (causation && correlation && r.causation_id != *causation) continue;
    if (meta_key) {
      auto m = r.metadata.find(*meta_key);
      if (m == r.metadata.end() || m->second != *meta_value) continue;
    }
    auto user = r.metadata.find("user");
    std::cout << r.position << "\t" << Utc(r.recorded_at) << "\t" << r.stream << "\t"
              << r.revision << "\t" << r.type << "\t" << (user == r.metadata.end() ? "" : user->second)
              << "\t" << r.correlation_id << "\t" << r.causation_id << "\n";
    ++printed;
  }
  if (!(*it)->status().ok()) return Fail((*it)->status());
  return 0;
}

int Verify(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("verify takes exactly one STORE");
  auto store = OpenExisting(args[0]);
  if (!store.ok()) return Fail(store.status());
  auto report = (*store)->Verify();
  if (!report.ok()) return Fail(report.status());
  std::cout << "events_checked\t" << report->events_checked << "\nindex_entries_checked\t"
            << report->index_entries_checked << "\ngaps\t" << report->gaps << "\n";
  if (report->ok()) {
    std::cout << "result\tok\n";
    return 0;
  }
  std::cout << "result\tcorrupt\n";
  if (report->first_bad_position) std::cout << "first_bad_position\t" << *report->first_bad_position << "\n";
  std::cout << "problem\t" << report->problem << "\n";
  return 1;
}

int Info(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("info takes exactly one STORE");
  auto store = OpenExisting(args[0]);
  if (!store.ok()) return Fail(store.status());
  std::cout << "store\t" << args[0] << "\nformat_version\t" << annals::kFormatVersion
            << "\nhead_position\t" << (*store)->head() << "\n";
  return 0;
}

int Read(const std::vector<std::string>& args) {
  std::optional<std::string> path, stream;
  bool backward = false;
  std::optional<uint64_t> from;
  uint64_t limit = std::numeric_limits<uint64_t>::max();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--backward") {
      backward = true;
    } else if (arg == "--from" || arg == "--limit") {
      uint64_t value = 0;
      if (i + 1 >= args.size() || !absl::SimpleAtoi(args[i + 1], &value)) {
        return Usage(arg + " needs a non-negative number");
      }
      if (arg == "--from") {
        from = value;
      } else {
        limit = value;
      }
      ++i;
    } else if (arg.rfind("--", 0) == 0) {
      return Usage("unknown flag " + arg);
    } else if (!path) {
      path = arg;
    } else if (!stream) {
      stream = arg;
    } else {
      return Usage("unexpected argument " + arg);
    }
  }
  if (!path) return Usage("read needs a STORE");
  auto store = OpenExisting(*path);
  if (!store.ok()) return Fail(store.status());
  const annals::Direction direction =
      backward ? annals::Direction::kBackward : annals::Direction::kForward;
  absl::StatusOr<std::unique_ptr<annals::EventIterator>> it;
  if (stream) {
    annals::ReadStreamOptions options{.direction = direction, .max_count = limit};
    if (from) options.from = annals::Revision(*from);
    it = (*store)->ReadStream(*stream, options);
  } else {
    annals::ReadAllOptions options{.direction = direction, .max_count = limit};
    if (from) options.from = annals::Position(*from);
    it = (*store)->ReadAll(options);
  }
  if (!it.ok()) return Fail(it.status());
  std::cout << "position\tstream\trevision\trecorded_at\ttype\tevent_id\tdata\n";
  for (; (*it)->Valid(); (*it)->Next()) {
    const annals::EventRecord& r = (*it)->record();
    std::cout << r.position << "\t" << r.stream << "\t" << r.revision << "\t"
              << Utc(r.recorded_at) << "\t" << r.type << "\t" << r.event_id << "\t" << PrintableData(r.data) << "\n";
  }
  if (!(*it)->status().ok()) return Fail((*it)->status());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage("missing subcommand");
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "info") return Info(args);
  if (command == "read") return Read(args);
  if (command == "verify") return Verify(args);
  if (command == "streams") return Streams(args);
  if (command == "audit") return Audit(args);
  if (command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  return Usage("unknown subcommand '" + command + "'");
}
