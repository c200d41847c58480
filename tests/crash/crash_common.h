// Shared by the crash test's writer and checker: the deterministic event id
// of (stream, revision), so the checker knows which event belongs where.
#ifndef ANNALS_TESTS_CRASH_CRASH_COMMON_H_
#define ANNALS_TESTS_CRASH_CRASH_COMMON_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "annals/types.h"

namespace annals::crash {

inline uint64_t Fnv1a64(std::string_view text, uint64_t seed) {
  uint64_t hash = 14695981039346656037ull ^ seed;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

inline EventId CrashEventId(const std::string& stream, uint64_t revision) {
  const std::string key = stream + "#" + std::to_string(revision);
  const uint64_t a = Fnv1a64(key, 0), b = Fnv1a64(key, 0x9e3779b97f4a7c15ull);
  std::array<uint8_t, 16> bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<uint8_t>(a >> (8 * i));
    bytes[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  bytes[0] |= 1;  // never the nil id
  return EventId(bytes);
}

}  // namespace annals::crash

#endif  // ANNALS_TESTS_CRASH_CRASH_COMMON_H_
