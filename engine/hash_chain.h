// Internal: the tamper-evident hash chain over the log (docs/FORMAT.md). Each
// stored event's value ends with
//   chain_hash = SHA-256(previous chain_hash || SHA-256(the value's bytes before the hash field))
// Position 1 uses 32 zero bytes as "previous". The inner digest is what
// Scavenge keeps of a removed event, so the chain stays checkable across the
// gap. Events written before format 5 used SHA-256(previous || bytes)
// (ComputeChainHashV1); `chain/digest_from` in `meta` says where the
// digest scheme begins.
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

// SHA-256 of an event's hashed bytes.
ChainHash EventDigest(std::string_view hashed_bytes);
// SHA-256(previous || digest): one link of the chain.
ChainHash ChainStep(const ChainHash& previous, const ChainHash& digest);
// ChainStep(previous, EventDigest(hashed_bytes)): the chain hash of an event.
ChainHash ComputeChainHash(const ChainHash& previous, std::string_view hashed_bytes);
// The chain hash of an event written before format 5.
ChainHash ComputeChainHashV1(const ChainHash& previous, std::string_view hashed_bytes);

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
