// The NATS JetStream source (annals/follow.h): the relayed log read back in
// stream order through an ordered consumer (ephemeral, flow-controlled, no
// acks; libnats recreates it after a gap or a reconnect), each message
// decoded into the EventRecord the relay published (its headers, body).
#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "annals/follow.h"
#include "annals/relay.h"
#include "nats_connection.h"

namespace annals::relay {
namespace {

const char* Header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  return natsMsgHeader_Get(msg, key, &value) == NATS_OK ? value : nullptr;
}

// The store and position headers of a message; FailedPrecondition if it is
// not an annals event.
absl::Status StoreAndPosition(natsMsg* msg, uint64_t seq, std::string* store, uint64_t* position) {
  const char* from = Header(msg, kStoreHeader);
  const char* text = Header(msg, kPositionHeader);
  if (from == nullptr || text == nullptr || !absl::SimpleAtoi(text, position) || *position == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("message ", seq, " of the JetStream stream is not an annals event (no ",
                     kStoreHeader, "/", kPositionHeader, " header)"));
  }
  *store = from;
  return absl::OkStatus();
}

// A relayed message back into the event the relay published.
absl::StatusOr<EventRecord> Decode(natsMsg* msg, uint64_t seq, std::string_view store_id) {
  std::string from;
  uint64_t position = 0;
  if (absl::Status s = StoreAndPosition(msg, seq, &from, &position); !s.ok()) return s;
  if (from != store_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("message ", seq, " of the JetStream stream is an event of store ", from,
                     ", not of ", std::string(store_id), " (the store this replica copies)"));
  }
  auto bad = [&](const char* header) {
    return absl::FailedPreconditionError(absl::StrCat("message ", seq, " (position ", position,
                                                      "): header ", header,
                                                      " is missing or malformed"));
  };
  EventRecord e;
  e.position = Position(position);
  auto text = [&](const char* key, bool required, std::string* out) {
    const char* value = Header(msg, key);
    if (value == nullptr) return !required;
    std::optional<std::string> decoded = DecodeHeaderValue(value);
    if (!decoded) return false;
    *out = *std::move(decoded);
    return true;
  };
  if (!text(kStreamHeader, true, &e.stream)) return bad(kStreamHeader);
  if (!text(kTypeHeader, true, &e.type)) return bad(kTypeHeader);
  if (!text(kContentTypeHeader, false, &e.content_type)) return bad(kContentTypeHeader);
  if (!text(kCorrelationIdHeader, false, &e.correlation_id)) return bad(kCorrelationIdHeader);
  if (!text(kCausationIdHeader, false, &e.causation_id)) return bad(kCausationIdHeader);
  uint64_t revision = 0;
  const char* revision_text = Header(msg, kRevisionHeader);
  if (revision_text == nullptr || !absl::SimpleAtoi(revision_text, &revision)) {
    return bad(kRevisionHeader);
  }
  e.revision = Revision(revision);
  const char* id = Header(msg, kEventIdHeader);
  std::optional<EventId> event_id = id != nullptr ? EventId::Parse(id) : std::nullopt;
  if (!event_id) return bad(kEventIdHeader);
  e.event_id = *event_id;
  const char* recorded = Header(msg, kRecordedAtHeader);
  std::string error;
  if (recorded == nullptr ||
      !absl::ParseTime(absl::RFC3339_full, recorded, &e.recorded_at, &error)) {
    return bad(kRecordedAtHeader);
  }
  if (const char* metadata = Header(msg, kMetadataHeader); metadata != nullptr) {
    std::optional<std::map<std::string, std::string>> decoded = DecodeMetadata(metadata);
    if (!decoded) return bad(kMetadataHeader);
    e.metadata = *std::move(decoded);
  }
  e.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  return e;
}

class NatsSource final : public Source {
 public:
  explicit NatsSource(NatsSourceOptions options) : options_(std::move(options)) {}
  ~NatsSource() override { Unsubscribe(); }

  absl::Status Open() {
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = absl::ToInt64Milliseconds(options_.request_wait);
    absl::StatusOr<std::unique_ptr<NatsConnection>> nats =
        NatsConnection::Open(options_.url, &js_options);
    if (!nats.ok()) return nats.status();
    nats_ = *std::move(nats);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> StoreId() override {
    absl::StatusOr<NatsConnection::StreamState> state = nats_->State(options_.stream);
    if (absl::IsNotFound(state.status())) return std::nullopt;
    if (!state.ok()) return state.status();
    if (state->messages == 0) return std::nullopt;
    absl::StatusOr<MsgPtr> first = nats_->GetMsg(options_.stream, state->first_seq);
    if (!first.ok()) return first.status();
    std::string store;
    uint64_t position = 0;
    if (absl::Status s = StoreAndPosition(first->get(), state->first_seq, &store, &position);
        !s.ok()) {
      return s;
    }
    return store;
  }

  absl::StatusOr<Position> Last() override {
    absl::StatusOr<NatsConnection::StreamState> state = nats_->State(options_.stream);
    if (absl::IsNotFound(state.status())) return Position(0);
    if (!state.ok()) return state.status();
    if (state->messages == 0) return Position(0);
    absl::StatusOr<MsgPtr> last = nats_->GetMsg(options_.stream, state->last_seq);
    if (!last.ok()) return last.status();
    std::string store;
    uint64_t position = 0;
    if (absl::Status s = StoreAndPosition(last->get(), state->last_seq, &store, &position);
        !s.ok()) {
      return s;
    }
    return Position(position);
  }

  absl::Status Seek(std::string_view store_id, Position after) override {
    Unsubscribe();
    store_id_ = std::string(store_id);
    reconnects_at_seek_ = nats_->Reconnects();
    absl::StatusOr<NatsConnection::StreamState> state = nats_->State(options_.stream);
    if (absl::IsNotFound(state.status())) {
      // Nothing relayed yet: the relay creates the stream. Try again later.
      return absl::UnavailableError(state.status().message());
    }
    if (!state.ok()) return state.status();
    // The first sequence whose event lies after `after`: a binary search
    // over the stream (positions increase with sequences).
    uint64_t lo = state->first_seq;
    uint64_t hi = state->last_seq + 1;  // one past: nothing there yet
    if (state->messages == 0) lo = hi = state->last_seq + 1;
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      absl::StatusOr<uint64_t> position = PositionAt(mid);
      if (!position.ok()) return position.status();
      if (*position > after.value()) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    // The stream's retention may have dropped what the replica lacks.
    if (lo == state->first_seq && state->first_seq > 1 && after.value() > 0) {
      // The replica stands at `after`; the stream starts later than it: is
      // the event just after it still there? Only if the message before the
      // first one was at or before `after`, which the stream can no longer
      // say: refuse rather than skip events.
      return absl::FailedPreconditionError(absl::StrCat(
          "JetStream stream '", options_.stream, "' no longer holds the events after position ",
          after.value(), " (its first message is sequence ", state->first_seq,
          "): its retention dropped them; rebuild the replica from the stream's start"));
    }
    if (lo == state->first_seq && state->first_seq > 1 && after.value() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("JetStream stream '", options_.stream, "' no longer holds the log's start ",
                       "(its first message is sequence ", state->first_seq,
                       "): a replica cannot be built from it"));
    }
    next_seq_ = lo;
    jsSubOptions sub_options;
    jsSubOptions_Init(&sub_options);
    sub_options.Stream = options_.stream.c_str();
    sub_options.Ordered = true;
    sub_options.Config.DeliverPolicy = js_DeliverByStartSequence;
    sub_options.Config.OptStartSeq = next_seq_;
    const std::string subjects = absl::StrCat(options_.subject_prefix, ".>");
    jsErrCode js_error{};
    const natsStatus s =
        js_SubscribeSync(&sub_, nats_->js(), subjects.c_str(), nullptr, &sub_options, &js_error);
    if (s != NATS_OK) {
      sub_ = nullptr;
      return NatsUnavailable("subscribe to the JetStream stream", s, js_error);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<EventRecord>> Next(absl::Duration wait) override {
    if (sub_ == nullptr) return absl::FailedPreconditionError("Next before Seek");
    natsMsg* raw = nullptr;
    const natsStatus s =
        natsSubscription_NextMsg(&raw, sub_, std::max<int64_t>(1, absl::ToInt64Milliseconds(wait)));
    if (s == NATS_TIMEOUT) {
      if (nats_->Reconnects() != reconnects_at_seek_) {
        return absl::UnavailableError("lost the connection to the broker (reconnecting)");
      }
      return std::nullopt;
    }
    if (s != NATS_OK) return NatsUnavailable("read the JetStream stream", s);
    MsgPtr msg(raw);
    uint64_t seq = next_seq_;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg.get()) == NATS_OK) {
      seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    next_seq_ = seq + 1;
    absl::StatusOr<EventRecord> event = Decode(msg.get(), seq, store_id_);
    if (!event.ok()) return event.status();
    return std::optional<EventRecord>(*std::move(event));
  }

 private:
  absl::StatusOr<uint64_t> PositionAt(uint64_t seq) {
    absl::StatusOr<MsgPtr> msg = nats_->GetMsg(options_.stream, seq);
    if (!msg.ok()) return msg.status();
    std::string store;
    uint64_t position = 0;
    if (absl::Status s = StoreAndPosition(msg->get(), seq, &store, &position); !s.ok()) return s;
    if (store != store_id_) {
      return absl::FailedPreconditionError(
          absl::StrCat("message ", seq, " of the JetStream stream is an event of store ", store,
                       ", not of ", store_id_, " (the store this replica copies)"));
    }
    return position;
  }

  void Unsubscribe() {
    if (sub_ == nullptr) return;
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }

  const NatsSourceOptions options_;
  std::unique_ptr<NatsConnection> nats_;
  natsSubscription* sub_ = nullptr;
  std::string store_id_;
  uint64_t next_seq_ = 0;  // the stream sequence expected next (for messages)
  uint64_t reconnects_at_seek_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> OpenNatsSource(const NatsSourceOptions& options) {
  if (absl::Status s = CheckStreamName(options.stream); !s.ok()) return s;
  if (absl::Status s = CheckSubjectPrefix(options.subject_prefix); !s.ok()) return s;
  if (options.request_wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_wait must be > 0");
  }
  auto source = std::make_unique<NatsSource>(options);
  if (absl::Status opened = source->Open(); !opened.ok()) return opened;
  return std::unique_ptr<Source>(std::move(source));
}

}  // namespace annals::relay
