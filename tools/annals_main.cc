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
    "       annals verify STORE\n";

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
              << absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", r.recorded_at, absl::UTCTimeZone())
              << "\t" << r.type << "\t" << r.event_id << "\t" << PrintableData(r.data) << "\n";
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
  if (command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  return Usage("unknown subcommand '" + command + "'");
}
