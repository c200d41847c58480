#include "annals/types.h"

#include <atomic>
#include <cstdio>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/streams.h"

namespace annals {

std::ostream& operator<<(std::ostream& os, Revision revision) { return os << revision.value(); }
std::ostream& operator<<(std::ostream& os, Position position) { return os << position.value(); }

int64_t ExpectedRevision::ToWireValue() const {
  switch (kind_) {
    case Kind::kAny:
      return -2;
    case Kind::kNoStream:
      return -1;
    case Kind::kStreamExists:
      return -4;
    case Kind::kExact:
      return static_cast<int64_t>(revision_);
  }
  return -2;
}

std::optional<ExpectedRevision> ExpectedRevision::FromWireValue(int64_t value) {
  if (value >= 0) return Exact(Revision(static_cast<uint64_t>(value)));
  if (value == -1) return NoStream();
  if (value == -2) return Any();
  if (value == -4) return StreamExists();
  return std::nullopt;
}

std::string ExpectedRevision::ToString() const {
  switch (kind_) {
    case Kind::kAny:
      return "any";
    case Kind::kNoStream:
      return "no_stream";
    case Kind::kStreamExists:
      return "stream_exists";
    case Kind::kExact:
      return absl::StrCat(revision_);
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, ExpectedRevision expected) {
  return os << expected.ToString();
}

EventId EventId::Generate() {
  // UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random bits.
  // Time-ordered ids keep the event_ids column family's inserts near its end.
  // Seeded per thread from the OS. (Not absl::BitGen: Debian's uninstrumented
  // absl random pool shows up as a data race under TSan.)
  thread_local std::mt19937_64 gen = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  std::array<uint8_t, 16> b;
  uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  for (int i = 5; i >= 0; --i) {
    b[i] = static_cast<uint8_t>(millis & 0xff);
    millis >>= 8;
  }
  uint64_t r1 = gen();
  uint64_t r2 = gen();
  for (int i = 6; i < 16; ++i) {
    b[i] = static_cast<uint8_t>((i < 11 ? r1 : r2) >> (8 * (i % 5)));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x70);  // version 7
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC variant
  return EventId(b);
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<EventId> EventId::Parse(std::string_view text) {
  std::string hex;
  if (text.size() == 36) {
    for (size_t i = 0; i < text.size(); ++i) {
      bool dash_slot = (i == 8 || i == 13 || i == 18 || i == 23);
      if (dash_slot != (text[i] == '-')) return std::nullopt;
      if (!dash_slot) hex.push_back(text[i]);
    }
  } else if (text.size() == 32) {
    hex = std::string(text);
  } else {
    return std::nullopt;
  }
  std::array<uint8_t, 16> b;
  for (size_t i = 0; i < 16; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    b[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return EventId(b);
}

std::optional<EventId> EventId::FromBytes(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  std::array<uint8_t, 16> b;
  for (int i = 0; i < 16; ++i) b[i] = static_cast<uint8_t>(bytes[i]);
  return EventId(b);
}

bool EventId::is_nil() const {
  for (uint8_t byte : bytes_) {
    if (byte != 0) return false;
  }
  return true;
}

std::string EventId::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes_[i] >> 4]);
    out.push_back(kHex[bytes_[i] & 0xf]);
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const EventId& id) { return os << id.ToString(); }

std::string_view CategoryOf(std::string_view stream) {
  size_t dash = stream.find('-');
  return dash == std::string_view::npos ? stream : stream.substr(0, dash);
}

std::string ChainHead::ToString() const {
  return absl::StrCat(position.value(), ":", absl::BytesToHexString(hash));
}

std::optional<ChainHead> ChainHead::Parse(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  uint64_t position = 0;
  const std::string_view hex = text.substr(colon + 1);
  if (!absl::SimpleAtoi(std::string(text.substr(0, colon)), &position) || hex.size() != 64) {
    return std::nullopt;
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return ChainHead{Position(position), absl::HexStringToBytes(std::string(hex))};
}

}  // namespace annals
