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

namespace annals::relay {
namespace {

std::string NatsError(natsStatus s, jsErrCode js = static_cast<jsErrCode>(0)) {
  std::string text = natsStatus_GetText(s);
  if (js != 0) absl::StrAppend(&text, " (JetStream error ", static_cast<int>(js), ")");
  if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
    absl::StrAppend(&text, ": ", last);
  }
  return text;
}

absl::Status Unavailable(std::string_view what, natsStatus s, jsErrCode js = {}) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", NatsError(s, js)));
}

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

std::string Rfc3339Micros(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

class NatsSink final : public Sink {
 public:
  explicit NatsSink(NatsSinkOptions options) : options_(std::move(options)) {}

  ~NatsSink() override {
    if (js_ != nullptr) {
      DropPending();
      jsCtx_Destroy(js_);
    }
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    if (nats_options_ != nullptr) natsOptions_Destroy(nats_options_);
  }

  absl::Status Open() {
    natsStatus s = natsOptions_Create(&nats_options_);
    if (s == NATS_OK) s = natsOptions_SetURL(nats_options_, options_.url.c_str());
    if (s == NATS_OK) s = natsOptions_SetTimeout(nats_options_, 2000);
    // Reconnect in the background for ever; publishes meanwhile fail or
    // wait, and the relay resumes from the broker's state afterwards.
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats_options_, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(nats_options_, 100);
    if (s != NATS_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("NATS options (url '", options_.url, "'): ", NatsError(s)));
    }
    s = natsConnection_Connect(&conn_, nats_options_);
    if (s != NATS_OK) return Unavailable(absl::StrCat("connect to ", options_.url), s);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = absl::ToInt64Milliseconds(options_.ack_wait);
    js_options.PublishAsync.MaxPending = options_.max_in_flight;
    js_options.PublishAsync.StallWait = absl::ToInt64Milliseconds(options_.ack_wait);
    js_options.PublishAsync.AckHandler = &NatsSink::OnAck;
    js_options.PublishAsync.AckHandlerClosure = this;
    s = natsConnection_JetStream(&js_, conn_, &js_options);
    if (s != NATS_OK) return Unavailable("JetStream context", s);
    return EnsureStream();
  }

  absl::StatusOr<Resumed> Resume(std::string_view store_id) override {
    DropPending();
    {
      internal::MutexLock lock(&mu_);
      error_ = absl::OkStatus();
    }
    store_id_ = std::string(store_id);
    reconnects_at_resume_ = Reconnects();
    jsStreamInfo* info = nullptr;
    jsErrCode js_error{};
    natsStatus s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &js_error);
    if (s == NATS_NOT_FOUND) {
      if (absl::Status made = EnsureStream(); !made.ok()) return made;
      s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &js_error);
    }
    if (s != NATS_OK) return Unavailable("read the JetStream stream's state", s, js_error);
    const uint64_t last_seq = info->State.LastSeq;
    const uint64_t messages = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    expected_last_id_.clear();
    if (messages == 0) return Resumed{};
    natsMsg* raw = nullptr;
    s = js_GetMsg(&raw, js_, options_.stream.c_str(), last_seq, nullptr, &js_error);
    if (s != NATS_OK) return Unavailable("read the stream's last message", s, js_error);
    MsgPtr last(raw);
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
    if (s != NATS_OK) return Unavailable("make a message", s);
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
    if (s != NATS_OK) return Unavailable("set a message header", s);
    const std::string id = MsgId(event.position);
    jsPubOptions publish;
    jsPubOptions_Init(&publish);
    publish.MsgId = id.c_str();
    if (!expected_last_id_.empty()) {
      publish.ExpectLastMsgId = expected_last_id_.c_str();
    } else if (natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Sequence", "0") != NATS_OK) {
      // The first event into an empty stream: libnats cannot say "sequence
      // 0" (0 is its "unset"), the header can.
      return Unavailable("set a message header", NATS_ERR);
    }
    raw = msg.release();
    s = js_PublishMsgAsync(js_, &raw, &publish);
    if (s != NATS_OK) {
      natsMsg_Destroy(raw);  // still ours when the publish failed
      return Unavailable(absl::StrCat("publish position ", position), s);
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
      if (Reconnects() != reconnects_at_resume_) {
        return absl::UnavailableError("lost the connection to the broker (reconnecting)");
      }
      if (s != NATS_TIMEOUT || absl::Now() >= deadline) {
        return Unavailable("wait for the broker's acknowledgements", s);
      }
    }
  }

 private:
  // How often the connection has been re-established since it was opened.
  uint64_t Reconnects() const {
    natsStatistics* stats = nullptr;
    uint64_t reconnects = 0;
    if (natsStatistics_Create(&stats) == NATS_OK &&
        natsConnection_GetStats(conn_, stats) == NATS_OK) {
      natsStatistics_GetCounts(stats, nullptr, nullptr, nullptr, nullptr, &reconnects);
    }
    natsStatistics_Destroy(stats);
    // Down now counts as one more: what is in flight is lost either way.
    return natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED ? reconnects : reconnects + 1;
  }

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
    if (s != NATS_NOT_FOUND) return Unavailable("look up the JetStream stream", s, js_error);
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
      return Unavailable(absl::StrCat("create JetStream stream '", options_.stream, "'"), s,
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
  natsOptions* nats_options_ = nullptr;
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
  std::string store_id_;
  std::string expected_last_id_;  // the message the next publish must follow
  bool published_ = false;        // published since the last DropPending
  uint64_t reconnects_at_resume_ = 0;
  internal::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // the first refusal since Resume
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sink>> OpenNatsSink(const NatsSinkOptions& options) {
  if (options.stream.empty() || options.stream.find_first_of(" .*>\t") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("JetStream stream name '", options.stream,
                                                   "' must be non-empty without . * > or spaces"));
  }
  if (options.subject_prefix.empty() ||
      options.subject_prefix.find_first_of(" *>\t") != std::string::npos ||
      options.subject_prefix.front() == '.' || options.subject_prefix.back() == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat("subject prefix '", options.subject_prefix, "' is not a NATS subject"));
  }
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
