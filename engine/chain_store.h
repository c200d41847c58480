// Internal: the hash chain as the store keeps it (docs/FORMAT.md, "The chain
// hash" and "What Scavenge keeps"): which scheme each position was chained
// with, and the chain carried across the events Scavenge removed, whose
// digests (or, for events older than format 5, chain hashes) stay in `meta`.
// Shared by Recover (the head after a reopen), Verify and ReadChainHead.
#ifndef ANNALS_ENGINE_CHAIN_STORE_H_
#define ANNALS_ENGINE_CHAIN_STORE_H_

#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/status/statusor.h"
#include "annals/types.h"
#include "hash_chain.h"
#include "rocksdb/db.h"
#include "storage.h"

namespace annals::internal {

// The first position chained over its event's digest; positions before it
// use ComputeChainHashV1. A store without the key (written by a version
// that did not chain over digests) is all V1: the largest position.
absl::StatusOr<Position> ReadDigestFrom(Storage& storage, const rocksdb::ReadOptions& read_options);

// The chain hash of the event at `position` with hashed bytes `hashed_bytes`.
ChainHash ChainHashAt(const ChainHash& previous, std::string_view hashed_bytes, Position position,
                      Position digest_from);

// The chain carried from the hash `from` (of position `after`, 0 for the
// genesis) across the removed events in (after, before).
struct Carried {
  ChainHash hash;
  // Removed events found, and whether each is one (complete) and each link
  // could be checked (proven: digests, not older events' chain hashes).
  uint64_t removed = 0;
  bool complete = true;
  bool proven = true;
  int64_t last_recorded_at_us = 0;
  Position last;  // the last removed position found (`after` if none)
};
// `visit(position, hash)` sees the chain hash after each removed position.
absl::StatusOr<Carried> CarryOverRemoved(
    Storage& storage, const rocksdb::ReadOptions& read_options, const ChainHash& from,
    Position after, Position before,
    const std::function<void(Position, const ChainHash&)>& visit = nullptr);

// The head of the log as stored: the last event's position and chain hash,
// carried over the removed events after it and past positions lost in a
// repair (never used again). nullopt fields for an empty log.
struct StoredHead {
  Position head;                        // the largest position ever used
  ChainHash chain = kGenesisChainHash;  // the chain hash new events follow
  int64_t last_recorded_at_us = 0;
};
absl::StatusOr<StoredHead> ReadStoredHead(Storage& storage,
                                          const rocksdb::ReadOptions& read_options);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_CHAIN_STORE_H_
