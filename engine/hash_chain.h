// Internal: the tamper-evident hash chain over the log. Each stored event's
// value ends with chain_hash = SHA-256(previous chain_hash || the value's
// bytes before the hash field). Position 1 uses 32 zero bytes as "previous".
#ifndef ANNALS_ENGINE_HASH_CHAIN_H_
#define ANNALS_ENGINE_HASH_CHAIN_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace annals::internal {

using ChainHash = std::array<uint8_t, 32>;

// The "previous hash" of the first event.
inline constexpr ChainHash kGenesisChainHash{};

// Bytes of the trailing chain_hash field: tag (field 15, length-delimited),
// length (32), digest.
inline constexpr size_t kChainHashFieldSize = 34;
inline constexpr uint8_t kChainHashTag = (15 << 3) | 2;

ChainHash ComputeChainHash(const ChainHash& previous, std::string_view hashed_bytes);

// Appends the chain_hash field holding `hash` to `value`.
void AppendChainHashField(const ChainHash& hash, std::string* value);

// Splits a stored value into (bytes covered by the hash, stored hash).
// nullopt if the value does not end with a well-formed chain_hash field.
struct SplitValue {
  std::string_view hashed_bytes;
  ChainHash stored_hash;
};
std::optional<SplitValue> SplitStoredValue(std::string_view value);

std::string ChainHashToHex(const ChainHash& hash);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_HASH_CHAIN_H_
