// The CUDA addresser must equal the CPU addresser bit for bit. Without a
// device, only the graceful-failure checks run; the rest GTEST_SKIP().
#include "common/addressing/addresser_cuda.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/cuda_status.h"
#include "common/addressing/hash_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;

std::vector<int64_t> RandomTokens(size_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> tokens(n);
  for (int64_t& t : tokens) t = static_cast<int64_t>(rng() % vocab);
  return tokens;
}

std::shared_ptr<const HashSpec> MakeSpec(bool with_compression) {
  HashSpecConfig config;
  config.layer_ids = {2, 6, 11};
  config.max_ngram = 4;
  config.vocab_sizes = {50000, 70000, 90000};
  config.heads_per_ngram = 4;
  config.tokenizer_vocab = 32000;
  config.pad_id = 5;
  if (with_compression) {
    CompressionMap::Options options;
    options.compressed_vocab = config.tokenizer_vocab;
    config.compression = *CompressionMap::FromLookup(
        RandomTokens(40000, config.tokenizer_vocab, 9), options);
  }
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return std::make_shared<const HashSpec>(*std::move(spec));
}

TEST(CudaStatusTest, ErrorsMapToStatusCodes) {
  EXPECT_TRUE(CudaErrorToStatus(cudaSuccess, "x", "f", 1).ok());
  const absl::Status oom = CudaErrorToStatus(
      cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "file.cc", 12);
  EXPECT_EQ(oom.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(oom.message(), HasSubstr("cudaMalloc(&p, n) failed"));
  EXPECT_THAT(oom.message(), HasSubstr("file.cc:12"));
  EXPECT_EQ(CudaErrorToStatus(cudaErrorNoDevice, "x", "f", 1).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(CudaErrorToStatus(cudaErrorLaunchFailure, "x", "f", 1).code(),
            absl::StatusCode::kInternal);
}

TEST(CudaAddresserTest, CreateFailsCleanlyWithoutDevice) {
  if (CudaDeviceAvailable()) GTEST_SKIP() << "a device is present";
  absl::StatusOr<std::unique_ptr<CudaAddresser>> addresser =
      CudaAddresser::Create(MakeSpec(false));
  EXPECT_FALSE(addresser.ok());
}

class CudaAddresserDeviceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
    spec_ = MakeSpec(GetParam());
    absl::StatusOr<std::unique_ptr<CudaAddresser>> addresser =
        CudaAddresser::Create(spec_);
    ASSERT_TRUE(addresser.ok()) << addresser.status();
    gpu_ = *std::move(addresser);
  }
  std::shared_ptr<const HashSpec> spec_;
  std::unique_ptr<CudaAddresser> gpu_;
};

TEST_P(CudaAddresserDeviceTest, PrefillEqualsCpu) {
  const int batch = 5, time = 300;
  const std::vector<int64_t> tokens =
      RandomTokens(batch * time, spec_->raw_vocab(), 1);
  const std::vector<int32_t> lengths = {300, 0, 1, 150, 299};
  const size_t outputs = batch * time * spec_->rows_per_token();
  for (int layer = 0; layer < spec_->num_layers(); ++layer) {
    std::vector<int64_t> cpu_rows(outputs), cpu_hash(outputs);
    std::vector<int64_t> gpu_rows(outputs), gpu_hash(outputs);
    ASSERT_TRUE(ComputeRowIds(*spec_, layer, tokens, batch, time, lengths,
                              absl::MakeSpan(cpu_rows),
                              absl::MakeSpan(cpu_hash))
                    .ok());
    const absl::Status status =
        gpu_->ComputeRowIds(layer, tokens, batch, time, lengths,
                            absl::MakeSpan(gpu_rows), absl::MakeSpan(gpu_hash));
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(gpu_rows, cpu_rows);
    EXPECT_EQ(gpu_hash, cpu_hash);
  }
}

TEST_P(CudaAddresserDeviceTest, DecodeEqualsCpu) {
  const int batch = 64, n = spec_->max_ngram();
  const std::vector<int64_t> windows =
      RandomTokens(batch * n, spec_->raw_vocab(), 2);
  std::vector<int32_t> window_lengths(batch);
  for (int b = 0; b < batch; ++b) window_lengths[b] = 1 + b % n;
  const size_t outputs = batch * spec_->rows_per_token();
  std::vector<int64_t> cpu_rows(outputs), gpu_rows(outputs);
  ASSERT_TRUE(ComputeDecodeRowIds(*spec_, 1, windows, batch, window_lengths,
                                  absl::MakeSpan(cpu_rows))
                  .ok());
  ASSERT_TRUE(gpu_->ComputeDecodeRowIds(1, windows, batch, window_lengths,
                                        absl::MakeSpan(gpu_rows))
                  .ok());
  EXPECT_EQ(gpu_rows, cpu_rows);
}

TEST_P(CudaAddresserDeviceTest, ErrorsMatchCpu) {
  const int batch = 2, time = 6;
  std::vector<int64_t> tokens = RandomTokens(batch * time, 100, 3);
  std::vector<int64_t> rows(batch * time * spec_->rows_per_token());
  tokens[8] = -4;
  tokens[10] = spec_->raw_vocab();
  const absl::Status cpu =
      ComputeRowIds(*spec_, 0, tokens, batch, time, {}, absl::MakeSpan(rows));
  const absl::Status gpu =
      gpu_->ComputeRowIds(0, tokens, batch, time, {}, absl::MakeSpan(rows));
  EXPECT_EQ(gpu, cpu);
  EXPECT_THAT(gpu.message(), HasSubstr("-4 at batch 1, position 2"));

  const std::vector<int32_t> bad_lengths = {6, 7};
  EXPECT_EQ(gpu_->ComputeRowIds(0, tokens, batch, time, bad_lengths,
                                absl::MakeSpan(rows)),
            ComputeRowIds(*spec_, 0, tokens, batch, time, bad_lengths,
                          absl::MakeSpan(rows)));
  EXPECT_EQ(
      gpu_->ComputeRowIds(7, tokens, batch, time, {}, absl::MakeSpan(rows))
          .code(),
      absl::StatusCode::kInvalidArgument);
  // Filler is ignored.
  EXPECT_TRUE(
      gpu_->ComputeRowIds(0, tokens, batch, time, {6, 1}, absl::MakeSpan(rows))
          .ok());
}

TEST_P(CudaAddresserDeviceTest, OnDeviceEntryPoint) {
  const int batch = 3, time = 40;
  const std::vector<int64_t> tokens =
      RandomTokens(batch * time, spec_->raw_vocab(), 4);
  const size_t outputs = batch * time * spec_->rows_per_token();
  std::vector<int64_t> cpu_rows(outputs), gpu_rows(outputs);
  ASSERT_TRUE(ComputeRowIds(*spec_, 2, tokens, batch, time, {},
                            absl::MakeSpan(cpu_rows))
                  .ok());
  int64_t* d_tokens = nullptr;
  int64_t* d_rows = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_tokens), tokens.size() * 8),
            cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_rows), outputs * 8),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_tokens, tokens.data(), tokens.size() * 8,
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  const absl::Status status = gpu_->ComputeRowIdsOnDevice(
      2, d_tokens, batch, time, nullptr, d_rows, nullptr, nullptr);
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_EQ(
      cudaMemcpy(gpu_rows.data(), d_rows, outputs * 8, cudaMemcpyDeviceToHost),
      cudaSuccess);
  EXPECT_EQ(gpu_rows, cpu_rows);
  cudaFree(d_tokens);
  cudaFree(d_rows);
}

INSTANTIATE_TEST_SUITE_P(Compression, CudaAddresserDeviceTest,
                         ::testing::Bool());

}  // namespace
}  // namespace engram
