// Internal: Scavenge, the physical removal of events that deletes,
// tombstones and retention hide (KurrentDB's scavenge). Per stream it
// deletes the hidden events' `log` and `stream_events` keys, their index
// and event-id entries, in batches committed while no append group is
// (Writer::RunExclusive); the stream's record keeps its head, so numbering
// survives. Then it compacts, so the space really is returned.
#ifndef ANNALS_ENGINE_SCAVENGE_H_
#define ANNALS_ENGINE_SCAVENGE_H_

#include "absl/status/statusor.h"
#include "annals/options.h"
#include "annals/streams.h"
#include "storage.h"
#include "writer.h"

namespace annals::internal {

absl::StatusOr<ScavengeResult> Scavenge(Storage& storage, Writer& writer,
                                        const StoreOptions& options,
                                        const ScavengeOptions& scavenge);

}  // namespace annals::internal

#endif  // ANNALS_ENGINE_SCAVENGE_H_
