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

// The payload of (stream, revision), so the checker knows every byte: a
// small JSON document for most events, raw bytes (every value, NUL
// included) for one in seven, and 1 MiB for one in 400.
inline std::string CrashPayload(const std::string& stream, uint64_t revision) {
  if (revision % 400 == 200) {
    std::string large(1 << 20, '\0');
    uint64_t x = Fnv1a64(stream, revision);
    for (size_t i = 0; i < large.size(); i += 8) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      for (size_t k = 0; k < 8 && i + k < large.size(); ++k)
        large[i + k] = static_cast<char>(x >> (8 * k));
    }
    return large;
  }
  if (revision % 7 == 3) {
    std::string bytes(64 + Fnv1a64(stream, revision) % 900, '\0');
    for (size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<char>((i * 31 + revision) & 0xff);
    return bytes;
  }
  return "{\"stream\":\"" + stream + "\",\"revision\":" + std::to_string(revision) + "}";
}

inline std::string CrashContentType(uint64_t revision) {
  return revision % 7 == 3 || revision % 400 == 200 ? "application/octet-stream"
                                                    : "application/json";
}

}  // namespace annals::crash

#endif  // ANNALS_TESTS_CRASH_CRASH_COMMON_H_
