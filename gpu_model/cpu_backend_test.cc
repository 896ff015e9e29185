#include "gpu_model/cpu_backend.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "common/element_type.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::gpu {
namespace {

using ::testing::ElementsAre;
using ::testing::Pointwise;

std::vector<float> RandomFloats(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(random);
  return values;
}

MATCHER_P(NearRelative, tolerance, "") {
  const float actual = std::get<0>(arg);
  const float expected = std::get<1>(arg);
  return std::fabs(actual - expected) <=
         tolerance * std::max(1.0f, std::fabs(expected));
}

class CpuBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend_ = CreateCpuBackend();
};

TEST_F(CpuBackendTest, LinearMatchesNaiveProductOnOddAndLargeShapes) {
  // The large shape crosses the threshold where columns go to threads.
  for (const auto [m, k, n] :
       {std::tuple{3, 37, 129}, std::tuple{9, 256, 700}}) {
    const std::vector<float> x = RandomFloats(m * k, 1);
    const std::vector<float> w = RandomFloats(n * k, 2);
    const std::vector<float> bias = RandomFloats(n, 3);
    std::vector<float> y(m * n);
    backend_->Linear(x.data(), m, k, w.data(), bias.data(), n, y.data());
    std::vector<float> expected(m * n);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double sum = bias[j];
        for (int l = 0; l < k; ++l) sum += double{x[i * k + l]} * w[j * k + l];
        expected[i * n + j] = static_cast<float>(sum);
      }
    }
    EXPECT_THAT(y, Pointwise(NearRelative(1e-5f), expected)) << m << "x" << k;
  }
}

TEST_F(CpuBackendTest, RmsNormHonoursStrides) {
  const std::vector<float> x = RandomFloats(2 * 8, 4);  // 2 rows, stride 8
  const std::vector<float> weight = RandomFloats(3, 5);
  std::vector<float> out(2 * 3);
  backend_->RmsNorm(x.data() + 1, 2, 3, 8, weight.data(), 1e-6f, out.data(), 3);
  for (int r = 0; r < 2; ++r) {
    const float* row = x.data() + 1 + 8 * r;
    const float rms = std::sqrt(
        (row[0] * row[0] + row[1] * row[1] + row[2] * row[2]) / 3 + 1e-6f);
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(out[r * 3 + i], row[i] / rms * weight[i], 1e-6);
    }
  }
}

TEST_F(CpuBackendTest, AttentionIsCausalSoftmaxOverTheCache) {
  constexpr int kBatch = 2, kHeads = 2, kHeadDim = 4, kMaxSeq = 8;
  constexpr int kStart = 3, kTime = 2;
  const std::vector<float> k_cache =
      RandomFloats(kBatch * kMaxSeq * kHeads * kHeadDim, 6);
  const std::vector<float> v_cache =
      RandomFloats(kBatch * kMaxSeq * kHeads * kHeadDim, 7);
  const std::vector<float> q =
      RandomFloats(kBatch * kTime * kHeads * kHeadDim, 8);
  std::vector<float> out(q.size());
  backend_->Attention(q.data(), k_cache.data(), v_cache.data(), kBatch, kTime,
                      kHeads, kHeadDim, kStart, kMaxSeq, out.data());
  for (int b = 0; b < kBatch; ++b) {
    for (int t = 0; t < kTime; ++t) {
      for (int h = 0; h < kHeads; ++h) {
        const float* query = &q[((b * kTime + t) * kHeads + h) * kHeadDim];
        std::vector<double> weights;
        double total = 0;
        for (int p = 0; p <= kStart + t; ++p) {
          const float* key =
              &k_cache[((b * kMaxSeq + p) * kHeads + h) * kHeadDim];
          double score = 0;
          for (int i = 0; i < kHeadDim; ++i) score += query[i] * key[i];
          weights.push_back(std::exp(score / 2.0));  // sqrt(head_dim) = 2
          total += weights.back();
        }
        for (int i = 0; i < kHeadDim; ++i) {
          double expected = 0;
          for (int p = 0; p <= kStart + t; ++p) {
            expected +=
                weights[p] / total *
                v_cache[((b * kMaxSeq + p) * kHeads + h) * kHeadDim + i];
          }
          EXPECT_NEAR(out[((b * kTime + t) * kHeads + h) * kHeadDim + i],
                      expected, 1e-5);
        }
      }
    }
  }
}

TEST_F(CpuBackendTest, RotaryRotatesPairsByPositionAngle) {
  std::vector<float> x = {1, 0, 0, 1};  // one head of 4 at position 2
  backend_->Rotary(x.data(), 1, 1, 1, 4, /*start=*/2, /*theta=*/100.0f);
  // Pair i turns by position * theta^(-2i/head_dim): 2 and 2 * 100^-0.5.
  const double a0 = 2.0, a1 = 2.0 * std::pow(100.0, -0.5);
  EXPECT_NEAR(x[0], std::cos(a0), 1e-6);
  EXPECT_NEAR(x[2], std::sin(a0), 1e-6);
  EXPECT_NEAR(x[1], -std::sin(a1), 1e-6);
  EXPECT_NEAR(x[3], std::cos(a1), 1e-6);
}

TEST_F(CpuBackendTest, ShortConvCarriesHistoryAcrossCalls) {
  constexpr int kBatch = 2, kTime = 7, kChannels = 3, kKernel = 4,
                kDilation = 2;
  constexpr int kPast = (kKernel - 1) * kDilation;
  const std::vector<float> x = RandomFloats(kBatch * kTime * kChannels, 9);
  const std::vector<float> weight = RandomFloats(kChannels * kKernel, 10);
  std::vector<float> history(kBatch * kPast * kChannels, 0.0f);
  std::vector<float> whole(x.size());
  backend_->ShortConvSilu(x.data(), kBatch, kTime, kChannels, weight.data(),
                          kKernel, kDilation, history.data(), whole.data());

  std::vector<float> stepped(x.size());
  std::vector<float> step_history(history.size(), 0.0f);
  for (int t = 0; t < kTime; ++t) {
    std::vector<float> x_t(kBatch * kChannels), out_t(kBatch * kChannels);
    for (int b = 0; b < kBatch; ++b) {
      for (int c = 0; c < kChannels; ++c) {
        x_t[b * kChannels + c] = x[(b * kTime + t) * kChannels + c];
      }
    }
    backend_->ShortConvSilu(x_t.data(), kBatch, 1, kChannels, weight.data(),
                            kKernel, kDilation, step_history.data(),
                            out_t.data());
    for (int b = 0; b < kBatch; ++b) {
      for (int c = 0; c < kChannels; ++c) {
        stepped[(b * kTime + t) * kChannels + c] = out_t[b * kChannels + c];
      }
    }
  }
  EXPECT_THAT(stepped, Pointwise(NearRelative(1e-6f), whole));
  EXPECT_THAT(step_history, Pointwise(NearRelative(0.0f), history));

  // Position 0 of a fresh sequence sees only the last tap.
  const float first = x[0] * weight[kKernel - 1];
  EXPECT_NEAR(whole[0], first / (1 + std::exp(-first)), 1e-6);
}

TEST_F(CpuBackendTest, EngramGateOfZeroScoreIsOneHalf) {
  const std::vector<float> key = {1, 0}, query = {0, 1}, value = {2, 4};
  std::vector<float> out(2 * 2, -1.0f);
  backend_->EngramGate(key.data(), query.data(), value.data(), 1, 2,
                       /*branch=*/1, /*branches=*/2, out.data());
  EXPECT_THAT(out, ElementsAre(-1.0f, -1.0f, 1.0f, 2.0f));
}

TEST_F(CpuBackendTest, ArgmaxTakesTheFirstOfEqualMaxima) {
  const std::vector<float> x = {1, 5, 5, 0, /*row 2*/ 7, 7, 2, 9};
  int32_t out[2];
  ASSERT_TRUE(backend_->ArgmaxRows(x.data(), 2, 3, 4, out).ok());
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 0);  // the 9 is beyond cols
}

TEST_F(CpuBackendTest, RowsToFloatDecodesBf16) {
  char rows[4];
  EncodeElement(ElementType::kBf16, 1.5f, rows);
  EncodeElement(ElementType::kBf16, -0.75f, rows + 2);
  float out[2];
  backend_->RowsToFloat(rows, 2, ElementType::kBf16, out);
  EXPECT_THAT(out, ElementsAre(1.5f, -0.75f));
}

}  // namespace
}  // namespace engram::gpu
