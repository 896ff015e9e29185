// Request ids end to end: a real engram-server echoes the client's
// x-request-id (or one it made) in each response's initial metadata and
// writes it into the log lines of that call; EngramClient and engramctl
// send the ids they are given.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/engram_client.h"
#include "client/prefetcher.h"
#include "common/request_id.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class RequestIdTest : public DemoServerTest {
 protected:
  // Failed data-plane calls are logged at --v=1.
  std::vector<std::string> ExtraServerFlags() const override {
    return {"--v=1"};
  }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(server_->address(),
                               grpc::InsecureChannelCredentials());
  }

  // The x-request-id the server sent back on `context`'s call.
  static std::string Echoed(const grpc::ClientContext& context) {
    const auto& metadata = context.GetServerInitialMetadata();
    const auto found = metadata.find(kRequestIdMetadataKey);
    if (found == metadata.end()) return "";
    return std::string(found->second.data(), found->second.size());
  }

  // A DescribeTable call, sending `request_id` unless it is empty; returns
  // the id the server echoed.
  std::string Describe(const std::string& request_id) const {
    auto stub = v1::EngramService::NewStub(Channel());
    grpc::ClientContext context;
    AddRequestId(request_id, &context);
    v1::DescribeTableRequest request;
    request.set_table("layer_3");
    v1::TableInfo info;
    EXPECT_TRUE(stub->DescribeTable(&context, request, &info).ok());
    return Echoed(context);
  }

  // The code of a one-row Lookup of `table` by `client` with `lookup`.
  static absl::StatusCode LookupOneRow(client::EngramClient& client,
                                       const std::string& table,
                                       const client::LookupOptions& lookup) {
    const std::vector<uint64_t> ids = {0};
    std::string out(64, '\0');
    return client.Lookup(table, ids, absl::MakeSpan(out), lookup)
        .status()
        .code();
  }
};

TEST_F(RequestIdTest, TheClientsIdIsEchoedAndLoggedWithTheCall) {
  auto admin = v1::EngramAdmin::NewStub(Channel());
  grpc::ClientContext context;
  context.AddMetadata(kRequestIdMetadataKey, "deploy-42.a");
  v1::CreatePatchRequest request;
  request.set_table("layer_3");
  v1::PatchInfo patch;
  ASSERT_TRUE(admin->CreatePatch(&context, request, &patch).ok());
  EXPECT_EQ(Echoed(context), "deploy-42.a");
  EXPECT_THAT(server_->Log(),
              HasSubstr("request_id=deploy-42.a patch " +
                        std::to_string(patch.patch_id()) + " of table"));
}

TEST_F(RequestIdTest, AStreamsFailureIsLoggedWithItsId) {
  auto admin = v1::EngramAdmin::NewStub(Channel());
  grpc::ClientContext context;
  context.AddMetadata(kRequestIdMetadataKey, "import-7");
  v1::ImportTableResponse response;
  auto writer = admin->ImportTable(&context, &response);
  v1::ImportTableRequest header;
  v1::TableInfo* info = header.mutable_header()->mutable_info();
  info->set_name("layer_3");
  info->set_rows(1);
  info->set_row_bytes(4);
  info->set_element_type(v1::ELEMENT_TYPE_OPAQUE);
  writer->Write(header);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Echoed(context), "import-7");
  EXPECT_THAT(server_->Log(),
              HasSubstr("request_id=import-7 import of table 'layer_3' "
                        "failed: ALREADY_EXISTS"));
}

TEST_F(RequestIdTest, CallsWithoutAUsableIdGetFreshOnes) {
  const std::string first = Describe("");
  const std::string second = Describe("");
  EXPECT_THAT(first, MatchesRegex("[0-9a-f]{8}-[0-9]+"));
  EXPECT_THAT(second, MatchesRegex("[0-9a-f]{8}-[0-9]+"));
  EXPECT_NE(first, second);
  // Not one token, or too long for a log line: replaced.
  EXPECT_THAT(Describe("two words"), MatchesRegex("[0-9a-f]{8}-[0-9]+"));
  EXPECT_THAT(Describe(std::string(65, 'x')),
              MatchesRegex("[0-9a-f]{8}-[0-9]+"));
  EXPECT_EQ(Describe(std::string(64, 'x')), std::string(64, 'x'));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("two words")));
}

TEST_F(RequestIdTest, TheClientSendsItsIdOrTheLookupsOwn) {
  client::ClientOptions options;
  options.server_address = server_->address();
  options.request_id = "worker-3";
  auto client = client::EngramClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->DescribeTable("no_such_table").status().code(),
            absl::StatusCode::kNotFound);
  client::LookupOptions lookup;
  lookup.request_id = "step-9";
  EXPECT_EQ(LookupOneRow(**client, "no_such_table", lookup),
            absl::StatusCode::kNotFound);
  const std::string log = server_->Log();
  EXPECT_THAT(log, HasSubstr("request_id=worker-3 call failed: NOT_FOUND"));
  EXPECT_THAT(log, HasSubstr("request_id=step-9 call failed: NOT_FOUND"));
}

TEST_F(RequestIdTest, TheClientRefusesIdsTheServerWouldReplace) {
  client::ClientOptions options;
  options.server_address = server_->address();
  options.request_id = "two words";
  EXPECT_EQ(client::EngramClient::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  client::LookupOptions lookup;
  lookup.request_id = std::string(65, 'x');
  EXPECT_EQ(LookupOneRow(**client, "layer_3", lookup),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RequestIdTest, EngramctlSendsTheRequestIdFlag) {
  const CommandResult created =
      RunEngramctl(server_->address(),
                   {"--request-id", "ops-1", "patch", "create", "layer_3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(server_->Log(), HasSubstr("request_id=ops-1 patch "));

  const CommandResult refused =
      RunEngramctl(server_->address(),
                   {"--request-id", "a=b", "patch", "create", "layer_3"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("--request-id:"));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("a=b")));
}

TEST_F(RequestIdTest, PrefetchStepsCarryTheirOwnIds) {
  auto client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  // A pin the server never made: every lookup fails and is logged.
  client::PrefetcherOptions options;
  options.tables = {"layer_3", "layer_7"};
  options.lookup.pin_id = 424242;
  options.lookup.request_id = "worker-5";
  auto prefetcher = client::Prefetcher::Create(client->get(), options);
  ASSERT_TRUE(prefetcher.ok()) << prefetcher.status();
  const auto buffers = [&](int positions) {
    std::vector<std::string> rows;
    for (int l = 0; l < (*prefetcher)->num_layers(); ++l) {
      rows.emplace_back(size_t(positions) * (*prefetcher)->rows_per_token(l) *
                            (*prefetcher)->row_bytes(l),
                        '\0');
    }
    return rows;
  };
  const auto spans = [](std::vector<std::string>& rows) {
    std::vector<absl::Span<char>> out;
    for (std::string& layer : rows) out.push_back(absl::MakeSpan(layer));
    return out;
  };
  std::vector<std::string> prefill_rows = buffers(3);
  const std::vector<int64_t> tokens = {1, 2, 3};
  absl::StatusOr<std::unique_ptr<client::PrefetchStep>> step =
      (*prefetcher)->Prefill(tokens, 1, 3, {}, spans(prefill_rows), "step-1");
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ((*step)->Wait(0, absl::InfiniteFuture()).code(),
            absl::StatusCode::kNotFound);
  std::vector<std::string> decode_rows = buffers(1);
  const std::vector<int64_t> next = {4};
  EXPECT_EQ((*prefetcher)
                ->Decode(next, spans(decode_rows), "two words")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  step = (*prefetcher)->Decode(next, spans(decode_rows));
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ((*step)->Wait(1, absl::InfiniteFuture()).code(),
            absl::StatusCode::kNotFound);
  const std::string log = server_->Log();
  EXPECT_THAT(log, HasSubstr("request_id=step-1 call failed: NOT_FOUND"));
  EXPECT_THAT(log, HasSubstr("request_id=worker-5 call failed: NOT_FOUND"));
  EXPECT_THAT(log, Not(HasSubstr("two words")));
}

}  // namespace
}  // namespace engram::testing
