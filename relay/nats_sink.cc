// The NATS JetStream sink (annals/relay.h) over libnats: every event one
// message on its stream's subject, with Nats-Msg-Id `<store id>/<position>`
// (the broker drops a repeat within its duplicate window) and the expected
// last message id of the one before (the broker refuses a publish that does
// not follow it: a second or stale relay is fenced out, whatever the window).
// Publishes are asynchronous, at most max_in_flight unacknowledged.
#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "annals/base/mutex.h"
#include "annals/relay.h"
#include "nats_connection.h"

namespace annals::relay {
namespace {

std::string Rfc3339Micros(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

class NatsSink final : public Sink {
 public:
  explicit NatsSink(NatsSinkOptions options) : options_(std::move(options)) {}

  ~NatsSink() override {
    if (nats_ != nullptr) DropPending();
  }

  absl::Status Open() {
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = absl::ToInt64Milliseconds(options_.ack_wait);
    js_options.PublishAsync.MaxPending = options_.max_in_flight;
    js_options.PublishAsync.StallWait = absl::ToInt64Milliseconds(options_.ack_wait);
    js_options.PublishAsync.AckHandler = &NatsSink::OnAck;
    js_options.PublishAsync.AckHandlerClosure = this;
    absl::StatusOr<std::unique_ptr<NatsConnection>> nats =
        NatsConnection::Open(options_.url, &js_options);
    if (!nats.ok()) return nats.status();
    nats_ = *std::move(nats);
    js_ = nats_->js();
    return EnsureStream();
  }

  absl::StatusOr<Resumed> Resume(std::string_view store_id) override {
    DropPending();
    {
      internal::MutexLock lock(&mu_);
      error_ = absl::OkStatus();
    }
    store_id_ = std::string(store_id);
    reconnects_at_resume_ = nats_->Reconnects();
    absl::StatusOr<NatsConnection::StreamState> state = nats_->State(options_.stream);
    if (absl::IsNotFound(state.status())) {
      if (absl::Status made = EnsureStream(); !made.ok()) return made;
      state = nats_->State(options_.stream);
    }
    if (!state.ok()) return state.status();
    expected_last_id_.clear();
    if (state->messages == 0) return Resumed{};
    const uint64_t last_seq = state->last_seq;
    absl::StatusOr<MsgPtr> got = nats_->GetMsg(options_.stream, last_seq);
    if (!got.ok()) return got.status();
    MsgPtr last = *std::move(got);
    const char* from = nullptr;
    const char* position_text = nullptr;
    if (natsMsgHeader_Get(last.get(), kStoreHeader, &from) != NATS_OK ||
        natsMsgHeader_Get(last.get(), kPositionHeader, &position_text) != NATS_OK) {
      return absl::FailedPreconditionError(
          absl::StrCat("JetStream stream '", options_.stream, "': its last message (sequence ",
                       last_seq, ") is not an annals event (no ", kStoreHeader, "/",
                       kPositionHeader, " header); relay into a stream of annals events only"));
    }
    if (store_id_ != from) {
      return absl::FailedPreconditionError(absl::StrCat(
          "JetStream stream '", options_.stream, "' holds the log of store ", from,
          ", not of this store (", store_id_, "); relay each store to a stream of its own"));
    }
    uint64_t position = 0;
    if (!absl::SimpleAtoi(position_text, &position)) {
      return absl::FailedPreconditionError(absl::StrCat("JetStream stream '", options_.stream,
                                                        "': its last message's ", kPositionHeader,
                                                        " '", position_text, "' is not a number"));
    }
    expected_last_id_ = MsgId(Position(position));
    return Resumed{Position(position)};
  }

  absl::Status Publish(const EventRecord& event) override {
    {
      internal::MutexLock lock(&mu_);
      if (!error_.ok()) return error_;
    }
    const std::string subject = SubjectOf(options_.subject_prefix, event.stream);
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, event.data.data(),
                                  static_cast<int>(event.data.size()));
    if (s != NATS_OK) return NatsUnavailable("make a message", s);
    MsgPtr msg(raw);
    const std::string position = absl::StrCat(event.position.value());
    auto header = [&](const char* key, const std::string& value) {
      if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), key, value.c_str());
    };
    header(kStoreHeader, store_id_);
    header(kPositionHeader, position);
    header(kStreamHeader, EncodeHeaderValue(event.stream));
    header(kRevisionHeader, absl::StrCat(event.revision.value()));
    header(kTypeHeader, EncodeHeaderValue(event.type));
    header(kContentTypeHeader, EncodeHeaderValue(event.content_type));
    header(kEventIdHeader, event.event_id.ToString());
    if (!event.correlation_id.empty()) {
      header(kCorrelationIdHeader, EncodeHeaderValue(event.correlation_id));
    }
    if (!event.causation_id.empty()) {
      header(kCausationIdHeader, EncodeHeaderValue(event.causation_id));
    }
    header(kRecordedAtHeader, Rfc3339Micros(event.recorded_at));
    if (!event.metadata.empty()) header(kMetadataHeader, EncodeMetadata(event.metadata));
    if (s != NATS_OK) return NatsUnavailable("set a message header", s);
    const std::string id = MsgId(event.position);
    jsPubOptions publish;
    jsPubOptions_Init(&publish);
    publish.MsgId = id.c_str();
    if (!expected_last_id_.empty()) {
      publish.ExpectLastMsgId = expected_last_id_.c_str();
    } else if (natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Sequence", "0") != NATS_OK) {
      // The first event into an empty stream: libnats cannot say "sequence
      // 0" (0 is its "unset"), the header can.
      return NatsUnavailable("set a message header", NATS_ERR);
    }
    raw = msg.release();
    s = js_PublishMsgAsync(js_, &raw, &publish);
    if (s != NATS_OK) {
      natsMsg_Destroy(raw);  // still ours when the publish failed
      return NatsUnavailable(absl::StrCat("publish position ", position), s);
    }
    expected_last_id_ = id;
    published_ = true;
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    // In short slices, so that a refusal or a lost connection ends the wait.
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 100;
    const absl::Time deadline = absl::Now() + options_.ack_wait;
    for (;;) {
      const natsStatus s = js_PublishAsyncComplete(js_, &wait);
      {
        internal::MutexLock lock(&mu_);
        if (!error_.ok()) return error_;
      }
      if (s == NATS_OK) return absl::OkStatus();
      // The acknowledgements of what was in flight die with a connection:
      // fail at once rather than wait ack_wait for them. (Polled, not a
      // disconnect callback: libnats may run one after the sink is gone.)
      if (nats_->Reconnects() != reconnects_at_resume_) {
        return absl::UnavailableError("lost the connection to the broker (reconnecting)");
      }
      if (s != NATS_TIMEOUT || absl::Now() >= deadline) {
        return NatsUnavailable("wait for the broker's acknowledgements", s);
      }
    }
  }

 private:
  std::string MsgId(Position position) const {
    return absl::StrCat(store_id_, "/", position.value());
  }

  // Creates the stream when it does not exist yet.
  absl::Status EnsureStream() {
    jsStreamInfo* info = nullptr;
    jsErrCode js_error{};
    natsStatus s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &js_error);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(info);
      return absl::OkStatus();
    }
    if (s != NATS_NOT_FOUND) return NatsUnavailable("look up the JetStream stream", s, js_error);
    const std::string subjects = absl::StrCat(options_.subject_prefix, ".>");
    const char* subject_list[] = {subjects.c_str()};
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = options_.stream.c_str();
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = options_.replicas;
    s = js_AddStream(&info, js_, &config, nullptr, &js_error);
    if (s != NATS_OK) {
      // Another relay may have created it meanwhile: then it is there.
      if (js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, nullptr) == NATS_OK) {
        jsStreamInfo_Destroy(info);
        return absl::OkStatus();
      }
      return NatsUnavailable(absl::StrCat("create JetStream stream '", options_.stream, "'"), s,
                             js_error);
    }
    jsStreamInfo_Destroy(info);
    return absl::OkStatus();
  }

  // Waits briefly for what is in flight, then forgets the rest: each carries
  // its expectation, so one that lands late is refused, never misplaced.
  void DropPending() {
    // libnats 3.4 crashes asking for the pending list of a context that
    // never published asynchronously.
    if (!published_) return;
    published_ = false;
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 100;
    js_PublishAsyncComplete(js_, &wait);
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) natsMsgList_Destroy(&pending);
  }

  // libnats's thread, once per acknowledged or refused publish.
  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* refused, void* closure) {
    auto* self = static_cast<NatsSink*>(closure);
    if (refused != nullptr) {
      const char* id = nullptr;
      natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
      std::string what =
          absl::StrCat("the broker refused ", id != nullptr ? id : "a message", ": ",
                       refused->ErrText != nullptr ? refused->ErrText : NatsError(refused->Err));
      const bool fenced = refused->ErrCode == JSStreamWrongLastMsgIDErr ||
                          refused->ErrCode == JSStreamWrongLastSequenceErr;
      if (fenced) absl::StrAppend(&what, " (another relay published meanwhile)");
      internal::MutexLock lock(&self->mu_);
      if (self->error_.ok()) {
        self->error_ = fenced ? absl::AbortedError(what) : absl::UnavailableError(what);
      }
    }
    (void)ack;
    natsMsg_Destroy(msg);
  }

  const NatsSinkOptions options_;
  std::unique_ptr<NatsConnection> nats_;
  jsCtx* js_ = nullptr;  // nats_'s
  std::string store_id_;
  std::string expected_last_id_;  // the message the next publish must follow
  bool published_ = false;        // published since the last DropPending
  uint64_t reconnects_at_resume_ = 0;
  internal::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // the first refusal since Resume
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sink>> OpenNatsSink(const NatsSinkOptions& options) {
  if (absl::Status s = CheckStreamName(options.stream); !s.ok()) return s;
  if (absl::Status s = CheckSubjectPrefix(options.subject_prefix); !s.ok()) return s;
  if (options.replicas < 1 || options.replicas > 5) {
    return absl::InvalidArgumentError("replicas must be 1 to 5");
  }
  if (options.max_in_flight < 1) return absl::InvalidArgumentError("max_in_flight must be >= 1");
  if (options.ack_wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ack_wait must be > 0");
  }
  auto sink = std::make_unique<NatsSink>(options);
  if (absl::Status opened = sink->Open(); !opened.ok()) return opened;
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace annals::relay
