// annals::Server through gRPC stubs: what the official clients cannot send
// (malformed calls, garbage on the port, cancelled and expired appends),
// each answered with a clear status and nothing written; and the server's
// own guarantees (subscriptions across catch-up and live, shutdown).
#include "annals/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "annals/maintenance.h"
#include "annals/projection.h"
#include "annals/stats.h"
#include "annals/subscription.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kurrent/serverfeatures.grpc.pb.h"
#include "kurrent/streams.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"
#ifdef ANNALS_SERVER_METRICS
#include "httplib.h"
#endif

namespace annals::testing {
namespace {

namespace streams = ::event_store::client::streams;
using ::testing::HasSubstr;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(ServerOptions options) {
    if (server_) server_->Shutdown();
    server_.reset();
    if (!store_) {
      StoreOptions store_options;
      store_options.create_if_missing = true;
      store_options.system_streams = {"$settings"};
      ASSERT_OK_AND_ASSIGN(store_, EventStore::Open(dir_.Sub("store"), store_options));
    }
    options.port = 0;
    ASSERT_OK_AND_ASSIGN(server_, Server::Start(*store_, options));
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = streams::Streams::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static streams::AppendReq Options(const std::string& stream) {
    streams::AppendReq request;
    request.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    request.mutable_options()->mutable_any();
    return request;
  }

  static streams::AppendReq Proposed(const std::string& type, const std::string& data = "{}") {
    streams::AppendReq request;
    auto* message = request.mutable_proposed_message();
    if (!type.empty()) (*message->mutable_metadata())["type"] = type;
    (*message->mutable_metadata())["content-type"] = "application/json";
    message->set_data(data);
    return request;
  }

  // One Append call of `messages`; the status and the trailers.
  grpc::Status Append(const std::vector<streams::AppendReq>& messages,
                      streams::AppendResp* response,
                      std::multimap<std::string, std::string>* trailers = nullptr) {
    grpc::ClientContext context;
    auto writer = stub_->Append(&context, response);
    for (const auto& message : messages) {
      if (!writer->Write(message)) break;
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (trailers != nullptr) {
      for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
        trailers->emplace(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
      }
    }
    return status;
  }

  static streams::ReadReq ReadStreamRequest(const std::string& stream) {
    streams::ReadReq request;
    auto* options = request.mutable_options();
    options->mutable_stream()->mutable_stream_identifier()->set_stream_name(stream);
    options->mutable_stream()->mutable_start();
    options->set_count(1000);
    options->mutable_uuid_option()->mutable_string();
    options->mutable_no_filter();
    return request;
  }

  // Every message of a finished Read call.
  grpc::Status Read(const streams::ReadReq& request, std::vector<streams::ReadResp>* out) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto reader = stub_->Read(&context, request);
    streams::ReadResp response;
    while (reader->Read(&response)) out->push_back(response);
    return reader->Finish();
  }

  TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<streams::Streams::Stub> stub_;
  std::unique_ptr<::event_store::client::server_features::ServerFeatures::Stub> features_stub_;
};

TEST_F(ServerTest, AnAppendIsReadBack) {
  streams::AppendResp response;
  ASSERT_TRUE(Append({Options("order-1"), Proposed("Placed", R"({"n":1})")}, &response).ok());
  ASSERT_TRUE(response.has_success());
  EXPECT_EQ(response.success().current_revision(), 0u);
  EXPECT_EQ(response.success().position().commit_position(), store_->head().value());
  std::vector<streams::ReadResp> read;
  ASSERT_TRUE(Read(ReadStreamRequest("order-1"), &read).ok());
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].event().event().data(), R"({"n":1})");
  EXPECT_EQ(read[0].event().event().metadata().at("type"), "Placed");
  EXPECT_EQ(read[0].event().event().stream_identifier().stream_name(), "order-1");
}

TEST_F(ServerTest, LinksAreResolvedWhenTheReadAsksAndOtherwiseReadAsTheyAre) {
  streams::AppendResp response;
  ASSERT_TRUE(
      Append({Options("order-1"), Proposed("Placed", R"({"n":1})"), Proposed("Paid", R"({"n":2})")},
             &response)
          .ok());
  // A by-type stream as KurrentDB's system projections write it: `$>` events
  // whose data is `<revision>@<stream>`; the last one points nowhere.
  ASSERT_TRUE(Append({Options("paid-orders"), Proposed("$>", "1@order-1"),
                      Proposed("$>", "7@order-1"), Proposed("$>", "not a link")},
                     &response)
                  .ok());
  const Position first_link = Position(store_->head().value() - 2);

  streams::ReadReq request = ReadStreamRequest("paid-orders");
  std::vector<streams::ReadResp> plain;
  ASSERT_TRUE(Read(request, &plain).ok());
  ASSERT_EQ(plain.size(), 3u);
  for (const streams::ReadResp& message : plain) {
    EXPECT_FALSE(message.event().has_link());
    EXPECT_EQ(message.event().event().metadata().at("type"), "$>");
  }

  request.mutable_options()->set_resolve_links(true);
  std::vector<streams::ReadResp> resolved;
  ASSERT_TRUE(Read(request, &resolved).ok());
  ASSERT_EQ(resolved.size(), 3u);
  const auto& hit = resolved[0].event();
  EXPECT_EQ(hit.event().stream_identifier().stream_name(), "order-1");
  EXPECT_EQ(hit.event().stream_revision(), 1u);
  EXPECT_EQ(hit.event().metadata().at("type"), "Paid");
  EXPECT_EQ(hit.event().data(), R"({"n":2})");
  EXPECT_EQ(hit.link().stream_identifier().stream_name(), "paid-orders");
  EXPECT_EQ(hit.link().stream_revision(), 0u);
  EXPECT_EQ(hit.link().data(), "1@order-1");
  EXPECT_EQ(hit.commit_position(), first_link.value());  // the link's own position
  for (int i : {1, 2}) {  // a target that is not there, and a malformed link: the link alone
    SCOPED_TRACE(i);
    EXPECT_FALSE(resolved[i].event().has_event());
    EXPECT_EQ(resolved[i].event().link().stream_revision(), static_cast<uint64_t>(i));
  }

  // $all resolves them the same way.
  streams::ReadReq all;
  all.mutable_options()->mutable_all()->mutable_position()->set_commit_position(first_link.value());
  all.mutable_options()->mutable_all()->mutable_position()->set_prepare_position(
      first_link.value());
  all.mutable_options()->set_count(1);
  all.mutable_options()->mutable_uuid_option()->mutable_string();
  all.mutable_options()->mutable_no_filter();
  all.mutable_options()->set_resolve_links(true);
  std::vector<streams::ReadResp> from_all;
  ASSERT_TRUE(Read(all, &from_all).ok());
  ASSERT_EQ(from_all.size(), 1u);
  EXPECT_EQ(from_all[0].event().event().metadata().at("type"), "Paid");
  EXPECT_EQ(from_all[0].event().link().data(), "1@order-1");
}

TEST_F(ServerTest, MetadataEventsReadAsKurrentDbJsonInAllToo) {
  streams::AppendResp response;
  streams::AppendReq metadata = Proposed("$metadata", R"({"$maxCount":3,"owner":"billing"})");
  ASSERT_TRUE(Append({Options("$$meta-1"), metadata}, &response).ok());
  ASSERT_TRUE(response.has_success());
  streams::ReadReq all;
  all.mutable_options()->mutable_all()->mutable_end();
  all.mutable_options()->set_read_direction(streams::ReadReq::Options::Backwards);
  all.mutable_options()->set_count(1);
  all.mutable_options()->mutable_uuid_option()->mutable_string();
  all.mutable_options()->mutable_no_filter();
  std::vector<streams::ReadResp> read;
  ASSERT_TRUE(Read(all, &read).ok());
  ASSERT_EQ(read.size(), 1u);
  const auto& event = read[0].event().event();
  EXPECT_EQ(event.stream_identifier().stream_name(), "$$meta-1");
  EXPECT_EQ(event.metadata().at("type"), "$metadata");
  EXPECT_EQ(event.metadata().at("content-type"), "application/json");
  EXPECT_THAT(event.data(), HasSubstr(R"("$maxCount":3)"));
  EXPECT_THAT(event.data(), HasSubstr(R"("owner":"billing")"));
  // The same JSON as a read of the metastream shows.
  std::vector<streams::ReadResp> metastream;
  ASSERT_TRUE(Read(ReadStreamRequest("$$meta-1"), &metastream).ok());
  ASSERT_EQ(metastream.size(), 1u);
  EXPECT_EQ(metastream[0].event().event().data(), event.data());
}

TEST_F(ServerTest, AMetadataWriteRetriedWithItsEventIdIsAnsweredAsTheFirstAndWrittenOnce) {
  const std::string id = EventId::Generate().ToString();
  streams::AppendReq options = Options("$$meta-2");
  options.mutable_options()->mutable_no_stream();
  streams::AppendReq metadata = Proposed("$metadata", R"({"$maxCount":3})");
  metadata.mutable_proposed_message()->mutable_id()->set_string(id);
  streams::AppendResp first, retried;
  ASSERT_TRUE(Append({options, metadata}, &first).ok());
  ASSERT_TRUE(first.has_success());
  const Position head = store_->head();
  // The same write again (a client retrying after a lost answer): no_stream
  // fails now, but the id says it is the same write.
  ASSERT_TRUE(Append({options, metadata}, &retried).ok());
  ASSERT_TRUE(retried.has_success()) << retried.DebugString();
  EXPECT_EQ(retried.success().current_revision(), first.success().current_revision());
  EXPECT_EQ(retried.success().position().commit_position(),
            first.success().position().commit_position());
  EXPECT_EQ(store_->head(), head);
  std::vector<streams::ReadResp> metastream;
  ASSERT_TRUE(Read(ReadStreamRequest("$$meta-2"), &metastream).ok());
  ASSERT_EQ(metastream.size(), 1u);
  EXPECT_EQ(metastream[0].event().event().id().string(), id);
  // A new id is a new write, checked against the metastream.
  metadata.mutable_proposed_message()->mutable_id()->set_string(EventId::Generate().ToString());
  streams::AppendResp conflicting;
  ASSERT_TRUE(Append({options, metadata}, &conflicting).ok());
  EXPECT_TRUE(conflicting.has_wrong_expected_version());
  EXPECT_EQ(store_->head(), head);
}

TEST_F(ServerTest, TheServerRecordsItsStartInSettings) {
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo("$settings"));
  EXPECT_EQ(info.last_revision.value(), 0u);
  // A second start adds nothing.
  StartServer({});
  ASSERT_OK_AND_ASSIGN(info, store_->GetStreamInfo("$settings"));
  EXPECT_EQ(info.last_revision.value(), 0u);
}

TEST_F(ServerTest, MalformedAppendsAreRefusedAndWriteNothing) {
  const Position head = store_->head();
  struct Case {
    const char* name;
    std::vector<streams::AppendReq> messages;
    grpc::StatusCode code;
  };
  streams::AppendReq no_content_type = Proposed("Placed");
  no_content_type.mutable_proposed_message()->mutable_metadata()->erase("content-type");
  streams::AppendReq bad_id = Proposed("Placed");
  bad_id.mutable_proposed_message()->mutable_id()->set_string("not-a-uuid");
  std::vector<Case> cases = {
      {"event before options", {Proposed("Placed")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"two options",
       {Options("a-1"), Options("a-1"), Proposed("Placed")},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"no options at all", {}, grpc::StatusCode::INVALID_ARGUMENT},
      {"empty message", {Options("a-1"), streams::AppendReq()}, grpc::StatusCode::INVALID_ARGUMENT},
      {"missing type", {Options("a-1"), Proposed("")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"missing content-type",
       {Options("a-1"), no_content_type},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"bad id", {Options("a-1"), bad_id}, grpc::StatusCode::INVALID_ARGUMENT},
      {"empty stream name", {Options(""), Proposed("Placed")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"NUL in stream name",
       {Options(std::string("a\0b", 3)), Proposed("Placed")},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"not UTF-8", {Options("a\xff"), Proposed("Placed")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"system stream",
       {Options("$settings"), Proposed("Placed")},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"metastream, other type",
       {Options("$$a-1"), Proposed("Placed")},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"metastream, not JSON",
       {Options("$$a-1"), Proposed("$metadata", "[1")},
       grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    streams::AppendResp response;
    grpc::Status status = Append(c.messages, &response);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_FALSE(status.error_message().empty());
  }
  EXPECT_EQ(store_->head(), head) << "a refused append wrote something";
}

TEST_F(ServerTest, MissingMetadataCarriesTheTrailersClientsMapToTheirError) {
  streams::AppendResp response;
  std::multimap<std::string, std::string> trailers;
  grpc::Status status = Append({Options("a-1"), Proposed("")}, &response, &trailers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(trailers.find("exception")->second, "missing-required-metadata-property");
  EXPECT_EQ(trailers.find("required-metadata-properties")->second, "type,content-type");
}

TEST_F(ServerTest, AnAppendOverTheLimitIsRefusedWithItsSize) {
  ServerOptions options;
  options.max_append_bytes = 1000;
  StartServer(options);
  const Position head = store_->head();
  streams::AppendResp response;
  std::multimap<std::string, std::string> trailers;
  grpc::Status status =
      Append({Options("big-1"), Proposed("Placed", std::string(600, 'x')), Proposed("Placed", "[]"),
              Proposed("Placed", std::string(600, 'y'))},
             &response, &trailers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(trailers.find("exception")->second, "maximum-append-size-exceeded");
  EXPECT_EQ(trailers.find("maximum-append-size")->second, "1000");
  EXPECT_EQ(store_->head(), head);
}

TEST_F(ServerTest, MalformedReadsAreRefused) {
  std::vector<streams::ReadResp> out;
  streams::ReadReq no_options;
  EXPECT_EQ(Read(no_options, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  streams::ReadReq no_uuid = ReadStreamRequest("a-1");
  no_uuid.mutable_options()->clear_uuid_option();
  EXPECT_EQ(Read(no_uuid, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  streams::ReadReq no_target = ReadStreamRequest("a-1");
  no_target.mutable_options()->clear_stream();
  EXPECT_EQ(Read(no_target, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  streams::ReadReq bad_regex;
  bad_regex.mutable_options()->mutable_all()->mutable_start();
  bad_regex.mutable_options()->set_count(10);
  bad_regex.mutable_options()->mutable_uuid_option()->mutable_string();
  bad_regex.mutable_options()->mutable_filter()->mutable_stream_identifier()->set_regex("([");
  EXPECT_EQ(Read(bad_regex, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(out.empty());
}

TEST_F(ServerTest, GarbageOnThePortLeavesTheServerUp) {
  for (const std::string& bytes :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string("PRI * HTTP/2.0\r\n"),
        std::string(4096, '\xff'), std::string("\0\0\0\0\0\0\0\0\0", 9)}) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(server_->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  streams::AppendResp response;
  EXPECT_TRUE(Append({Options("after-1"), Proposed("Placed")}, &response).ok());
}

TEST_F(ServerTest, AValidFrameWithInvalidProtobufIsRefused) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const std::string garbage = "\x0a\xff\xff\xff\xff\x0f";  // a length past the end
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1);
  grpc::CompletionQueue cq;
  auto call = generic.PrepareUnaryCall(&context, "/event_store.client.streams.Streams/Delete",
                                       request, &cq);
  call->StartCall();
  grpc::ByteBuffer reply;
  grpc::Status status;
  call->Finish(&reply, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_NE(status.error_code(), grpc::StatusCode::OK);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  streams::AppendResp response;
  EXPECT_TRUE(Append({Options("after-1"), Proposed("Placed")}, &response).ok());
}

TEST_F(ServerTest, ACancelledAppendWritesNothing) {
  const Position head = store_->head();
  grpc::ClientContext context;
  streams::AppendResp response;
  auto writer = stub_->Append(&context, &response);
  ASSERT_TRUE(writer->Write(Options("cancel-1")));
  ASSERT_TRUE(writer->Write(Proposed("Placed")));
  context.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server may see the cancellation a moment later: nothing may land.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store_->head(), head);
}

TEST_F(ServerTest, AnAppendWhoseDeadlinePassesMidwayWritesNothing) {
  const Position head = store_->head();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  streams::AppendResp response;
  auto writer = stub_->Append(&context, &response);
  ASSERT_TRUE(writer->Write(Options("deadline-1")));
  ASSERT_TRUE(writer->Write(Proposed("Placed")));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store_->head(), head);
}

TEST_F(ServerTest, AReadOnlyServerAnswersWritesWithNotLeader) {
  ServerOptions options;
  options.read_only = true;
  StartServer(options);
  const Position head = store_->head();
  streams::AppendResp response;
  std::multimap<std::string, std::string> trailers;
  grpc::Status status = Append({Options("ro-1"), Proposed("Placed")}, &response, &trailers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(trailers.find("exception")->second, "not-leader");
  EXPECT_EQ(store_->head(), head);
  std::vector<streams::ReadResp> out;
  EXPECT_TRUE(Read(ReadStreamRequest("ro-1"), &out).ok());  // reads still served
}

// A read replica (annals follow's store) served without --read-only still
// takes no writes: the server answers them as a read-only one does.
class ReplicaServerTest : public ServerTest {
 protected:
  void SetUp() override {
    StoreOptions options = TestOptions();
    options.system_streams = {"$settings"};
    ASSERT_OK_AND_ASSIGN(primary_, EventStore::Open(dir_.Sub("primary"), options));
    ASSERT_OK(primary_->Append({.stream = "order-1", .events = {Event("A"), Event("B")}}).status());
    ASSERT_OK_AND_ASSIGN(store_, EventStore::Open(dir_.Sub("store"), options));
    ASSERT_OK_AND_ASSIGN(const std::string primary_id, GetStoreId(*primary_));
    ASSERT_OK(MakeReplica(*store_, primary_id));
    ASSERT_OK_AND_ASSIGN(auto it, primary_->ReadAll());
    ASSERT_OK(Import(*store_, Drain(*it)));
    StartServer({});
  }
  std::unique_ptr<EventStore> primary_;
};

TEST_F(ReplicaServerTest, AReplicaIsServedForReadsAndAnswersWritesWithNotLeader) {
  streams::AppendResp response;
  std::multimap<std::string, std::string> trailers;
  grpc::Status status = Append({Options("order-1"), Proposed("Placed")}, &response, &trailers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_NE(trailers.find("exception"), trailers.end());
  EXPECT_EQ(trailers.find("exception")->second, "not-leader");
  EXPECT_EQ(store_->head(), Position(2));  // no `$settings` event of a start either
  std::vector<streams::ReadResp> out;
  ASSERT_TRUE(Read(ReadStreamRequest("order-1"), &out).ok());
  int events = 0;
  for (const auto& r : out) events += r.has_event() ? 1 : 0;
  EXPECT_EQ(events, 2);
}

// BatchAppend, as the official clients use it once it is listed: appends
// multiplexed on one call by correlation id, each answered in-band.
streams::BatchAppendReq BatchMessage(const std::string& correlation, const std::string& stream,
                                     bool with_options, int events, bool final) {
  streams::BatchAppendReq request;
  request.mutable_correlation_id()->set_string(correlation);
  if (with_options) {
    request.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    request.mutable_options()->mutable_any();
  }
  for (int i = 0; i < events; ++i) {
    auto* message = request.add_proposed_messages();
    (*message->mutable_metadata())["type"] = "Placed";
    (*message->mutable_metadata())["content-type"] = "application/json";
    message->set_data(absl::StrCat(R"({"i":)", i, "}"));
  }
  request.set_is_final(final);
  return request;
}

TEST_F(ServerTest, BatchAppendAnswersEachAppendOfOneCallByItsCorrelationId) {
  features_stub_ = ::event_store::client::server_features::ServerFeatures::NewStub(channel_);
  {
    grpc::ClientContext context;
    ::event_store::client::server_features::SupportedMethods methods;
    ASSERT_TRUE(features_stub_->GetSupportedMethods(&context, {}, &methods).ok());
    bool listed = false;
    for (const auto& m : methods.methods()) listed |= m.method_name() == "batchappend";
    EXPECT_TRUE(listed);
  }
  const Position head = store_->head();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = stub_->BatchAppend(&context);
  // "a": two messages; "b": expects revision 5 of a new stream; "c": no
  // options first; "d": over the size limit; "e": its deadline passed;
  // "f": a system stream. Only "a" writes.
  ASSERT_TRUE(call->Write(BatchMessage("a", "batch-a", true, 2, false)));
  streams::BatchAppendReq wrong = BatchMessage("b", "batch-b", true, 1, true);
  wrong.mutable_options()->set_stream_position(5);
  ASSERT_TRUE(call->Write(wrong));
  ASSERT_TRUE(call->Write(BatchMessage("c", "batch-c", false, 1, true)));
  streams::BatchAppendReq big = BatchMessage("d", "batch-d", true, 1, true);
  big.mutable_proposed_messages(0)->set_data(std::string((16 << 20) + 1, 'x'));
  ASSERT_TRUE(call->Write(big));
  streams::BatchAppendReq late = BatchMessage("e", "batch-e", true, 1, true);
  late.mutable_options()->mutable_deadline_21_10_0()->set_seconds(absl::ToUnixSeconds(absl::Now()) -
                                                                  60);
  ASSERT_TRUE(call->Write(late));
  ASSERT_TRUE(call->Write(BatchMessage("f", "$batch", true, 1, true)));
  ASSERT_TRUE(call->Write(BatchMessage("g", "batch-\xff", true, 1, true)));  // not UTF-8
  ASSERT_TRUE(call->Write(BatchMessage("h", std::string("batch\0h", 7), true, 1, true)));
  ASSERT_TRUE(call->Write(BatchMessage("a", "", false, 1, true)));
  ASSERT_TRUE(call->WritesDone());
  std::map<std::string, streams::BatchAppendResp> answers;
  for (streams::BatchAppendResp answer; call->Read(&answer);) {
    EXPECT_TRUE(answers.emplace(answer.correlation_id().string(), answer).second)
        << "two answers for " << answer.correlation_id().string();
  }
  EXPECT_TRUE(call->Finish().ok());  // the client half-closed and has every answer
  ASSERT_EQ(answers.size(), 8u);

  const auto& a = answers["a"];
  ASSERT_TRUE(a.has_success()) << a.error().message();
  EXPECT_EQ(a.success().current_revision(), 2u);
  EXPECT_EQ(a.success().position().commit_position(), head.value() + 3);
  EXPECT_EQ(a.stream_identifier().stream_name(), "batch-a");
  EXPECT_TRUE(a.has_any());

  const auto& b = answers["b"];
  ASSERT_TRUE(b.has_error());
  ::event_store::client::WrongExpectedVersion wrong_details;
  ASSERT_TRUE(b.error().details().UnpackTo(&wrong_details));
  EXPECT_TRUE(wrong_details.has_current_no_stream());
  EXPECT_EQ(wrong_details.expected_stream_position(), 5u);
  EXPECT_EQ(b.stream_position(), 5u);

  auto detail_type = [&](const char* id) {
    const auto& answer = answers[id];
    EXPECT_TRUE(answer.has_error()) << id;
    EXPECT_FALSE(answer.error().message().empty()) << id;
    const std::string& url = answer.error().details().type_url();
    return url.substr(url.rfind('/') + 1);
  };
  EXPECT_EQ(detail_type("c"), "event_store.client.BadRequest");
  EXPECT_EQ(detail_type("d"), "event_store.client.MaximumAppendSizeExceeded");
  ::event_store::client::MaximumAppendSizeExceeded exceeded;
  ASSERT_TRUE(answers["d"].error().details().UnpackTo(&exceeded));
  EXPECT_EQ(exceeded.maxappendsize(), ServerOptions().max_append_bytes);
  EXPECT_EQ(detail_type("e"), "event_store.client.Timeout");
  EXPECT_EQ(detail_type("f"), "event_store.client.BadRequest");
  EXPECT_EQ(detail_type("g"), "event_store.client.BadRequest");
  EXPECT_EQ(detail_type("h"), "event_store.client.BadRequest");

  EXPECT_EQ(store_->head().value(), head.value() + 3) << "only the good append writes";
  for (const char* stream : {"batch-b", "batch-c", "batch-d", "batch-e"}) {
    EXPECT_THAT(store_->GetStreamInfo(stream).status(), StatusIs(absl::StatusCode::kNotFound));
  }
}

// Concurrent clients, each on its own connection, appending one event at a
// time: the append funnel commits what meets there as one group, so there
// are fewer groups (fsyncs) than appends, and every append is there once.
TEST_F(ServerTest, ConcurrentClientsShareGroupCommits) {
  constexpr int kClients = 8, kAppends = 40;
  ASSERT_OK_AND_ASSIGN(StoreStats before, GetStoreStats(*store_));
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
      auto stub = streams::Streams::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      // Eight connections opened at once: a first attempt that fails on
      // loopback (seen once in 100 runs) is retried, not a failed append.
      context.set_wait_for_ready(true);
      auto call = stub->BatchAppend(&context);
      for (int i = 0; i < kAppends; ++i) {
        streams::BatchAppendReq request =
            BatchMessage(absl::StrCat(c, "-", i), absl::StrCat("group-", c), true, 1, true);
        streams::BatchAppendResp answer;
        if (!call->Write(request) || !call->Read(&answer) || !answer.has_success()) ++failures;
      }
      call->WritesDone();
      if (!call->Finish().ok()) ++failures;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(StoreStats after, GetStoreStats(*store_));
  const uint64_t groups = after.commit_groups - before.commit_groups;
  EXPECT_LT(groups, static_cast<uint64_t>(kClients * kAppends));
  EXPECT_GT(after.group_requests_max, 1u);
  for (int c = 0; c < kClients; ++c) {
    ASSERT_OK_AND_ASSIGN(StreamInfo info, store_->GetStreamInfo(absl::StrCat("group-", c)));
    EXPECT_EQ(info.last_revision.value(), static_cast<uint64_t>(kAppends - 1));
  }
}

// Appends sent one after another on one call, without waiting, are
// committed over several groups; their answers come back in commit order:
// the order they were sent, each at a higher position than the one before,
// the position the store gave it.
TEST_F(ServerTest, BatchAppendAnswersOfOneCallSpanningGroupsComeBackInCommitOrder) {
  constexpr int kAppends = 400;
  ASSERT_OK_AND_ASSIGN(StoreStats before, GetStoreStats(*store_));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto call = stub_->BatchAppend(&context);
  for (int i = 0; i < kAppends; ++i) {
    ASSERT_TRUE(call->Write(
        BatchMessage(absl::StrCat(i), absl::StrCat("order-", i % 7), true, 1 + i % 3, true)));
  }
  call->WritesDone();
  std::vector<uint64_t> positions;
  streams::BatchAppendResp answer;
  while (call->Read(&answer)) {
    ASSERT_TRUE(answer.has_success()) << answer.DebugString();
    EXPECT_EQ(answer.correlation_id().string(), absl::StrCat(positions.size()));
    positions.push_back(answer.success().position().commit_position());
  }
  ASSERT_TRUE(call->Finish().ok());
  ASSERT_EQ(positions.size(), static_cast<size_t>(kAppends));
  ASSERT_OK_AND_ASSIGN(StoreStats after, GetStoreStats(*store_));
  EXPECT_GE(after.commit_groups - before.commit_groups, 2u) << "the appends met in one group";
  for (size_t i = 1; i < positions.size(); ++i) EXPECT_LT(positions[i - 1], positions[i]);
  // Each answer's position is its append's last event, of its stream.
  for (size_t i = 0; i < positions.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventIterator> it,
                         store_->ReadAll({.from = Position(positions[i]), .max_count = 1}));
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->record().position, Position(positions[i]));
    EXPECT_EQ(it->record().stream, absl::StrCat("order-", i % 7));
  }
}

TEST_F(ServerTest, BatchAppendOfADeletedStreamIsTheClientsStreamDeletedError) {
  ASSERT_OK(store_->Append({.stream = "gone-1", .events = {Event("Placed")}}));
  ASSERT_OK(store_->TombstoneStream("gone-1", {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = stub_->BatchAppend(&context);
  ASSERT_TRUE(call->Write(BatchMessage("x", "gone-1", true, 1, true)));
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  ASSERT_TRUE(answer.has_error());
  ::event_store::client::StreamDeleted deleted;
  ASSERT_TRUE(answer.error().details().UnpackTo(&deleted));
  EXPECT_EQ(deleted.stream_identifier().stream_name(), "gone-1");
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
}

TEST_F(ServerTest, ShutdownEndsAnOpenBatchAppendAndAReadOnlyServerRefusesIt) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = stub_->BatchAppend(&context);
  ASSERT_TRUE(call->Write(BatchMessage("x", "open-1", true, 1, true)));
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  EXPECT_TRUE(answer.has_success());
  const absl::Time start = absl::Now();
  server_->Shutdown();
  while (call->Read(&answer)) {
  }
  EXPECT_EQ(call->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  ServerOptions options;
  options.read_only = true;
  StartServer(options);
  const Position head = store_->head();
  grpc::ClientContext ro_context;
  ro_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto ro_call = stub_->BatchAppend(&ro_context);
  ro_call->Write(BatchMessage("y", "ro-2", true, 1, true));
  while (ro_call->Read(&answer)) {
  }
  EXPECT_EQ(ro_call->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(store_->head(), head);
  features_stub_ = ::event_store::client::server_features::ServerFeatures::NewStub(channel_);
  grpc::ClientContext features_context;
  ::event_store::client::server_features::SupportedMethods methods;
  ASSERT_TRUE(features_stub_->GetSupportedMethods(&features_context, {}, &methods).ok());
  for (const auto& m : methods.methods()) EXPECT_NE(m.method_name(), "batchappend");
}

// A subscription from the start while another thread appends: every event
// once, in order, across the switch from catch-up to live; caught_up once.
TEST_F(ServerTest, ASubscriptionDeliversEveryEventOnceAcrossCatchUpAndLive) {
  constexpr int kBefore = 300, kAfter = 300;
  for (int i = 0; i < kBefore; ++i) {
    ASSERT_OK(store_->Append({"sub-1", ExpectedRevision::Any(), {Event("E")}}).status());
  }
  streams::ReadReq request = ReadStreamRequest("sub-1");
  request.mutable_options()->clear_count();
  request.mutable_options()->mutable_subscription();
  request.mutable_options()->mutable_control_option()->set_compatibility(1);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub_->Read(&context, request);
  std::thread writer([&] {
    for (int i = 0; i < kAfter; ++i) {
      store_->Append({"sub-1", ExpectedRevision::Any(), {Event("E")}}).IgnoreError();
    }
  });
  streams::ReadResp response;
  std::vector<uint64_t> revisions;
  int confirmations = 0, caught_up = 0;
  while (revisions.size() < kBefore + kAfter && reader->Read(&response)) {
    if (response.has_confirmation()) ++confirmations;
    if (response.has_caught_up()) ++caught_up;
    if (response.has_event()) revisions.push_back(response.event().event().stream_revision());
  }
  writer.join();
  context.TryCancel();
  reader->Finish().IgnoreError();
  EXPECT_EQ(confirmations, 1);
  EXPECT_LE(caught_up, 1);
  ASSERT_EQ(revisions.size(), static_cast<size_t>(kBefore + kAfter));
  for (size_t i = 0; i < revisions.size(); ++i) ASSERT_EQ(revisions[i], i);
}

// A live subscription whose client lets the store run far ahead hears
// fell_behind, gets every event, then caught_up again.
TEST_F(ServerTest, ALiveSubscriptionLeftBehindSaysSoAndCatchesUpAgain) {
  streams::ReadReq request;
  request.mutable_options()->mutable_all()->mutable_end();
  request.mutable_options()->mutable_subscription();
  request.mutable_options()->mutable_uuid_option()->mutable_string();
  request.mutable_options()->mutable_no_filter();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub_->Read(&context, request);
  streams::ReadResp response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_TRUE(response.has_confirmation());
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_TRUE(response.has_caught_up());
  // One commit far past what the subscription has sent: 4 read batches.
  const size_t behind = 4 * ServerOptions().read_batch + 10;
  std::vector<EventData> events;
  for (size_t i = 0; i < behind; ++i) events.push_back(Event("Burst"));
  const Position before = store_->head();
  ASSERT_OK(store_->Append({.stream = "burst-1", .events = std::move(events)}));
  std::vector<std::string> kinds;
  size_t received = 0;
  uint64_t last = before.value();
  while (received < behind && reader->Read(&response)) {
    if (response.has_fell_behind()) kinds.push_back("fell_behind");
    if (response.has_caught_up()) kinds.push_back("caught_up");
    if (response.has_event()) {
      if (kinds.empty() || kinds.back() != "events") kinds.push_back("events");
      EXPECT_EQ(response.event().commit_position(), last + 1);
      last = response.event().commit_position();
      ++received;
    }
  }
  ASSERT_EQ(received, behind);
  ASSERT_TRUE(reader->Read(&response));  // caught up again
  EXPECT_TRUE(response.has_caught_up());
  EXPECT_EQ(response.caught_up().position().commit_position(), store_->head().value());
  EXPECT_EQ(kinds, (std::vector<std::string>{"fell_behind", "events"}));
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish().IgnoreError();
}

TEST_F(ServerTest, ShutdownEndsOpenSubscriptionsWithUnavailable) {
  streams::ReadReq request;
  request.mutable_options()->mutable_all()->mutable_end();
  request.mutable_options()->mutable_subscription();
  request.mutable_options()->mutable_uuid_option()->mutable_string();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = stub_->Read(&context, request);
  streams::ReadResp response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_TRUE(response.has_confirmation());
  const absl::Time start = absl::Now();
  server_->Shutdown();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A CA and a server certificate it signed, for localhost and 127.0.0.1, in
// `dir` (ca.pem, cert.pem, key.pem): tests/server/make_test_cert.sh.
void MakeCertificate(const std::string& dir) {
  const std::string command = absl::StrCat("bash ", ANNALS_MAKE_TEST_CERT, " ", dir);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

std::string ReadText(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST_F(ServerTest, TlsServesClientsThatTrustItsCertificateAndOnlyThem) {
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_.path()));
  ServerOptions options;
  options.tls_cert_file = dir_.Sub("cert.pem");
  options.tls_key_file = dir_.Sub("key.pem");
#ifdef ANNALS_SERVER_METRICS
  options.metrics_port = 0;
#endif
  StartServer(options);
#ifdef ANNALS_SERVER_METRICS
  {  // The metrics endpoint is TLS too, with the same certificate.
    httplib::SSLClient metrics("localhost", server_->metrics_port());
    metrics.set_ca_cert_path(dir_.Sub("ca.pem").c_str());
    metrics.enable_server_certificate_verification(true);
    metrics.set_connection_timeout(5);
    httplib::Result result = metrics.Get("/metrics");
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, 200);
    EXPECT_THAT(result->body, HasSubstr("annals_server_append_calls_total"));
    httplib::Client plain("127.0.0.1", server_->metrics_port());
    plain.set_connection_timeout(5);
    plain.set_read_timeout(5);
    httplib::Result refused = plain.Get("/metrics");
    EXPECT_FALSE(refused && refused->status == 200);
  }
#endif
  grpc::SslCredentialsOptions trust;
  trust.pem_root_certs = ReadText(dir_.Sub("ca.pem"));
  auto tls = streams::Streams::NewStub(grpc::CreateChannel(
      absl::StrCat("localhost:", server_->port()), grpc::SslCredentials(trust)));
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    streams::AppendResp response;
    auto writer = tls->Append(&context, &response);
    ASSERT_TRUE(writer->Write(Options("tls-1")));
    ASSERT_TRUE(writer->Write(Proposed("Placed")));
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.has_success());
  }
  // A plaintext client gets nowhere.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  streams::AppendResp response;
  auto writer = stub_->Append(&context, &response);
  writer->Write(Options("plain-1"));
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(store_->GetStreamInfo("plain-1"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ServerTest, BadTlsOptionsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_.path()));
  ServerOptions only_cert;
  only_cert.tls_cert_file = dir_.Sub("cert.pem");
  EXPECT_THAT(Server::Start(*store_, only_cert), StatusIs(absl::StatusCode::kInvalidArgument));
  ServerOptions missing;
  missing.tls_cert_file = dir_.Sub("nothing.pem");
  missing.tls_key_file = dir_.Sub("key.pem");
  EXPECT_THAT(Server::Start(*store_, missing), StatusIs(absl::StatusCode::kNotFound));
  std::ofstream(dir_.Sub("not.pem")) << "hello";
  ServerOptions not_pem;
  not_pem.tls_cert_file = dir_.Sub("not.pem");
  not_pem.tls_key_file = dir_.Sub("key.pem");
  EXPECT_THAT(Server::Start(*store_, not_pem), StatusIs(absl::StatusCode::kInvalidArgument));
}

#ifdef ANNALS_SERVER_METRICS
// The value of `series` (a metric's name with its labels, as rendered) in
// the Prometheus text `text`; -1 if it has no such line.
double SampleOf(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      double value = -1;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
    }
  }
  return -1;
}

TEST_F(ServerTest, MetricsEndpointServesPrometheusTextThatMovesWithAppends) {
  // A durable subscriber one event behind the head, for its lag.
  ASSERT_OK(store_->Append({.stream = "order-0", .events = {Event("Placed")}}));
  {
    ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe({.durable_name = "mailer"}));
    ASSERT_OK(sub->Next(absl::Seconds(5)).status());
    ASSERT_OK(sub->SaveCheckpoint());
  }
  {  // A projection, stopped at the head: it falls behind with every later append.
    ProjectionRunner runner(*store_);
    ASSERT_OK(runner.Register({.name = "totals", .apply = [](const EventRecord&, ReadModelWriter&) {
                                 return absl::OkStatus();
                               }}));
    ASSERT_OK(runner.WaitForPosition("totals", store_->head(), absl::Seconds(30)));
    runner.Stop();
  }
  ASSERT_OK(store_->Append({.stream = "order-0", .events = {Event("Paid")}}));

  ServerOptions options;
  options.metrics_port = 0;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  ASSERT_GT(server_->metrics_port(), 0);
  httplib::Client client("127.0.0.1", server_->metrics_port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto fetch = [&]() -> std::string {
    httplib::Result result = client.Get("/metrics");
    if (!result) {
      ADD_FAILURE() << "GET /metrics: " << httplib::to_string(result.error());
      return "";
    }
    EXPECT_EQ(result->status, 200);
    EXPECT_THAT(result->get_header_value("Content-Type"), HasSubstr("text/plain"));
    return result->body;
  };

  const std::string before = fetch();
  for (const char* type :
       {"# TYPE annals_server_append_calls_total counter",
        "# TYPE annals_server_appended_events_total counter",
        "# TYPE annals_server_append_duration_seconds histogram",
        "# TYPE annals_server_subscriptions_open gauge", "# TYPE annals_store_head_position gauge",
        "# TYPE annals_store_commit_groups_total counter",
        "# TYPE annals_store_commit_group_requests histogram",
        "# TYPE annals_store_live_sst_bytes gauge", "# TYPE annals_subscriber_lag_positions gauge",
        "# TYPE annals_projection_lag_positions gauge"}) {
    EXPECT_THAT(before, HasSubstr(type));
  }
  EXPECT_THAT(before, HasSubstr("# HELP annals_server_append_calls_total "));
  EXPECT_EQ(SampleOf(before, "annals_server_append_calls_total"), 0);
  EXPECT_EQ(SampleOf(before, "annals_server_append_duration_seconds_count"), 0);
  EXPECT_EQ(SampleOf(before, "annals_store_head_position"), store_->head().value());
  const double lag = SampleOf(before, "annals_subscriber_lag_positions{subscriber=\"mailer\"}");
  EXPECT_EQ(lag,
            store_->head().value() -
                SampleOf(before, "annals_subscriber_checkpoint_position{subscriber=\"mailer\"}"));
  EXPECT_GE(lag, 1);
  const double projection_lag =
      SampleOf(before, "annals_projection_lag_positions{projection=\"totals\"}");
  EXPECT_EQ(projection_lag,
            store_->head().value() -
                SampleOf(before, "annals_projection_checkpoint_position{projection=\"totals\"}"));
  EXPECT_GE(projection_lag, 1);
  EXPECT_EQ(SampleOf(before, "annals_projection_parked_events{projection=\"totals\"}"), 0);
  EXPECT_GE(SampleOf(before, "annals_store_estimated_keys{column_family=\"log\"}"), 0);
  const double store_events = SampleOf(before, "annals_store_events_appended_total");

  streams::AppendResp response;
  ASSERT_TRUE(Append({Options("order-1"), Proposed("Placed"), Proposed("Paid")}, &response).ok());
  ASSERT_TRUE(response.has_success());
  const std::string after = fetch();
  EXPECT_EQ(SampleOf(after, "annals_server_append_calls_total"), 1);
  EXPECT_EQ(SampleOf(after, "annals_server_appended_events_total"), 2);
  EXPECT_GT(SampleOf(after, "annals_server_appended_bytes_total"), 0);
  EXPECT_EQ(SampleOf(after, "annals_server_append_duration_seconds_count"), 1);
  EXPECT_EQ(SampleOf(after, "annals_server_append_duration_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_EQ(SampleOf(after, "annals_store_events_appended_total"), store_events + 2);
  EXPECT_EQ(SampleOf(after, "annals_store_head_position"), store_->head().value());
  EXPECT_EQ(SampleOf(after, "annals_subscriber_lag_positions{subscriber=\"mailer\"}"), lag + 2);
  EXPECT_EQ(SampleOf(after, "annals_projection_lag_positions{projection=\"totals\"}"),
            projection_lag + 2);

  // A subscription open: the gauge says 1, and 0 again once it ends.
  EXPECT_EQ(SampleOf(after, "annals_server_subscriptions_open"), 0);
  {
    streams::ReadReq request;
    request.mutable_options()->mutable_all()->mutable_end();
    request.mutable_options()->mutable_subscription();
    request.mutable_options()->mutable_uuid_option()->mutable_string();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto reader = stub_->Read(&context, request);
    streams::ReadResp confirmation;
    ASSERT_TRUE(reader->Read(&confirmation));
    EXPECT_TRUE(confirmation.has_confirmation());
    const std::string open = fetch();
    EXPECT_EQ(SampleOf(open, "annals_server_subscriptions_open"), 1);
    EXPECT_EQ(SampleOf(open, "annals_server_subscriptions_total"), 1);
    context.TryCancel();
    while (reader->Read(&confirmation)) {
    }
    reader->Finish().IgnoreError();
  }
  double open_now = 1;
  for (int i = 0; i < 100 && open_now != 0; ++i) {
    open_now = SampleOf(fetch(), "annals_server_subscriptions_open");
    if (open_now != 0) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(open_now, 0);
  std::vector<streams::ReadResp> read;
  ASSERT_TRUE(Read(ReadStreamRequest("order-1"), &read).ok());
  EXPECT_EQ(SampleOf(fetch(), "annals_server_reads_total"), 1);

  server_->Shutdown();
  EXPECT_FALSE(client.Get("/metrics"));  // the endpoint stops with the server
}
#endif  // ANNALS_SERVER_METRICS

TEST_F(ServerTest, MetricsAreOffUnlessAPortIsGiven) {
  EXPECT_EQ(server_->metrics_port(), -1);
  ServerOptions bad;
  bad.metrics_port = 70000;
  EXPECT_THAT(Server::CheckOptions(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace annals::testing
