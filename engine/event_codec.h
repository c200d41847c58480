// Internal: EventRecord <-> the StoredEvent value of `log` and
// `stream_events` (proto/annals/storage/v1/stored_event.proto).
#ifndef ANNALS_ENGINE_EVENT_CODEC_H_
#define ANNALS_ENGINE_EVENT_CODEC_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "annals/event.h"
#include "annals/storage/v1/stored_event.pb.h"
#include "hash_chain.h"

namespace annals::internal {

// Serializes `event` (whose chain_hash must be unset), then appends the chain
// hash over `previous` and those bytes. Returns the value; `*hash` receives
// the new chain hash.
std::string EncodeStoredEvent(const storage::v1::StoredEvent& event, const ChainHash& previous,
                              ChainHash* hash);

// Decodes a stored value into `*record`, reusing the capacity of its
// strings. DataLoss if the bytes do not parse.
absl::Status DecodeStoredEvent(std::string_view value, EventRecord* record);

absl::Time FromMicros(int64_t micros);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_EVENT_CODEC_H_
