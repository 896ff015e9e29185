// Clients that laid their buffers out by an earlier DescribeTable, against
// a table replaced since: by one imported under its name without its hash
// spec, or by a server restarted with rows of another size. Their lookups
// fail with FAILED_PRECONDITION, or (CachingClient) describe the table
// again; none hands out rows at the old offsets.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/caching_client.h"
#include "client/engram_client.h"
#include "client/prefetcher.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cache_warming.h"
#include "tests/demo_server_fixture.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kF32RowBytes = kSmallDemoValues * 4;
constexpr uint32_t kBf16RowBytes = kSmallDemoValues * 2;

// The small demo tables served on a Unix socket, so that a server
// restarted with other flags is found at the same address.
class ReplacedTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = "unix:" + dir_.path() + "/engram.sock";
    ASSERT_NO_FATAL_FAILURE(StartServer("f32"));
    auto connected = ConnectDemoPrefetcher(socket_);
    ASSERT_TRUE(connected.ok()) << connected.status();
    client_ = std::move(connected->client);
    prefetcher_ = std::move(connected->prefetcher);
  }

  // Starts (or restarts) the server, its demo rows of `dtype`, in a data
  // directory of their own.
  void StartServer(const std::string& dtype) {
    if (server_ != nullptr) ASSERT_EQ(server_->Terminate(), 0);
    std::vector<std::string> flags = SmallDemoFlags();
    flags.insert(flags.end(), {"--listen", socket_, "--demo-dtype", dtype});
    auto server = ServerProcess::Start(dir_.path() + "/data-" + dtype, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // The status of each layer of one decode step of two sequences, once the
  // server answers (a restarted one may take a reconnect first).
  std::vector<absl::Status> DecodeStatuses() {
    std::vector<std::string> out(
        2, std::string(2 * prefetcher_->rows_per_token(0) * kF32RowBytes, '?'));
    std::vector<absl::Status> statuses;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    do {
      statuses.clear();
      auto step =
          prefetcher_->Decode(std::vector<int64_t>{1, 2},
                              {absl::MakeSpan(out[0].data(), out[0].size()),
                               absl::MakeSpan(out[1].data(), out[1].size())});
      if (!step.ok()) return {step.status(), step.status()};
      for (int layer = 0; layer < 2; ++layer) {
        statuses.push_back(
            (*step)->Wait(layer, absl::Now() + absl::Seconds(10)));
      }
    } while (absl::IsUnavailable(statuses[0]) && absl::Now() < deadline);
    return statuses;
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::EngramClient> client_;
  std::unique_ptr<client::Prefetcher> prefetcher_;
};

// Addresses computed under a table's hash spec name other rows of a table
// imported under its name since.
TEST_F(ReplacedTableTest, PrefetcherRefusesATableImportedWithoutItsHashSpec) {
  ASSERT_TRUE(DecodeStatuses()[0].ok());
  const uint64_t rows = LayerRows(3);
  const std::string file = dir_.path() + "/plain.npy";
  WriteNpyFile(file, "<f4", {rows, kSmallDemoValues},
               F32Rows(static_cast<int>(rows), kSmallDemoValues));
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"drop", "layer_3"},
        std::vector<std::string>{"import", "layer_3", file}}) {
    const CommandResult result = RunEngramctl(socket_, command);
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  const std::vector<absl::Status> statuses = DecodeStatuses();
  EXPECT_EQ(statuses[0].code(), absl::StatusCode::kFailedPrecondition)
      << statuses[0];
  EXPECT_THAT(statuses[0].message(), HasSubstr("hash spec"));
  EXPECT_TRUE(statuses[1].ok()) << statuses[1];
}

// The same addressing with rows of another size: they would land at the
// wrong offsets of the step's buffers.
TEST_F(ReplacedTableTest, PrefetcherRefusesRowsOfAnotherSize) {
  ASSERT_TRUE(DecodeStatuses()[0].ok());
  ASSERT_NO_FATAL_FAILURE(StartServer("bf16"));
  for (const absl::Status& status : DecodeStatuses()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_THAT(status.message(),
                HasSubstr(absl::StrCat("now serves rows of ", kBf16RowBytes,
                                       " bytes, not the ", kF32RowBytes)));
  }
}

// Rows of the same size and another type: they would land where they
// should and be decoded as the type the worker described (bf16 bits read
// as f16).
TEST_F(ReplacedTableTest, PrefetcherRefusesRowsOfAnotherTypeOfTheSameSize) {
  // Gone first: gRPC would hand the new client their connection to the
  // stopped server, which they have not yet seen closed.
  prefetcher_.reset();
  client_.reset();
  ASSERT_NO_FATAL_FAILURE(StartServer("bf16"));
  auto connected = ConnectDemoPrefetcher(socket_);
  ASSERT_TRUE(connected.ok()) << connected.status();
  client_ = std::move(connected->client);
  prefetcher_ = std::move(connected->prefetcher);
  ASSERT_EQ(prefetcher_->element_type(0), ElementType::kBf16);
  ASSERT_TRUE(DecodeStatuses()[0].ok());

  ASSERT_NO_FATAL_FAILURE(StartServer("f16"));
  for (const absl::Status& status : DecodeStatuses()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_THAT(status.message(),
                HasSubstr("now serves f16 rows, not the bf16 it was described "
                          "with: it was replaced since"));
  }
  // Each lookup says what its rows are.
  const uint64_t id = 5;
  std::string row(kBf16RowBytes, '?');
  absl::StatusOr<client::LookupResult> result = client_->Lookup(
      "layer_3", {&id, 1}, absl::MakeSpan(row.data(), row.size()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->row_bytes, kBf16RowBytes);
  EXPECT_EQ(result->element_type, ElementType::kF16);
}

// A worker cache whose watch comes back up on a server with rows of
// another size must not cache them under the old size.
TEST_F(ReplacedTableTest, CachingClientDescribesTheTableAgain) {
  auto cached = client::CachingClient::Create(*ConnectClient(socket_),
                                              {.capacity_bytes = 1 << 20});
  ASSERT_TRUE(cached.ok()) << cached.status();
  const uint64_t id = 5;
  std::string row(kF32RowBytes, '?');
  // Looks row 5 of layer_3 up into `row`, whose size says what the caller
  // expects.
  const auto lookup = [&] {
    return (*cached)->Lookup("layer_3", {&id, 1},
                             absl::MakeSpan(row.data(), row.size()));
  };
  ASSERT_TRUE(
      LookUpUntilCached(**cached, [&] { return lookup().status(); }).ok());
  EXPECT_EQ(row, ExpectedDemoRows(3, {id}));

  ASSERT_NO_FATAL_FAILURE(StartServer("bf16"));
  std::string served(kBf16RowBytes, '?');
  ASSERT_TRUE(client_
                  ->Lookup("layer_3", {&id, 1},
                           absl::MakeSpan(served.data(), served.size()))
                  .ok());
  // Until the cache learns the new size, every answer is an error or says
  // how big its rows are; none is a row of the old size.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<client::LookupResult> result;
  do {
    row.assign(kF32RowBytes, '?');
    result = lookup();
    if (result.ok()) {
      ASSERT_EQ(result->row_bytes, kBf16RowBytes);
      EXPECT_EQ(row.substr(0, kBf16RowBytes), served);
    } else {
      ASSERT_THAT(result.status().code(),
                  ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                   absl::StatusCode::kFailedPrecondition))
          << result.status();
    }
    absl::SleepFor(absl::Milliseconds(50));
  } while (!absl::IsFailedPrecondition(result.status()) &&
           absl::Now() < deadline);
  ASSERT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();

  // Described again: the new rows are served, and cached once the new
  // watch is up.
  const uint64_t hits_before = (*cached)->stats().hits;
  row.assign(kBf16RowBytes, '?');
  for (int i = 0; i < 30 && (*cached)->stats().hits < hits_before + 5; ++i) {
    result = lookup();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->row_bytes, kBf16RowBytes);
    EXPECT_EQ(row, served);
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_GE((*cached)->stats().hits, hits_before + 5);
}

}  // namespace
}  // namespace engram::testing
