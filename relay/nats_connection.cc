// One NATS connection with its JetStream context (nats_connection.h).
#include "nats_connection.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace annals::relay {

std::string NatsError(natsStatus s, jsErrCode js) {
  std::string text = natsStatus_GetText(s);
  if (js != 0) absl::StrAppend(&text, " (JetStream error ", static_cast<int>(js), ")");
  if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
    absl::StrAppend(&text, ": ", last);
  }
  return text;
}

absl::Status NatsUnavailable(std::string_view what, natsStatus s, jsErrCode js) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", NatsError(s, js)));
}

absl::Status CheckStreamName(std::string_view stream) {
  if (stream.empty() || stream.find_first_of(" .*>\t\r\n") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("JetStream stream name '", std::string(stream),
                                                   "' must be non-empty without . * > or spaces"));
  }
  return absl::OkStatus();
}

absl::Status CheckSubjectPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.find_first_of(" *>\t\r\n") != std::string_view::npos ||
      prefix.front() == '.' || prefix.back() == '.' ||
      prefix.find("..") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject prefix '", std::string(prefix), "' is not a NATS subject"));
  }
  return absl::OkStatus();
}

namespace {

// `url` without the password of any `user:password@` in it, for messages.
std::string Redacted(std::string_view url) {
  std::string out;
  for (std::string_view rest = url; !rest.empty();) {
    const size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    const size_t scheme = one.find("://");
    const size_t at = one.rfind('@');
    if (at != std::string_view::npos) {
      const size_t user_start = scheme == std::string_view::npos ? 0 : scheme + 3;
      const size_t colon = one.find(':', user_start);
      if (colon != std::string_view::npos && colon < at) {
        absl::StrAppend(&out, std::string(one.substr(0, colon)), ":***",
                        std::string(one.substr(at)));
      } else {
        out.append(one);
      }
    } else {
      out.append(one);
    }
    if (comma == std::string_view::npos) break;
    out.push_back(',');
    rest.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::Open(const std::string& url,
                                                                     jsOptions* js_options) {
  std::unique_ptr<NatsConnection> c(new NatsConnection());
  natsStatus s = natsOptions_Create(&c->options_);
  // One URL, or several comma-separated (a cluster's members: libnats
  // picks one and fails over to the others).
  std::vector<std::string> servers = absl::StrSplit(url, ',', absl::SkipWhitespace());
  std::vector<const char*> server_list;
  for (const std::string& server : servers) server_list.push_back(server.c_str());
  if (server_list.empty()) return absl::InvalidArgumentError("the NATS URL is empty");
  if (s == NATS_OK) {
    s = natsOptions_SetServers(c->options_, server_list.data(),
                               static_cast<int>(server_list.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(c->options_, 2000);
  // Reconnect in the background for ever; the callers start over from the
  // broker's state afterwards.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(c->options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(c->options_, 100);
  if (s != NATS_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("NATS options (url '", Redacted(url), "'): ", NatsError(s)));
  }
  s = natsConnection_Connect(&c->conn_, c->options_);
  if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED) {
    // Retrying cannot help: say so (credentials go in the URL,
    // nats://USER:PASSWORD@HOST:PORT).
    return absl::PermissionDeniedError(absl::StrCat(
        "connect to ", Redacted(url), ": the server refused the credentials: ", NatsError(s)));
  }
  if (s != NATS_OK) return NatsUnavailable(absl::StrCat("connect to ", Redacted(url)), s);
  s = natsConnection_JetStream(&c->js_, c->conn_, js_options);
  if (s != NATS_OK) return NatsUnavailable("JetStream context", s);
  return c;
}

NatsConnection::~NatsConnection() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (conn_ != nullptr) natsConnection_Destroy(conn_);
  if (options_ != nullptr) natsOptions_Destroy(options_);
}

uint64_t NatsConnection::Reconnects() const {
  natsStatistics* stats = nullptr;
  uint64_t reconnects = 0;
  if (natsStatistics_Create(&stats) == NATS_OK &&
      natsConnection_GetStats(conn_, stats) == NATS_OK) {
    natsStatistics_GetCounts(stats, nullptr, nullptr, nullptr, nullptr, &reconnects);
  }
  natsStatistics_Destroy(stats);
  return natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED ? reconnects : reconnects + 1;
}

absl::StatusOr<NatsConnection::StreamState> NatsConnection::State(const std::string& stream) const {
  jsStreamInfo* info = nullptr;
  jsErrCode js_error{};
  const natsStatus s = js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &js_error);
  if (s == NATS_NOT_FOUND) {
    return absl::NotFoundError(absl::StrCat("JetStream stream '", stream, "' does not exist"));
  }
  if (s != NATS_OK) return NatsUnavailable("read the JetStream stream's state", s, js_error);
  StreamState state{info->State.Msgs, info->State.FirstSeq, info->State.LastSeq};
  jsStreamInfo_Destroy(info);
  return state;
}

absl::StatusOr<MsgPtr> NatsConnection::GetMsg(const std::string& stream, uint64_t seq) const {
  natsMsg* raw = nullptr;
  jsErrCode js_error{};
  const natsStatus s = js_GetMsg(&raw, js_, stream.c_str(), seq, nullptr, &js_error);
  if (s == NATS_NOT_FOUND) {
    return absl::NotFoundError(
        absl::StrCat("JetStream stream '", stream, "' has no message ", seq));
  }
  if (s != NATS_OK) {
    return NatsUnavailable(absl::StrCat("read message ", seq, " of the stream"), s, js_error);
  }
  return MsgPtr(raw);
}

}  // namespace annals::relay
