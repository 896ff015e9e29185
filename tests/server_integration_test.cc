// Whole-process tests of engram-server's data plane: the real binary on a
// loopback port, reached through the client library and raw gRPC stubs.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/engram_client.h"
#include "common/addressing/addresser.h"
#include "common/addressing/hash_spec.h"
#include "common/packed_row_ids.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kRowBytes = kSmallDemoValues * 4;

class ServerIntegrationTest : public DemoServerTest {
 protected:
  void SetUp() override {
    DemoServerTest::SetUp();
    if (HasFatalFailure()) return;
    absl::StatusOr<std::unique_ptr<client::EngramClient>> client = Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::EngramService::NewStub(channel_);
  }

  // Fetches `ids` of layer_3 and checks the rows against the demo generator.
  void ExpectServesCorrectly() {
    const std::vector<uint64_t> ids = {0, 1, LayerRows(3) - 1, 17, 17};
    std::string rows(ids.size() * kRowBytes, '\0');
    absl::StatusOr<client::LookupResult> result = client_->Lookup(
        "layer_3", ids, absl::MakeSpan(rows.data(), rows.size()));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(rows, ExpectedDemoRows(3, ids));
  }

  grpc::Status RawLookup(const std::string& table, const std::string& packed,
                         v1::LookupResponse* response) {
    grpc::ClientContext context;
    v1::LookupRequest request;
    request.set_table(table);
    request.set_row_ids(packed);
    return stub_->Lookup(&context, request, response);
  }

  std::unique_ptr<client::EngramClient> client_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EngramService::Stub> stub_;
};

TEST_F(ServerIntegrationTest, ListsDemoTablesWithTheirShapeAndSpec) {
  absl::StatusOr<std::vector<client::TableDescription>> tables =
      client_->ListTables();
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2);
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallDemoConfig());
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*tables)[0].name, "layer_3");
  EXPECT_EQ((*tables)[1].name, "layer_7");
  for (const client::TableDescription& table : *tables) {
    EXPECT_EQ(table.row_bytes, kRowBytes);
    EXPECT_EQ(table.element_type, ElementType::kF32);
    EXPECT_THAT(table.dims, ::testing::ElementsAre(kSmallDemoValues));
    EXPECT_EQ(table.version, 1);
    EXPECT_EQ(table.hash_spec_digest, spec->Digest());
  }
  EXPECT_EQ((*tables)[0].rows, spec->rows_in_layer(0));
  EXPECT_EQ((*tables)[1].rows, spec->rows_in_layer(1));
}

TEST_F(ServerIntegrationTest, DescribeTableCarriesTheLayerHashSpec) {
  grpc::ClientContext context;
  v1::DescribeTableRequest request;
  request.set_table("layer_7");
  v1::TableInfo info;
  ASSERT_TRUE(stub_->DescribeTable(&context, request, &info).ok());
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallDemoConfig());
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(info.hash_spec().layer_id(), 7);
  EXPECT_THAT(info.hash_spec().multipliers(),
              ::testing::ElementsAreArray(spec->multipliers(1)));
  EXPECT_THAT(info.hash_spec().head_sizes(),
              ::testing::ElementsAreArray(spec->head_sizes(1)));
}

TEST_F(ServerIntegrationTest, LookupReturnsRowsInRequestOrder) {
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 1000; ++i) ids.push_back((i * 7919) % LayerRows(7));
  std::string rows(ids.size() * kRowBytes, '\0');
  absl::StatusOr<client::LookupResult> result =
      client_->Lookup("layer_7", ids, absl::MakeSpan(rows.data(), rows.size()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->version, 1);
  EXPECT_EQ(result->row_bytes, kRowBytes);
  EXPECT_EQ(result->row_count, ids.size());
  EXPECT_EQ(rows, ExpectedDemoRows(7, ids));
}

TEST_F(ServerIntegrationTest, AsyncLookupsComplete) {
  constexpr int kCalls = 32;
  std::vector<std::vector<uint64_t>> ids(kCalls);
  std::vector<std::string> rows(kCalls);
  std::vector<absl::StatusOr<client::LookupResult>> results(
      kCalls, absl::UnknownError("not run"));
  std::vector<absl::Notification> done(kCalls);
  for (int c = 0; c < kCalls; ++c) {
    for (uint64_t i = 0; i < 64; ++i)
      ids[c].push_back((c * 64 + i) % LayerRows(3));
    rows[c].resize(ids[c].size() * kRowBytes);
    client_->LookupAsync("layer_3", ids[c],
                         absl::MakeSpan(rows[c].data(), rows[c].size()), {},
                         [&, c](absl::StatusOr<client::LookupResult> result) {
                           results[c] = std::move(result);
                           done[c].Notify();
                         });
  }
  for (int c = 0; c < kCalls; ++c) {
    ASSERT_TRUE(done[c].WaitForNotificationWithTimeout(absl::Seconds(30)));
    ASSERT_TRUE(results[c].ok()) << results[c].status();
    EXPECT_EQ(rows[c], ExpectedDemoRows(3, ids[c]));
  }
}

TEST_F(ServerIntegrationTest, UnknownTableIsNotFound) {
  std::string rows(kRowBytes, '\0');
  absl::StatusOr<client::LookupResult> result = client_->Lookup(
      "no_such_table", {0}, absl::MakeSpan(rows.data(), rows.size()));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("no_such_table"));
  EXPECT_EQ(client_->DescribeTable("nope").status().code(),
            absl::StatusCode::kNotFound);
  ExpectServesCorrectly();
}

TEST_F(ServerIntegrationTest, OutOfRangeRowIdNamesPositionAndValue) {
  const uint64_t rows = LayerRows(3);
  const std::vector<uint64_t> ids = {0, 5, rows, rows + 10};
  std::string out(ids.size() * kRowBytes, '\0');
  absl::StatusOr<client::LookupResult> result =
      client_->Lookup("layer_3", ids, absl::MakeSpan(out.data(), out.size()));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr(absl::StrCat("row id ", rows, " at position 2")));
  ExpectServesCorrectly();
}

TEST_F(ServerIntegrationTest, MalformedPackedIdsAreInvalidArgument) {
  v1::LookupResponse response;
  const grpc::Status status =
      RawLookup("layer_3", std::string(8 * 3 + 5, '\0'), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("multiple of 8"));
  ExpectServesCorrectly();
}

TEST_F(ServerIntegrationTest, EmptyBatchIsOkWithNoRows) {
  v1::LookupResponse response;
  const grpc::Status status = RawLookup("layer_3", "", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.row_count(), 0);
  EXPECT_TRUE(response.rows().empty());
  EXPECT_EQ(response.version(), 1);
}

TEST_F(ServerIntegrationTest, HashSpecDigestMismatchIsFailedPrecondition) {
  std::string rows(kRowBytes, '\0');
  client::LookupOptions options;
  options.hash_spec_digest = "0123456789abcdef";
  absl::StatusOr<client::LookupResult> result = client_->Lookup(
      "layer_3", {1}, absl::MakeSpan(rows.data(), rows.size()), options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallDemoConfig());
  options.hash_spec_digest = spec->Digest();
  EXPECT_TRUE(client_
                  ->Lookup("layer_3", {1},
                           absl::MakeSpan(rows.data(), rows.size()), options)
                  .ok());
}

TEST_F(ServerIntegrationTest, SmallOutputBufferIsInvalidArgument) {
  std::string rows(kRowBytes, '\0');
  absl::StatusOr<client::LookupResult> result = client_->Lookup(
      "layer_3", {1, 2}, absl::MakeSpan(rows.data(), rows.size()));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerIntegrationTest, ExpiredDeadlineIsDeadlineExceeded) {
  std::vector<uint64_t> ids(100000, 1);
  std::string rows(ids.size() * kRowBytes, '\0');
  client::LookupOptions options;
  options.timeout = absl::Nanoseconds(1);
  absl::StatusOr<client::LookupResult> result = client_->Lookup(
      "layer_3", ids, absl::MakeSpan(rows.data(), rows.size()), options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  ExpectServesCorrectly();
}

TEST_F(ServerIntegrationTest, StreamLookupAnswersEveryRequestById) {
  grpc::ClientContext context;
  auto stream = stub_->StreamLookup(&context);
  constexpr int kRequests = 64;
  // Every fifth request asks for a row past the end: it must fail alone.
  for (int r = 0; r < kRequests; ++r) {
    v1::StreamLookupRequest request;
    request.set_request_id(1000 + r);
    request.mutable_lookup()->set_table("layer_7");
    const uint64_t id = r % 5 == 4 ? LayerRows(7) + r : r;
    AppendPackedRowIds({id, id + 1},
                       request.mutable_lookup()->mutable_row_ids());
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::StreamLookupResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    const int r = static_cast<int>(response.request_id()) - 1000;
    ASSERT_GE(r, 0);
    ASSERT_LT(r, kRequests);
    if (r % 5 == 4) {
      EXPECT_EQ(response.status_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(response.status_message(), HasSubstr("out of range"));
    } else {
      EXPECT_EQ(response.status_code(), 0) << response.status_message();
      EXPECT_EQ(response.lookup().rows(),
                ExpectedDemoRows(7, {uint64_t(r), uint64_t(r) + 1}));
    }
    ++answered;
  }
  EXPECT_EQ(answered, kRequests);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerIntegrationTest, ClientVanishingMidStreamLeavesServerServing) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto context = std::make_unique<grpc::ClientContext>();
    auto stream = stub_->StreamLookup(context.get());
    for (int r = 0; r < 50; ++r) {
      v1::StreamLookupRequest request;
      request.set_request_id(r);
      request.mutable_lookup()->set_table("layer_3");
      std::vector<uint64_t> ids(2000, r);
      AppendPackedRowIds(ids, request.mutable_lookup()->mutable_row_ids());
      if (!stream->Write(request)) break;
    }
    // Abandon the stream with requests and responses in flight.
    context->TryCancel();
    stream->Finish();
  }
  // A separate connection that dies without any goodbye.
  {
    auto channel = grpc::CreateChannel(server_->address(),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1::EngramService::NewStub(channel);
    grpc::ClientContext context;
    auto stream = stub->StreamLookup(&context);
    v1::StreamLookupRequest request;
    request.mutable_lookup()->set_table("layer_3");
    AppendPackedRowIds({1, 2, 3}, request.mutable_lookup()->mutable_row_ids());
    stream->Write(request);
    context.TryCancel();
  }
  ASSERT_TRUE(server_->Running());
  ExpectServesCorrectly();
}

TEST_F(ServerIntegrationTest, HealthCheckReportsServing) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  // An empty grpc.health.v1.HealthCheckRequest (service "" = the server).
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                    grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // Field 1 (status), varint 1 = SERVING.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(ServerIntegrationTest, F32RowsConvertToBf16AndF16OnTheWayOut) {
  const std::vector<uint64_t> ids = {5, 0, 5};
  const std::string f32 = ExpectedDemoRows(3, ids);
  for (ElementType type : {ElementType::kBf16, ElementType::kF16}) {
    std::string rows(ids.size() * kSmallDemoValues * 2, '\0');
    client::LookupOptions options;
    options.output_type = type;
    absl::StatusOr<client::LookupResult> result = client_->Lookup(
        "layer_3", ids, absl::MakeSpan(rows.data(), rows.size()), options);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->row_bytes, kSmallDemoValues * 2);
    std::string expected(rows.size(), '\0');
    ConvertF32Elements(f32.data(), ids.size() * kSmallDemoValues, type,
                       expected.data());
    EXPECT_EQ(rows, expected) << ElementTypeName(type);
  }
  // The stream path converts too.
  grpc::ClientContext context;
  auto stream = stub_->StreamLookup(&context);
  v1::StreamLookupRequest request;
  request.mutable_lookup()->set_table("layer_3");
  request.mutable_lookup()->set_output_type(v1::ELEMENT_TYPE_BF16);
  AppendPackedRowIds({5}, request.mutable_lookup()->mutable_row_ids());
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  v1::StreamLookupResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.lookup().row_bytes(), kSmallDemoValues * 2);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerIntegrationTest, UnsupportedConversionsAreInvalidArgument) {
  std::string rows(kRowBytes, '\0');
  client::LookupOptions options;
  options.output_type = ElementType::kFp8E4m3;
  absl::StatusOr<client::LookupResult> result = client_->Lookup(
      "layer_3", {1}, absl::MakeSpan(rows.data(), rows.size()), options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("only f32 tables convert"));
  options.output_type = ElementType::kF32;  // Its own type: no conversion.
  EXPECT_TRUE(client_
                  ->Lookup("layer_3", {1},
                           absl::MakeSpan(rows.data(), rows.size()), options)
                  .ok());
  ExpectServesCorrectly();
}

TEST_F(ServerIntegrationTest, LookupTokensAddressesLikeTheReference) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallDemoConfig());
  ASSERT_TRUE(spec.ok());
  // Two sequences, the second left-padded to the first's length.
  const int batch = 2, time = 5;
  const std::vector<int64_t> tokens = {5, 0, 129279, 2, 77, 99, 99, 1, 2, 3};
  const std::vector<int32_t> lengths = {5, 3};
  const int rows_per_token = spec->rows_per_token();
  for (int64_t layer_id : {3, 7}) {
    std::vector<int64_t> row_ids(batch * time * rows_per_token);
    ASSERT_TRUE(ComputeRowIds(*spec, *spec->LayerIndex(layer_id), tokens, batch,
                              time, lengths, absl::MakeSpan(row_ids))
                    .ok());
    std::string rows(row_ids.size() * kRowBytes, '\0');
    absl::StatusOr<client::LookupResult> result = client_->LookupTokens(
        absl::StrCat("layer_", layer_id), tokens, batch, time, lengths,
        absl::MakeSpan(rows.data(), rows.size()));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->row_count, row_ids.size());
    EXPECT_EQ(rows,
              ExpectedDemoRows(layer_id, {row_ids.begin(), row_ids.end()}));
  }
}

TEST_F(ServerIntegrationTest, LookupTokensRejectsBadTokensAndShapes) {
  std::string rows(64 * kRowBytes, '\0');
  auto lookup = [&](std::vector<int64_t> tokens, int batch, int time,
                    std::vector<int32_t> lengths) {
    return client_
        ->LookupTokens("layer_3", tokens, batch, time, lengths,
                       absl::MakeSpan(rows.data(), rows.size()))
        .status();
  };
  absl::Status status = lookup({1, 2, 129280}, 1, 3, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("129280"));
  status = lookup({1, -5, 3}, 1, 3, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("-5"));
  EXPECT_EQ(lookup({1, 2, 3}, 2, 2, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lookup({1, 2, 3, 4}, 2, 2, {1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lookup({1, 2, 3, 4}, 2, 2, {3, 1}).code(),
            absl::StatusCode::kInvalidArgument);
  ExpectServesCorrectly();
}

class LimitedServerTest : public ServerIntegrationTest {
 protected:
  std::vector<std::string> ExtraServerFlags() const override {
    return {"--max-batch-rows", "100", "--max-response-bytes",
            absl::StrCat(50 * kRowBytes)};
  }
};

TEST_F(LimitedServerTest, BatchOverRowLimitIsResourceExhausted) {
  std::vector<uint64_t> ids(101, 1);
  std::string rows(ids.size() * kRowBytes, '\0');
  absl::StatusOr<client::LookupResult> result =
      client_->Lookup("layer_3", ids, absl::MakeSpan(rows.data(), rows.size()));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(result.status().message(), HasSubstr("--max-batch-rows"));
  ExpectServesCorrectly();
}

TEST_F(LimitedServerTest, BatchOverByteLimitIsResourceExhausted) {
  std::vector<uint64_t> ids(51, 1);
  std::string rows(ids.size() * kRowBytes, '\0');
  absl::StatusOr<client::LookupResult> result =
      client_->Lookup("layer_3", ids, absl::MakeSpan(rows.data(), rows.size()));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(result.status().message(), HasSubstr("--max-response-bytes"));
  std::vector<uint64_t> fits(50, 1);
  EXPECT_TRUE(
      client_->Lookup("layer_3", fits, absl::MakeSpan(rows.data(), rows.size()))
          .ok());
}

TEST(ClientErrorsTest, UnreachableServerIsUnavailable) {
  client::ClientOptions options;
  options.server_address = "127.0.0.1:1";
  options.default_timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<client::EngramClient>> client =
      client::EngramClient::Create(options);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->ListTables().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ClientErrorsTest, BadOptionsAreInvalidArgument) {
  EXPECT_EQ(client::EngramClient::Create({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  client::ClientOptions options;
  options.server_address = "127.0.0.1:1";
  options.connections = 0;
  EXPECT_EQ(client::EngramClient::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::testing
