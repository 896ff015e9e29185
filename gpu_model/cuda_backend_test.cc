// The CUDA backend against the CPU backend: every operation runs the same
// inputs through both and the outputs must agree to rounding. Skips when
// the machine has no usable CUDA device.
#include "gpu_model/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/addressing/cuda_status.h"
#include "common/element_type.h"
#include "gpu_model/backend.h"
#include "gpu_model/cpu_backend.h"
#include "gtest/gtest.h"

namespace engram::gpu {
namespace {

constexpr float kTolerance = 1e-4f;
// Long dot products: the backends sum in different orders.
constexpr float kLongSumTolerance = 1e-3f;

std::vector<float> RandomFloats(size_t count, uint32_t seed, float low = -1.0f,
                                float high = 1.0f) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(random);
  return values;
}

// Backend memory holding `values`; null (and a test failure) when it
// cannot be allocated.
float* Upload(Backend& backend, const std::vector<float>& values) {
  absl::StatusOr<float*> memory = backend.Allocate(values.size());
  EXPECT_TRUE(memory.ok()) << memory.status();
  if (!memory.ok()) return nullptr;
  backend.CopyToDevice(values.data(), values.size(), *memory);
  return *memory;
}

std::vector<float> Download(Backend& backend, const float* memory,
                            size_t count) {
  std::vector<float> values(count);
  const absl::Status copied = backend.CopyToHost(memory, count, values.data());
  EXPECT_TRUE(copied.ok()) << copied;
  const absl::Status synchronized = backend.Synchronize();
  EXPECT_TRUE(synchronized.ok()) << synchronized;
  return values;
}

// Appends `part` to `all`, so that one run can return several outputs.
void Append(const std::vector<float>& part, std::vector<float>& all) {
  all.insert(all.end(), part.begin(), part.end());
}

// Expects |actual - expected| <= tolerance * max(1, |expected|) elementwise,
// reporting the first few differences rather than whole vectors.
void ExpectNear(const std::vector<float>& actual,
                const std::vector<float>& expected, float tolerance,
                const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  size_t mismatches = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const float bound = tolerance * std::max(1.0f, std::fabs(expected[i]));
    if (!(std::fabs(actual[i] - expected[i]) <= bound)) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << what << "[" << i << "]: cuda " << actual[i] << ", cpu "
                      << expected[i];
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << what << ": of " << actual.size();
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable()) GTEST_SKIP() << "no usable CUDA device";
    absl::StatusOr<std::unique_ptr<Backend>> cuda = CreateCudaBackend(0);
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    cuda_ = *std::move(cuda);
  }

  // Runs `run` (which queues work on a backend and returns what it
  // downloads) on both backends and compares the results.
  void ExpectSame(const std::function<std::vector<float>(Backend&)>& run,
                  float tolerance, const std::string& what) {
    const std::vector<float> expected = run(*cpu_);
    const std::vector<float> actual = run(*cuda_);
    ExpectNear(actual, expected, tolerance, what);
  }

  std::unique_ptr<Backend> cpu_ = CreateCpuBackend();
  std::unique_ptr<Backend> cuda_;
};

TEST_F(CudaBackendTest, NamesTheDevice) {
  EXPECT_FALSE(cuda_->is_cpu());
  EXPECT_FALSE(cuda_->device_name().empty());
}

TEST_F(CudaBackendTest, AllocateZeroes) {
  absl::StatusOr<float*> memory = cuda_->Allocate(1001);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(Download(*cuda_, *memory, 1001), std::vector<float>(1001, 0.0f));
}

TEST_F(CudaBackendTest, CopiesRoundTripSmallAndLarge) {
  // The large copy bypasses the pinned staging buffer.
  for (const size_t count : {size_t{1}, size_t{1000}, size_t{3} << 20}) {
    const std::vector<float> values = RandomFloats(count, 1);
    float* memory = Upload(*cuda_, values);
    EXPECT_EQ(Download(*cuda_, memory, count), values) << count;
  }
}

TEST_F(CudaBackendTest, LinearMatchesCpu) {
  // m, k, n, with bias
  const std::vector<std::tuple<int, int, int, bool>> shapes = {
      {3, 37, 129, true},   {3, 37, 129, false},   {1, 64, 1, true},
      {4100, 64, 33, true}, {17, 1024, 257, true}, {300, 2048, 96, false},
  };
  for (const auto& shape : shapes) {
    // Plain copies: lambdas capturing structured bindings need clang >= 16.
    const int m = std::get<0>(shape), k = std::get<1>(shape),
              n = std::get<2>(shape);
    const bool with_bias = std::get<3>(shape);
    const std::vector<float> x = RandomFloats(static_cast<size_t>(m) * k, 2);
    const std::vector<float> w = RandomFloats(static_cast<size_t>(n) * k, 3);
    const std::vector<float> bias = RandomFloats(n, 4);
    ExpectSame(
        [&](Backend& backend) {
          float* y = Upload(backend, std::vector<float>(m * n, 7.0f));
          backend.Linear(Upload(backend, x), m, k, Upload(backend, w),
                         with_bias ? Upload(backend, bias) : nullptr, n, y);
          return Download(backend, y, static_cast<size_t>(m) * n);
        },
        k >= 1024 ? kLongSumTolerance : kTolerance,
        "Linear " + std::to_string(m) + "x" + std::to_string(k) + "x" +
            std::to_string(n));
  }
}

TEST_F(CudaBackendTest, RmsNormMatchesCpuWithStridesAndInPlace) {
  constexpr int kRows = 5, kDim = 300, kInStride = 310, kOutStride = 301;
  const std::vector<float> x = RandomFloats(kRows * kInStride, 5);
  const std::vector<float> weight = RandomFloats(kDim, 6);
  ExpectSame(
      [&](Backend& backend) {
        float* in = Upload(backend, x);
        float* out = Upload(backend, std::vector<float>(kRows * kOutStride));
        float* w = Upload(backend, weight);
        backend.RmsNorm(in, kRows, kDim, kInStride, w, 1e-6f, out, kOutStride);
        std::vector<float> all = Download(backend, out, kRows * kOutStride);
        backend.RmsNorm(in, kRows, kDim, kInStride, w, 1e-6f, in, kInStride);
        Append(Download(backend, in, kRows * kInStride), all);
        return all;
      },
      kTolerance, "RmsNorm");
}

TEST_F(CudaBackendTest, EmbedTokensCopiesHostIdsBeforeReturning) {
  constexpr int kVocab = 50, kDim = 33, kCopies = 3;
  const std::vector<float> table = RandomFloats(kVocab * kDim, 7);
  ExpectSame(
      [&](Backend& backend) {
        float* device_table = Upload(backend, table);
        std::vector<int32_t> ids = {3, 0, 49, 3, 17};
        const int count = static_cast<int>(ids.size());
        float* first =
            Upload(backend, std::vector<float>(count * kCopies * kDim));
        float* second = Upload(backend, std::vector<float>(2 * kCopies * kDim));
        backend.EmbedTokens(ids.data(), count, device_table, kDim, kCopies,
                            first);
        // Reused at once, as backend.h allows; the queued copy must not
        // see these.
        std::fill(ids.begin(), ids.end(), 1);
        const std::vector<int32_t> more = {48, 2};
        backend.EmbedTokens(more.data(), 2, device_table, kDim, kCopies,
                            second);
        std::vector<float> all =
            Download(backend, first, count * kCopies * kDim);
        Append(Download(backend, second, 2 * kCopies * kDim), all);
        return all;
      },
      0.0f, "EmbedTokens");
}

TEST_F(CudaBackendTest, ElementwiseOperationsMatchCpu) {
  constexpr size_t kCount = 100003;
  constexpr int kRows = 7, kBranches = 4, kDim = 33;
  const std::vector<float> a = RandomFloats(kCount, 8, -4.0f, 4.0f);
  const std::vector<float> b = RandomFloats(kCount, 9, -4.0f, 4.0f);
  const std::vector<float> branches =
      RandomFloats(kRows * kBranches * kDim, 10);
  const std::vector<float> y = RandomFloats(kRows * kDim, 11);
  ExpectSame(
      [&](Backend& backend) {
        float* device_a = Upload(backend, a);
        float* device_b = Upload(backend, b);
        backend.Add(device_a, device_b, kCount);
        std::vector<float> all = Download(backend, device_a, kCount);
        // In place over the gate.
        backend.SiluMul(device_a, device_b, kCount, device_a);
        Append(Download(backend, device_a, kCount), all);

        float* x = Upload(backend, branches);
        float* mean = Upload(backend, std::vector<float>(kRows * kDim));
        backend.MeanOfBranches(x, kRows, kBranches, kDim, mean);
        Append(Download(backend, mean, kRows * kDim), all);
        backend.AddToBranches(x, Upload(backend, y), kRows, kBranches, kDim);
        Append(Download(backend, x, kRows * kBranches * kDim), all);
        return all;
      },
      kTolerance, "Add/SiluMul/MeanOfBranches/AddToBranches");
}

TEST_F(CudaBackendTest, RotaryMatchesCpuAtLargePositions) {
  // batch, time, heads, head_dim, start
  const std::vector<std::tuple<int, int, int, int, int>> shapes = {
      {2, 3, 3, 64, 4000}, {1, 5, 2, 6, 0}, {3, 1, 32, 64, 4095}};
  for (const auto& shape : shapes) {
    const int batch = std::get<0>(shape), time = std::get<1>(shape),
              heads = std::get<2>(shape), head_dim = std::get<3>(shape),
              start = std::get<4>(shape);
    const std::vector<float> x =
        RandomFloats(static_cast<size_t>(batch) * time * heads * head_dim, 12);
    ExpectSame(
        [&](Backend& backend) {
          float* device_x = Upload(backend, x);
          backend.Rotary(device_x, batch, time, heads, head_dim, start,
                         10000.0f);
          return Download(backend, device_x, x.size());
        },
        kTolerance, "Rotary start " + std::to_string(start));
  }
}

// Fills the caches with a prefill of `first` positions, then decodes
// `second` more with start = first, downloading the caches and the
// attention outputs. The prefill's own attention is skipped past 512
// positions, where it would cost the CPU backend seconds.
std::vector<float> PrefillThenDecode(Backend& backend, int batch, int heads,
                                     int head_dim, int max_seq, int first,
                                     int second, uint32_t seed) {
  const size_t position_floats = static_cast<size_t>(heads) * head_dim;
  const size_t cache_floats = batch * max_seq * position_floats;
  float* k_cache = Upload(backend, std::vector<float>(cache_floats));
  float* v_cache = Upload(backend, std::vector<float>(cache_floats));
  std::vector<float> all;
  int start = 0;
  for (const int time : {first, second}) {
    const size_t floats = batch * time * position_floats;
    float* q = Upload(backend, RandomFloats(floats, seed++));
    float* k = Upload(backend, RandomFloats(floats, seed++));
    float* v = Upload(backend, RandomFloats(floats, seed++));
    float* out = Upload(backend, std::vector<float>(floats));
    backend.WriteKvCache(k, v, batch, time, heads, head_dim, start, max_seq,
                         k_cache, v_cache);
    if (start > 0 || time <= 512) {
      backend.Attention(q, k_cache, v_cache, batch, time, heads, head_dim,
                        start, max_seq, out);
      Append(Download(backend, out, floats), all);
    }
    start += time;
  }
  Append(Download(backend, k_cache, cache_floats), all);
  Append(Download(backend, v_cache, cache_floats), all);
  return all;
}

TEST_F(CudaBackendTest, AttentionMatchesCpuWithStartAfterPrefill) {
  // batch, heads, head_dim, max_seq, first, second
  const std::vector<std::tuple<int, int, int, int, int, int>> shapes = {
      {2, 3, 64, 48, 7, 5},
      {1, 2, 40, 16, 3, 1},  // head_dim not a divisor of the block
      {1, 2, 64, 4096, 4090, 6},
      // More keys than 48 KiB of shared memory holds.
      {1, 1, 64, 16384, 16380, 4},
  };
  for (const auto& shape : shapes) {
    const int batch = std::get<0>(shape), heads = std::get<1>(shape),
              head_dim = std::get<2>(shape), max_seq = std::get<3>(shape),
              first = std::get<4>(shape), second = std::get<5>(shape);
    ExpectSame(
        [&](Backend& backend) {
          return PrefillThenDecode(backend, batch, heads, head_dim, max_seq,
                                   first, second, 13);
        },
        kTolerance, "Attention max_seq " + std::to_string(max_seq));
  }
}

TEST_F(CudaBackendTest, EngramGateMatchesCpuIncludingZeroGate) {
  constexpr int kRows = 6, kDim = 100, kBranches = 4, kBranch = 2;
  std::vector<float> key = RandomFloats(kRows * kDim, 14);
  std::fill(key.begin(), key.begin() + kDim, 0.0f);  // g == 0: sign 0
  const std::vector<float> query = RandomFloats(kRows * kDim, 15);
  const std::vector<float> value = RandomFloats(kRows * kDim, 16);
  const std::vector<float> out = RandomFloats(kRows * kBranches * kDim, 17);
  ExpectSame(
      [&](Backend& backend) {
        float* device_out = Upload(backend, out);
        backend.EngramGate(Upload(backend, key), Upload(backend, query),
                           Upload(backend, value), kRows, kDim, kBranch,
                           kBranches, device_out);
        return Download(backend, device_out, out.size());
      },
      kTolerance, "EngramGate");
}

TEST_F(CudaBackendTest, ShortConvSiluCarriesHistoryAcrossCalls) {
  // kernel, dilation; times shorter and longer than the history.
  for (const auto& shape :
       {std::pair{4, 3}, std::pair{3, 1}, std::pair{1, 1}}) {
    const int kernel = shape.first, dilation = shape.second;
    constexpr int kBatch = 2, kChannels = 37;
    const int past = (kernel - 1) * dilation;
    const std::vector<float> weight = RandomFloats(kChannels * kernel, 18);
    ExpectSame(
        [&](Backend& backend) {
          float* device_weight = Upload(backend, weight);
          float* history =
              Upload(backend, std::vector<float>(kBatch * past * kChannels));
          std::vector<float> all;
          uint32_t seed = 19;
          for (const int time : {5, 1, 12}) {
            const size_t floats = kBatch * time * kChannels;
            float* x = Upload(backend, RandomFloats(floats, seed++, -3, 3));
            float* out = Upload(backend, std::vector<float>(floats));
            backend.ShortConvSilu(x, kBatch, time, kChannels, device_weight,
                                  kernel, dilation, history, out);
            Append(Download(backend, out, floats), all);
            Append(Download(backend, history, kBatch * past * kChannels), all);
          }
          return all;
        },
        kTolerance, "ShortConvSilu kernel " + std::to_string(kernel));
  }
}

TEST_F(CudaBackendTest, RowsToFloatDecodesEveryType) {
  std::vector<float> values = RandomFloats(1001, 20, -3.0f, 3.0f);
  // Zeros, an f16 subnormal, the largest f16, a bf16-only magnitude.
  for (const float special : {0.0f, -0.0f, 3e-6f, 65504.0f, 1e30f}) {
    values.push_back(special);
  }
  for (const ElementType type :
       {ElementType::kF32, ElementType::kBf16, ElementType::kF16}) {
    const size_t element_bytes = ElementBytes(type);
    std::vector<char> encoded(values.size() * element_bytes);
    for (size_t i = 0; i < values.size(); ++i) {
      // 1e30 overflows f16 to infinity, which compares equal to itself
      // but not within a tolerance: keep it out of f16.
      const float value =
          type == ElementType::kF16 && values[i] > 65504.0f ? 1.0f : values[i];
      EncodeElement(type, value, encoded.data() + i * element_bytes);
    }
    ExpectSame(
        [&](Backend& backend) {
          // Two decodes before one Synchronize, the second larger: the
          // backend's device buffer grows between them.
          absl::StatusOr<char*> small =
              backend.AllocateHostStaging(10 * element_bytes);
          absl::StatusOr<char*> large =
              backend.AllocateHostStaging(encoded.size());
          EXPECT_TRUE(small.ok() && large.ok());
          if (!small.ok() || !large.ok()) return std::vector<float>();
          std::memcpy(*small, encoded.data(), 10 * element_bytes);
          std::memcpy(*large, encoded.data(), encoded.size());
          float* first = Upload(backend, std::vector<float>(10));
          float* second = Upload(backend, std::vector<float>(values.size()));
          backend.RowsToFloat(*small, 10, type, first);
          backend.RowsToFloat(*large, values.size(), type, second);
          std::vector<float> all = Download(backend, first, 10);
          Append(Download(backend, second, values.size()), all);
          return all;
        },
        0.0f, std::string("RowsToFloat ") + std::string(ElementTypeName(type)));
  }
}

TEST_F(CudaBackendTest, ArgmaxRowsPicksTheFirstOfEqualMaxima) {
  constexpr int kRows = 4, kCols = 129280, kStride = kCols + 5;
  std::vector<float> x = RandomFloats(kRows * kStride, 21);
  auto at = [&](int row, int col) -> float& { return x[row * kStride + col]; };
  at(0, 7) = 2.0f;
  at(0, 100000) = 2.0f;
  std::fill(x.begin() + kStride, x.begin() + kStride + kCols, 0.5f);
  at(2, kCols - 1) = 3.0f;
  at(2, kCols) = 9.0f;  // padding past the row: not a column
  at(3, kCols - 2) = 5.0f;
  at(3, kCols - 1) = 5.0f;
  const std::vector<int32_t> expected = {7, 0, kCols - 1, kCols - 2};
  for (Backend* backend : {cpu_.get(), cuda_.get()}) {
    float* device_x = Upload(*backend, x);
    std::vector<int32_t> indices(kRows, -1);
    const absl::Status status =
        backend->ArgmaxRows(device_x, kRows, kCols, kStride, indices.data());
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(indices, expected) << backend->device_name();
  }
}

TEST_F(CudaBackendTest, ArgmaxRowsMatchesCpuOnRandomRows) {
  constexpr int kRows = 33, kCols = 1000, kStride = 1000;
  const std::vector<float> x = RandomFloats(kRows * kStride, 22);
  std::vector<std::vector<int32_t>> results;
  for (Backend* backend : {cpu_.get(), cuda_.get()}) {
    std::vector<int32_t> indices(kRows, -1);
    const absl::Status status = backend->ArgmaxRows(
        Upload(*backend, x), kRows, kCols, kStride, indices.data());
    ASSERT_TRUE(status.ok()) << status;
    results.push_back(indices);
  }
  EXPECT_EQ(results[1], results[0]);
}

TEST_F(CudaBackendTest, AbsurdAllocationIsResourceExhaustedAndHarmless) {
  const absl::StatusOr<float*> huge = cuda_->Allocate(size_t{1} << 50);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted)
      << huge.status();
  // The refusal is not reported again by later work.
  const std::vector<float> a = {1.0f, 2.0f, 3.0f};
  float* device_a = Upload(*cuda_, a);
  cuda_->Add(device_a, device_a, a.size());
  EXPECT_EQ(Download(*cuda_, device_a, a.size()),
            (std::vector<float>{2.0f, 4.0f, 6.0f}));
}

TEST_F(CudaBackendTest, FirstErrorIsKeptUntilSynchronizeAndSkipsLaterWork) {
  const std::vector<float> a = {1.0f, 2.0f};
  float* device_a = Upload(*cuda_, a);
  ASSERT_TRUE(cuda_->Synchronize().ok());
  absl::StatusOr<char*> staging = cuda_->AllocateHostStaging(16);
  ASSERT_TRUE(staging.ok()) << staging.status();

  cuda_->RowsToFloat(*staging, 2, ElementType::kOpaque, device_a);
  cuda_->Add(device_a, device_a, a.size());  // skipped
  std::vector<float> host(a.size());
  EXPECT_EQ(cuda_->CopyToHost(device_a, a.size(), host.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda_->Synchronize().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(cuda_->Synchronize().ok());
  EXPECT_EQ(Download(*cuda_, device_a, a.size()), a);
}

}  // namespace
}  // namespace engram::gpu
