// The PersistentSubscriptions service through gRPC stubs: what the Node
// clients cannot send (a read without options, an ack before them, options
// twice, filters and strategies it cannot serve) and the wire shapes older
// clients use (the stream and start in the deprecated fields). Each is a
// clear status, and a refused create writes nothing.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "annals/server.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kurrent/persistent.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

namespace ps = ::event_store::client::persistent_subscriptions;
using ::testing::HasSubstr;

class PersistentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options = TestOptions();
    options.system_streams = {"$settings"};  // the server records its start there
    ASSERT_OK_AND_ASSIGN(store_, EventStore::Open(dir_.Sub("store"), options));
    ASSERT_OK_AND_ASSIGN(server_, Server::Start(*store_, {.port = 0}));
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = ps::PersistentSubscriptions::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static ps::CreateReq StreamCreate(const std::string& stream, const std::string& group) {
    ps::CreateReq request;
    auto* options = request.mutable_options();
    options->mutable_stream()->mutable_stream_identifier()->set_stream_name(stream);
    options->mutable_stream()->mutable_start();
    options->set_group_name(group);
    options->mutable_settings()->set_max_retry_count(3);
    options->mutable_settings()->set_message_timeout_ms(30000);
    options->mutable_settings()->set_consumer_strategy("RoundRobin");
    return request;
  }

  grpc::Status Create(const ps::CreateReq& request,
                      std::multimap<std::string, std::string>* trailers = nullptr) {
    grpc::ClientContext context;
    ps::CreateResp response;
    grpc::Status status = stub_->Create(&context, request, &response);
    if (trailers != nullptr) {
      for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
        trailers->emplace(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
      }
    }
    return status;
  }

  // A Read call: writes `messages`, then reads what comes back until the
  // call ends or `want` messages came; returns the status (OK while open).
  grpc::Status Read(const std::vector<ps::ReadReq>& messages, std::vector<ps::ReadResp>* out,
                    size_t want = 100) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub_->Read(&context);
    for (const auto& message : messages) stream->Write(message);
    ps::ReadResp response;
    while (out->size() < want && stream->Read(&response)) out->push_back(response);
    if (out->size() >= want) {
      context.TryCancel();
      return grpc::Status::OK;
    }
    return stream->Finish();
  }

  static ps::ReadReq ReadOptions(const std::string& stream, const std::string& group) {
    ps::ReadReq request;
    request.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    request.mutable_options()->set_group_name(group);
    request.mutable_options()->set_buffer_size(10);
    request.mutable_options()->mutable_uuid_option()->mutable_string();
    return request;
  }

  TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ps::PersistentSubscriptions::Stub> stub_;
};

TEST_F(PersistentServiceTest, AGroupIsCreatedReadWithItsRetryCountAndAcked) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {Event("Placed")}}).status());
  }
  ASSERT_TRUE(Create(StreamCreate("order-1", "billing")).ok());
  std::vector<ps::ReadResp> read;
  ASSERT_TRUE(Read({ReadOptions("order-1", "billing")}, &read, 4).ok());
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read[0].subscription_confirmation().subscription_id(), "order-1::billing");
  for (size_t i = 1; i < read.size(); ++i) {
    EXPECT_EQ(read[i].event().event().stream_revision(), i - 1);
    EXPECT_EQ(read[i].event().retry_count(), 0);
    EXPECT_EQ(read[i].event().event().stream_identifier().stream_name(), "order-1");
  }
  // Not acknowledged, and the call is gone: delivered again, retried once.
  read.clear();
  ASSERT_TRUE(Read({ReadOptions("order-1", "billing")}, &read, 2).ok());
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[1].event().retry_count(), 1);
}

TEST_F(PersistentServiceTest, TheDeprecatedStreamAndRevisionOfOlderClientsAreUnderstood) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(store_->Append({"order-2", ExpectedRevision::Any(), {Event("Placed")}}).status());
  }
  ps::CreateReq request;
  request.mutable_options()->mutable_stream_identifier()->set_stream_name("order-2");
  request.mutable_options()->set_group_name("old");
  request.mutable_options()->mutable_settings()->set_revision(3);  // start at revision 3
  request.mutable_options()->mutable_settings()->set_named_consumer_strategy(
      ps::CreateReq::RoundRobin);
  ASSERT_TRUE(Create(request).ok());
  std::vector<ps::ReadResp> read;
  ASSERT_TRUE(Read({ReadOptions("order-2", "old")}, &read, 3).ok());
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[1].event().event().stream_revision(), 3u);
  EXPECT_EQ(read[2].event().event().stream_revision(), 4u);
}

TEST_F(PersistentServiceTest, BadRequestsAreClearStatusesAndCreateNothing) {
  std::multimap<std::string, std::string> trailers;
  ASSERT_TRUE(Create(StreamCreate("order-1", "g")).ok());
  grpc::Status again = Create(StreamCreate("order-1", "g"), &trailers);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(trailers.find("exception")->second, "persistent-subscription-exists");
  EXPECT_EQ(trailers.find("group-name")->second, "g");

  auto invalid = [&](ps::CreateReq request, const char* what) {
    grpc::Status status = Create(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
    EXPECT_THAT(status.error_message(), HasSubstr(what));
  };
  invalid(ps::CreateReq(), "options");
  invalid(StreamCreate("", "g2"), "stream");
  invalid(StreamCreate("order-1", ""), "group");
  ps::CreateReq strategy = StreamCreate("order-1", "g3");
  strategy.mutable_options()->mutable_settings()->set_consumer_strategy("PinnedByCorrelation");
  invalid(strategy, "PinnedByCorrelation");
  ps::CreateReq retries = StreamCreate("order-1", "g4");
  retries.mutable_options()->mutable_settings()->set_max_retry_count(-1);
  invalid(retries, "max_retry_count");
  ps::CreateReq regex;
  regex.mutable_options()->set_group_name("g5");
  regex.mutable_options()->mutable_all()->mutable_start();
  regex.mutable_options()->mutable_all()->mutable_filter()->mutable_stream_identifier()->set_regex(
      "^order-[0-9]+$");
  invalid(regex, "regex");
  ps::CreateReq types;
  types.mutable_options()->set_group_name("g6");
  types.mutable_options()->mutable_all()->mutable_start();
  types.mutable_options()->mutable_all()->mutable_filter()->mutable_event_type()->add_prefix("Pl");
  invalid(types, "event types");
  invalid(StreamCreate(std::string("a\0b", 3), "g7"), "");

  // Only the first group exists.
  grpc::ClientContext list_context;
  ps::ListReq list;
  list.mutable_options()->mutable_list_all_subscriptions();
  ps::ListResp listed;
  ASSERT_TRUE(stub_->List(&list_context, list, &listed).ok());
  ASSERT_EQ(listed.subscriptions_size(), 1);
  EXPECT_EQ(listed.subscriptions(0).group_name(), "g");
  EXPECT_EQ(listed.subscriptions(0).event_source(), "order-1");
}

TEST_F(PersistentServiceTest, AReadWithoutOptionsFirstOrWithThemTwiceIsRefused) {
  ASSERT_TRUE(Create(StreamCreate("order-1", "g")).ok());
  std::vector<ps::ReadResp> read;
  ps::ReadReq ack;
  ack.mutable_ack()->add_ids()->set_string(EventId::Generate().ToString());
  grpc::Status status = Read({ack}, &read);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("first message"));

  read.clear();
  status = Read({ReadOptions("order-1", "g"), ReadOptions("order-1", "g")}, &read);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("once"));

  read.clear();
  status = Read({ReadOptions("order-1", "missing")}, &read);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  // An ack of an id never delivered is ignored; the call goes on.
  ASSERT_OK(store_->Append({"order-1", ExpectedRevision::Any(), {Event("Placed")}}).status());
  read.clear();
  ASSERT_TRUE(Read({ReadOptions("order-1", "g"), ack}, &read, 2).ok());
  EXPECT_EQ(read.size(), 2u);
}

TEST_F(PersistentServiceTest, AReadOnlyServerAnswersWithNotLeader) {
  server_->Shutdown();
  server_.reset();
  ASSERT_OK_AND_ASSIGN(server_, Server::Start(*store_, {.port = 0, .read_only = true}));
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                 grpc::InsecureChannelCredentials());
  stub_ = ps::PersistentSubscriptions::NewStub(channel_);
  std::multimap<std::string, std::string> trailers;
  grpc::Status status = Create(StreamCreate("order-1", "g"), &trailers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(trailers.find("exception")->second, "not-leader");
  std::vector<ps::ReadResp> read;
  EXPECT_EQ(Read({ReadOptions("order-1", "g")}, &read).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace annals::testing
