// Test-only: what the fuzz targets (tests/fuzz/*_fuzz.cc) share. Each target
// defines LLVMFuzzerTestOneInput; libFuzzer drives it in a fuzz build
// (ANNALS_FUZZ=ON), regress_main.cc replays the committed inputs in every
// other build. A broken property is reported and aborts, so both see it as
// a crash (assert would vanish under NDEBUG).
#ifndef ANNALS_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define ANNALS_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "annals/event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define ANNALS_FUZZ_CHECK(condition)                                                             \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

namespace annals::fuzz {

// The first field in which `a` and `b` differ; "" if they are equal.
inline std::string RecordDifference(const EventRecord& a, const EventRecord& b) {
  if (a.stream != b.stream) return "stream";
  if (a.revision != b.revision) return "revision";
  if (a.position != b.position) return "position";
  if (a.recorded_at != b.recorded_at) return "recorded_at";
  if (a.type != b.type) return "type";
  if (a.data != b.data) return "data";
  if (a.content_type != b.content_type) return "content_type";
  if (a.metadata != b.metadata) return "metadata";
  if (a.event_id != b.event_id) return "event_id";
  if (a.correlation_id != b.correlation_id) return "correlation_id";
  if (a.causation_id != b.causation_id) return "causation_id";
  return "";
}

}  // namespace annals::fuzz

#define ANNALS_FUZZ_CHECK_SAME_RECORD(a, b)                                                   \
  do {                                                                                        \
    const std::string difference = ::annals::fuzz::RecordDifference((a), (b));                \
    if (!difference.empty()) {                                                                \
      std::fprintf(stderr, "%s:%d: fuzz property broken: %s and %s differ in %s\n", __FILE__, \
                   __LINE__, #a, #b, difference.c_str());                                     \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

#endif  // ANNALS_TESTS_FUZZ_FUZZ_SUPPORT_H_
