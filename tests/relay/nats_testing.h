// Test-only: a reader of a JetStream stream's messages, and the checks that
// a stream holds exactly a store's log and a replica the primary's events.
// Shared by the relay tests (the servers: nats_process.h).
#ifndef ANNALS_TESTS_RELAY_NATS_TESTING_H_
#define ANNALS_TESTS_RELAY_NATS_TESTING_H_

#include <nats/nats.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/event_store.h"
#include "annals/relay.h"
#include "gtest/gtest.h"
#include "tests/relay/nats_process.h"

namespace annals::testing {

// A relayed message as the test reads it back from the stream.
struct Relayed {
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;
};

// Reads the stream's messages by sequence, 1 to its last.
class Reader {
 public:
  explicit Reader(const std::string& url) {
    EXPECT_EQ(natsConnection_ConnectTo(&conn_, url.c_str()), NATS_OK);
    EXPECT_EQ(natsConnection_JetStream(&js_, conn_, nullptr), NATS_OK);
  }
  ~Reader() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(conn_);
  }

  // The stream's message count. A cluster may be electing a stream leader
  // (a member just restarted): asks again for up to 30 s before failing.
  uint64_t Count(const char* stream = "ANNALS") {
    jsStreamInfo* info = nullptr;
    natsStatus s = Retried([&] { return js_GetStreamInfo(&info, js_, stream, nullptr, nullptr); });
    if (s != NATS_OK) {
      ADD_FAILURE() << "no info on stream " << stream << ": " << natsStatus_GetText(s);
      return 0;
    }
    const uint64_t n = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    return n;
  }

  std::vector<Relayed> All(const char* stream = "ANNALS") {
    std::vector<Relayed> all;
    const uint64_t n = Count(stream);
    for (uint64_t seq = 1; seq <= n; ++seq) {
      natsMsg* msg = nullptr;
      natsStatus s = Retried([&] { return js_GetMsg(&msg, js_, stream, seq, nullptr, nullptr); });
      if (s != NATS_OK) {
        ADD_FAILURE() << "no message " << seq << ": " << natsStatus_GetText(s);
        break;
      }
      Relayed r;
      r.subject = natsMsg_GetSubject(msg);
      r.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
      const char** keys = nullptr;
      int count = 0;
      if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
        for (int i = 0; i < count; ++i) {
          const char* value = nullptr;
          if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK) r.headers[keys[i]] = value;
        }
        free(keys);
      }
      natsMsg_Destroy(msg);
      all.push_back(std::move(r));
    }
    return all;
  }

  // Makes the stream beforehand, holding at most `max_msgs` and refusing
  // more (a broker's limit).
  void CreateLimitedStream(int64_t max_msgs) {
    const char* subjects[] = {"annals.>"};
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = "ANNALS";
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.MaxMsgs = max_msgs;
    config.Discard = js_DiscardNew;
    jsStreamInfo* info = nullptr;
    ASSERT_EQ(js_AddStream(&info, js_, &config, nullptr, nullptr), NATS_OK);
    jsStreamInfo_Destroy(info);
  }

  // A message that is not an annals event, on a subject the stream takes.
  void PublishForeign() {
    jsPubAck* ack = nullptr;
    ASSERT_EQ(js_Publish(&ack, js_, "annals.other.thing", "x", 1, nullptr, nullptr), NATS_OK);
    jsPubAck_Destroy(ack);
  }

 private:
  // Calls `request` until it is NATS_OK or 30 s have passed: every stream
  // these tests read exists, so "not found" too is a member catching up.
  template <typename Request>
  static natsStatus Retried(Request request) {
    natsStatus s = request();
    for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
         s != NATS_OK && absl::Now() < deadline; s = request()) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    return s;
  }

  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
};

inline std::vector<EventRecord> ReadAllOf(EventStore& store) {
  std::vector<EventRecord> all;
  auto it = store.ReadAll();
  EXPECT_TRUE(it.ok());
  for (; (*it)->Valid(); (*it)->Next()) all.push_back((*it)->record());
  return all;
}

// Every relayed message is the store's event at the same index: subject,
// body and each header.
inline void ExpectSameLog(const std::vector<Relayed>& relayed,
                          const std::vector<EventRecord>& events, const std::string& store_id) {
  ASSERT_EQ(relayed.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const Relayed& r = relayed[i];
    const EventRecord& e = events[i];
    SCOPED_TRACE(absl::StrCat("event ", i, " at ", e.position.value()));
    EXPECT_EQ(r.subject, relay::SubjectOf("annals", e.stream));
    EXPECT_EQ(r.data, e.data);
    auto header = [&r](const char* key) {
      auto it = r.headers.find(key);
      return it == r.headers.end() ? std::string("<none>") : it->second;
    };
    EXPECT_EQ(header(relay::kStoreHeader), store_id);
    EXPECT_EQ(header(relay::kPositionHeader), absl::StrCat(e.position.value()));
    EXPECT_EQ(header("Nats-Msg-Id"), absl::StrCat(store_id, "/", e.position.value()));
    EXPECT_EQ(relay::DecodeHeaderValue(header(relay::kStreamHeader)), e.stream);
    EXPECT_EQ(header(relay::kRevisionHeader), absl::StrCat(e.revision.value()));
    EXPECT_EQ(relay::DecodeHeaderValue(header(relay::kTypeHeader)), e.type);
    EXPECT_EQ(relay::DecodeHeaderValue(header(relay::kContentTypeHeader)), e.content_type);
    EXPECT_EQ(header(relay::kEventIdHeader), e.event_id.ToString());
    if (!e.correlation_id.empty()) {
      EXPECT_EQ(relay::DecodeHeaderValue(header(relay::kCorrelationIdHeader)), e.correlation_id);
    }
    if (!e.causation_id.empty()) {
      EXPECT_EQ(relay::DecodeHeaderValue(header(relay::kCausationIdHeader)), e.causation_id);
    }
    absl::Time recorded;
    std::string error;
    ASSERT_TRUE(
        absl::ParseTime(absl::RFC3339_full, header(relay::kRecordedAtHeader), &recorded, &error))
        << error;
    EXPECT_EQ(recorded, e.recorded_at);
    if (e.metadata.empty()) {
      EXPECT_EQ(header(relay::kMetadataHeader), "<none>");
    } else {
      EXPECT_EQ(relay::DecodeMetadata(header(relay::kMetadataHeader)), e.metadata);
    }
  }
}

// Every field of every event, in order.
inline void ExpectSameEvents(const std::vector<EventRecord>& replica,
                             const std::vector<EventRecord>& primary) {
  ASSERT_EQ(replica.size(), primary.size());
  for (size_t i = 0; i < primary.size(); ++i) {
    const EventRecord& r = replica[i];
    const EventRecord& p = primary[i];
    SCOPED_TRACE(absl::StrCat("event ", i, " at ", p.position.value()));
    EXPECT_EQ(r.position, p.position);
    EXPECT_EQ(r.stream, p.stream);
    EXPECT_EQ(r.revision, p.revision);
    EXPECT_EQ(r.recorded_at, p.recorded_at);
    EXPECT_EQ(r.type, p.type);
    EXPECT_EQ(r.data, p.data);
    EXPECT_EQ(r.content_type, p.content_type);
    EXPECT_EQ(r.metadata, p.metadata);
    EXPECT_EQ(r.event_id, p.event_id);
    EXPECT_EQ(r.correlation_id, p.correlation_id);
    EXPECT_EQ(r.causation_id, p.causation_id);
  }
}

}  // namespace annals::testing

#endif  // ANNALS_TESTS_RELAY_NATS_TESTING_H_
