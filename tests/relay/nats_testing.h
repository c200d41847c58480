// Test-only: a nats-server with JetStream on a free loopback port (a fresh
// directory, stopped by its pid), a reader of a stream's messages, and the
// check that a stream holds exactly a store's log. Shared by the relay tests.
#ifndef ANNALS_TESTS_RELAY_NATS_TESTING_H_
#define ANNALS_TESTS_RELAY_NATS_TESTING_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "annals/event_store.h"
#include "annals/relay.h"
#include "gtest/gtest.h"

namespace annals::testing {

inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

inline bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// One nats-server with JetStream on a free loopback port.
class NatsServer {
 public:
  explicit NatsServer(std::string dir) : dir_(std::move(dir)) {}
  ~NatsServer() { Kill(); }

  void Start() {
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
      port_ = FreePort();
      ASSERT_GT(port_, 0);
      Launch();  // the port may be taken meanwhile: then another
    }
    ASSERT_GT(pid_, 0) << "nats-server did not start (apt-get install nats-server)";
  }

  // Kills the server (SIGKILL: what it had not written is lost, as in a
  // crash) and starts it again on the same port and directory.
  void Restart() {
    Kill();
    for (int attempt = 0; attempt < 40 && pid_ <= 0; ++attempt) {
      Launch();
      if (pid_ <= 0) absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_GT(pid_, 0) << "nats-server did not restart on port " << port_;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

 private:
  void Launch() {
    const std::string port = absl::StrCat(port_);
    const std::string log = dir_ + ".log";  // its log beside its data, out of the test's output
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      // Async-signal-safe calls only until exec (the test may run threads).
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execlp("nats-server", "nats-server", "-js", "-sd", dir_.c_str(), "-a", "127.0.0.1", "-p",
             port.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && !Accepts(port_); ++i) absl::SleepFor(absl::Milliseconds(25));
    if (!Accepts(port_)) Kill();
  }

  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
};

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

  uint64_t Count(const char* stream = "ANNALS") {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, stream, nullptr, nullptr) != NATS_OK) return 0;
    const uint64_t n = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    return n;
  }

  std::vector<Relayed> All(const char* stream = "ANNALS") {
    std::vector<Relayed> all;
    const uint64_t n = Count(stream);
    for (uint64_t seq = 1; seq <= n; ++seq) {
      natsMsg* msg = nullptr;
      if (js_GetMsg(&msg, js_, stream, seq, nullptr, nullptr) != NATS_OK) {
        ADD_FAILURE() << "no message " << seq;
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

  // A message that is not an annals event, on a subject the stream takes.
  void PublishForeign() {
    jsPubAck* ack = nullptr;
    ASSERT_EQ(js_Publish(&ack, js_, "annals.other.thing", "x", 1, nullptr, nullptr), NATS_OK);
    jsPubAck_Destroy(ack);
  }

 private:
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

}  // namespace annals::testing

#endif  // ANNALS_TESTS_RELAY_NATS_TESTING_H_
