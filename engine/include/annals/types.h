// annals/types.h: the value types every other header uses. Revision (a 0-based
// index inside a stream), Position (a 1-based index in the global log),
// ExpectedRevision (the optimistic-concurrency check of an append) and EventId.
// Read annals/event_store.h first for how they fit together.
#ifndef ANNALS_TYPES_H_
#define ANNALS_TYPES_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include "annals/export.h"

namespace annals {

// 0-based index of an event inside its stream. Never mixed with Position.
// Thread-compatible value type.
class ANNALS_EXPORT Revision {
 public:
  constexpr Revision() = default;
  constexpr explicit Revision(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr Revision Next() const { return Revision(value_ + 1); }
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend constexpr auto operator<=>(Revision, Revision) = default;

 private:
  uint64_t value_ = 0;
};

// 1-based index of an event in the global log ($all). Appends take every
// position from 1 up to EventStore::head() in order, none skipped; a
// position stays empty only where Scavenge removed its event (or a repair
// could not recover it), so a reader must not assume `head() - from + 1`
// events. Position 0 means "before the first event" (an empty store's
// head). Thread-compatible value type.
class ANNALS_EXPORT Position {
 public:
  constexpr Position() = default;
  constexpr explicit Position(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr Position Next() const { return Position(value_ + 1); }
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend constexpr auto operator<=>(Position, Position) = default;

 private:
  uint64_t value_ = 0;
};

ANNALS_EXPORT std::ostream& operator<<(std::ostream& os, Revision revision);
ANNALS_EXPORT std::ostream& operator<<(std::ostream& os, Position position);

// The condition an append places on the stream's current state, checked
// atomically with the write (KurrentDB semantics). Thread-compatible.
class ANNALS_EXPORT ExpectedRevision {
 public:
  enum class Kind { kAny, kNoStream, kStreamExists, kExact };

  // No check: append whatever the stream's state (idempotency by event id is
  // best effort).
  static constexpr ExpectedRevision Any() { return ExpectedRevision(Kind::kAny, 0); }
  // The stream must not exist ("pristine").
  static constexpr ExpectedRevision NoStream() { return ExpectedRevision(Kind::kNoStream, 0); }
  // The stream must have at least one event ("populated").
  static constexpr ExpectedRevision StreamExists() {
    return ExpectedRevision(Kind::kStreamExists, 0);
  }
  // The stream's last event must be at exactly `revision`.
  static constexpr ExpectedRevision Exact(Revision revision) {
    return ExpectedRevision(Kind::kExact, revision.value());
  }

  constexpr Kind kind() const { return kind_; }
  // REQUIRES: kind() == Kind::kExact.
  constexpr Revision revision() const { return Revision(revision_); }

  // KurrentDB's wire numbering: -2 any, -1 no stream, -4 stream exists, n exact.
  int64_t ToWireValue() const;
  // Inverse of ToWireValue; nullopt for a value with no meaning.
  static std::optional<ExpectedRevision> FromWireValue(int64_t value);
  // "any", "no_stream", "stream_exists" or the revision number.
  std::string ToString() const;

  friend constexpr bool operator==(ExpectedRevision, ExpectedRevision) = default;

 private:
  constexpr ExpectedRevision(Kind kind, uint64_t revision) : kind_(kind), revision_(revision) {}
  Kind kind_;
  uint64_t revision_;
};

ANNALS_EXPORT std::ostream& operator<<(std::ostream& os, ExpectedRevision expected);

// A 16-byte event id (a UUID). The nil id (all zeros) means "not set": the
// store then assigns a fresh UUIDv7. Thread-compatible value type.
class ANNALS_EXPORT EventId {
 public:
  constexpr EventId() = default;
  constexpr explicit EventId(const std::array<uint8_t, 16>& bytes) : bytes_(bytes) {}

  // A new random, time-ordered UUIDv7. Thread-safe.
  static EventId Generate();
  // Parses the canonical 36-character form or 32 hex digits; nullopt otherwise.
  static std::optional<EventId> Parse(std::string_view text);
  // From exactly 16 raw bytes; nullopt for another length.
  static std::optional<EventId> FromBytes(std::string_view bytes);

  bool is_nil() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  std::string_view AsBytes() const {
    return std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
  }
  // The canonical form, e.g. "0190f3c4-7b1e-7c3a-9d2f-0a1b2c3d4e5f".
  std::string ToString() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend constexpr auto operator<=>(const EventId&, const EventId&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const EventId& id) {
    return H::combine(std::move(h), id.bytes_);
  }

 private:
  std::array<uint8_t, 16> bytes_{};
};

ANNALS_EXPORT std::ostream& operator<<(std::ostream& os, const EventId& id);

// The category of a stream: the part of its name before the first '-'
// ("order-42" -> "order"); the whole name when it has no '-'.
ANNALS_EXPORT std::string_view CategoryOf(std::string_view stream);

}  // namespace annals

#endif  // ANNALS_TYPES_H_
