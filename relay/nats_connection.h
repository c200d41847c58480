// Internal to relay/: one connection to a NATS server with its JetStream
// context, shared by the sink (the relay) and the source (annals follow).
// It reconnects in the background for ever; callers notice a lost
// connection by Reconnects() and start over from the broker's state.
#ifndef ANNALS_RELAY_NATS_CONNECTION_H_
#define ANNALS_RELAY_NATS_CONNECTION_H_

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace annals::relay {

// libnats's text for `s` (and the JetStream error code, and its last error).
std::string NatsError(natsStatus s, jsErrCode js = static_cast<jsErrCode>(0));
// Unavailable: `what` failed with `s`.
absl::Status NatsUnavailable(std::string_view what, natsStatus s,
                             jsErrCode js = static_cast<jsErrCode>(0));

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// A JetStream stream name: non-empty, without `.`, `*`, `>` or whitespace.
absl::Status CheckStreamName(std::string_view stream);
// A subject prefix: a NATS subject without wildcards.
absl::Status CheckSubjectPrefix(std::string_view prefix);

class NatsConnection {
 public:
  // Connects to `url` (2 s connect timeout) and opens a JetStream context
  // with `js_options` (may be null). Unavailable if the server cannot be
  // reached; InvalidArgument for a bad URL.
  static absl::StatusOr<std::unique_ptr<NatsConnection>> Open(const std::string& url,
                                                              jsOptions* js_options);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  natsConnection* conn() const { return conn_; }
  jsCtx* js() const { return js_; }
  // How often the connection was re-established, plus one while it is down:
  // a change means whatever was in flight is lost.
  uint64_t Reconnects() const;
  // The stream's message count and first and last sequence; NotFound if it
  // does not exist.
  struct StreamState {
    uint64_t messages = 0;
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;
  };
  absl::StatusOr<StreamState> State(const std::string& stream) const;
  // The message at `seq` of `stream`.
  absl::StatusOr<MsgPtr> GetMsg(const std::string& stream, uint64_t seq) const;

 private:
  NatsConnection() = default;

  natsOptions* options_ = nullptr;
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace annals::relay

#endif  // ANNALS_RELAY_NATS_CONNECTION_H_
