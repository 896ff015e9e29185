#include "gpu_model/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace engram::gpu {
namespace {

// Below this many multiply-adds a thread costs more than it saves.
constexpr size_t kMinWorkPerThread = size_t{1} << 18;

// Runs fn(begin, end) over [0, count) split in contiguous parts, one per
// core when the work (count * cost_per_item) is worth it.
void ParallelFor(size_t count, size_t cost_per_item,
                 const std::function<void(size_t, size_t)>& fn) {
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t parts = std::min(
      {cores, count,
       std::max<size_t>(1, count * cost_per_item / kMinWorkPerThread)});
  if (parts <= 1) {
    fn(0, count);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(parts - 1);
  const size_t per_part = (count + parts - 1) / parts;
  for (size_t part = 1; part < parts; ++part) {
    const size_t begin = part * per_part;
    const size_t end = std::min(count, begin + per_part);
    if (begin < end) threads.emplace_back(fn, begin, end);
  }
  fn(0, std::min(count, per_part));
  for (std::thread& thread : threads) thread.join();
}

// Eight floats in one vector register (two on CPUs without AVX).
typedef float Float8 __attribute__((vector_size(32)));

__attribute__((always_inline)) inline Float8 Load8(const float* p) {
  Float8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

__attribute__((always_inline)) inline float Sum8(Float8 v) {
  float sum = 0;
  for (int l = 0; l < 8; ++l) sum += v[l];
  return sum;
}

// Dot products of four x rows with one w row: w is read once for four
// outputs. Haswell-class code (AVX2, FMA) where the CPU has it.
__attribute__((target_clones("arch=haswell", "default"))) void Dot4(
    const float* x0, const float* x1, const float* x2, const float* x3,
    const float* w, int k, float* out) {
  Float8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
  int i = 0;
  for (; i + 8 <= k; i += 8) {
    const Float8 wv = Load8(w + i);
    a0 += Load8(x0 + i) * wv;
    a1 += Load8(x1 + i) * wv;
    a2 += Load8(x2 + i) * wv;
    a3 += Load8(x3 + i) * wv;
  }
  float s0 = Sum8(a0), s1 = Sum8(a1), s2 = Sum8(a2), s3 = Sum8(a3);
  for (; i < k; ++i) {
    s0 += x0[i] * w[i];
    s1 += x1[i] * w[i];
    s2 += x2[i] * w[i];
    s3 += x3[i] * w[i];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

__attribute__((target_clones("arch=haswell", "default"))) float Dot(
    const float* x, const float* w, int k) {
  Float8 a0 = {}, a1 = {};
  int i = 0;
  // Two accumulators hide the add latency.
  for (; i + 16 <= k; i += 16) {
    a0 += Load8(x + i) * Load8(w + i);
    a1 += Load8(x + i + 8) * Load8(w + i + 8);
  }
  for (; i + 8 <= k; i += 8) a0 += Load8(x + i) * Load8(w + i);
  float sum = Sum8(a0 + a1);
  for (; i < k; ++i) sum += x[i] * w[i];
  return sum;
}

float Silu(float x) { return x / (1.0f + std::exp(-x)); }

class CpuBackend final : public Backend {
 public:
  std::string device_name() const override { return "cpu"; }

  absl::StatusOr<float*> Allocate(size_t count) override {
    return AllocateZeroed(count, floats_);
  }

  absl::StatusOr<char*> AllocateHostStaging(size_t bytes) override {
    return AllocateZeroed(bytes, bytes_);
  }

  void CopyToDevice(const float* host, size_t count, float* out) override {
    std::memcpy(out, host, count * sizeof(float));
  }

  absl::Status CopyToHost(const float* in, size_t count, float* host) override {
    std::memcpy(host, in, count * sizeof(float));
    return absl::OkStatus();
  }

  absl::Status Synchronize() override { return absl::OkStatus(); }

  void EmbedTokens(const int32_t* host_ids, int count, const float* table,
                   int dim, int copies, float* out) override {
    for (int i = 0; i < count; ++i) {
      const float* row = table + static_cast<size_t>(host_ids[i]) * dim;
      for (int c = 0; c < copies; ++c) {
        std::memcpy(out + (static_cast<size_t>(i) * copies + c) * dim, row,
                    dim * sizeof(float));
      }
    }
  }

  void RmsNorm(const float* x, int rows, int dim, int in_stride,
               const float* weight, float eps, float* out,
               int out_stride) override {
    for (int r = 0; r < rows; ++r) {
      const float* in_row = x + static_cast<size_t>(r) * in_stride;
      float* out_row = out + static_cast<size_t>(r) * out_stride;
      const float scale =
          1.0f / std::sqrt(Dot(in_row, in_row, dim) / dim + eps);
      for (int i = 0; i < dim; ++i) out_row[i] = in_row[i] * scale * weight[i];
    }
  }

  void Linear(const float* x, int m, int k, const float* w, const float* bias,
              int n, float* y) override {
    // Parallel over output columns: each thread streams its own part of w.
    ParallelFor(n, static_cast<size_t>(m) * k, [&](size_t begin, size_t end) {
      for (size_t j = begin; j < end; ++j) {
        const float* w_row = w + j * k;
        const float b = bias == nullptr ? 0.0f : bias[j];
        int i = 0;
        for (; i + 4 <= m; i += 4) {
          const float* x0 = x + static_cast<size_t>(i) * k;
          float out[4];
          Dot4(x0, x0 + k, x0 + 2 * k, x0 + 3 * k, w_row, k, out);
          for (int r = 0; r < 4; ++r) {
            y[static_cast<size_t>(i + r) * n + j] = out[r] + b;
          }
        }
        for (; i < m; ++i) {
          y[static_cast<size_t>(i) * n + j] =
              Dot(x + static_cast<size_t>(i) * k, w_row, k) + b;
        }
      }
    });
  }

  void Add(float* a, const float* b, size_t count) override {
    for (size_t i = 0; i < count; ++i) a[i] += b[i];
  }

  void MeanOfBranches(const float* x, int rows, int branches, int dim,
                      float* out) override {
    for (int r = 0; r < rows; ++r) {
      float* out_row = out + static_cast<size_t>(r) * dim;
      const float* in = x + static_cast<size_t>(r) * branches * dim;
      for (int i = 0; i < dim; ++i) {
        float sum = 0;
        for (int c = 0; c < branches; ++c) sum += in[c * dim + i];
        out_row[i] = sum / branches;
      }
    }
  }

  void AddToBranches(float* x, const float* y, int rows, int branches,
                     int dim) override {
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < branches; ++c) {
        Add(x + (static_cast<size_t>(r) * branches + c) * dim,
            y + static_cast<size_t>(r) * dim, dim);
      }
    }
  }

  void Rotary(float* x, int batch, int time, int heads, int head_dim, int start,
              float theta) override {
    const int half = head_dim / 2;
    for (int t = 0; t < time; ++t) {
      const double position = start + t;
      for (int i = 0; i < half; ++i) {
        const double angle =
            position * std::pow(static_cast<double>(theta),
                                -2.0 * i / static_cast<double>(head_dim));
        const float cos = static_cast<float>(std::cos(angle));
        const float sin = static_cast<float>(std::sin(angle));
        for (int b = 0; b < batch; ++b) {
          for (int h = 0; h < heads; ++h) {
            float* head =
                x +
                ((static_cast<size_t>(b) * time + t) * heads + h) * head_dim;
            const float x1 = head[i];
            const float x2 = head[i + half];
            head[i] = x1 * cos - x2 * sin;
            head[i + half] = x2 * cos + x1 * sin;
          }
        }
      }
    }
  }

  void WriteKvCache(const float* k, const float* v, int batch, int time,
                    int heads, int head_dim, int start, int max_seq,
                    float* k_cache, float* v_cache) override {
    const size_t position_floats = static_cast<size_t>(heads) * head_dim;
    for (int b = 0; b < batch; ++b) {
      const size_t from = static_cast<size_t>(b) * time * position_floats;
      const size_t to =
          (static_cast<size_t>(b) * max_seq + start) * position_floats;
      std::memcpy(k_cache + to, k + from,
                  time * position_floats * sizeof(float));
      std::memcpy(v_cache + to, v + from,
                  time * position_floats * sizeof(float));
    }
  }

  void Attention(const float* q, const float* k_cache, const float* v_cache,
                 int batch, int time, int heads, int head_dim, int start,
                 int max_seq, float* out) override {
    const size_t position_floats = static_cast<size_t>(heads) * head_dim;
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const size_t queries = static_cast<size_t>(batch) * time * heads;
    const size_t cost = static_cast<size_t>(start + time) * head_dim * 2;
    ParallelFor(queries, cost, [&](size_t begin, size_t end) {
      std::vector<float> scores(start + time);
      for (size_t query = begin; query < end; ++query) {
        const int h = query % heads;
        const int t = (query / heads) % time;
        const int b = query / heads / time;
        const float* q_head = q + query * head_dim;
        const size_t cache_base = static_cast<size_t>(b) * max_seq;
        const int keys = start + t + 1;
        float max_score = -INFINITY;
        for (int p = 0; p < keys; ++p) {
          scores[p] = scale * Dot(q_head,
                                  k_cache + (cache_base + p) * position_floats +
                                      h * head_dim,
                                  head_dim);
          max_score = std::max(max_score, scores[p]);
        }
        float total = 0;
        for (int p = 0; p < keys; ++p) {
          scores[p] = std::exp(scores[p] - max_score);
          total += scores[p];
        }
        float* out_head = out + query * head_dim;
        std::fill(out_head, out_head + head_dim, 0.0f);
        for (int p = 0; p < keys; ++p) {
          const float weight = scores[p] / total;
          const float* v_head =
              v_cache + (cache_base + p) * position_floats + h * head_dim;
          for (int i = 0; i < head_dim; ++i) out_head[i] += weight * v_head[i];
        }
      }
    });
  }

  void SiluMul(const float* gate, const float* up, size_t count,
               float* out) override {
    for (size_t i = 0; i < count; ++i) out[i] = Silu(gate[i]) * up[i];
  }

  void EngramGate(const float* key, const float* query, const float* value,
                  int rows, int dim, int branch, int branches,
                  float* out) override {
    const float inverse_sqrt_dim = 1.0f / std::sqrt(static_cast<float>(dim));
    for (int r = 0; r < rows; ++r) {
      const size_t row = static_cast<size_t>(r) * dim;
      float g = Dot(key + row, query + row, dim) * inverse_sqrt_dim;
      // The reference multiplies by sign(g), which is 0 for g == 0.
      const float magnitude = std::sqrt(std::max(std::fabs(g), 1e-6f));
      g = g > 0 ? magnitude : (g < 0 ? -magnitude : 0.0f);
      const float gate = 1.0f / (1.0f + std::exp(-g));
      float* out_row = out + (static_cast<size_t>(r) * branches + branch) * dim;
      for (int i = 0; i < dim; ++i) out_row[i] = gate * value[row + i];
    }
  }

  void ShortConvSilu(const float* x, int batch, int time, int channels,
                     const float* weight, int kernel, int dilation,
                     float* history, float* out) override {
    const int past = (kernel - 1) * dilation;
    const size_t channel_count = channels;
    std::vector<float> window((past + time) * channel_count);
    for (int b = 0; b < batch; ++b) {
      float* sequence_history = history + b * past * channel_count;
      const float* sequence_x = x + static_cast<size_t>(b) * time * channels;
      std::memcpy(window.data(), sequence_history,
                  past * channel_count * sizeof(float));
      std::memcpy(window.data() + past * channel_count, sequence_x,
                  time * channel_count * sizeof(float));
      for (int t = 0; t < time; ++t) {
        float* out_row = out + (static_cast<size_t>(b) * time + t) * channels;
        for (int c = 0; c < channels; ++c) {
          float sum = 0;
          for (int j = 0; j < kernel; ++j) {
            const int position = past + t - (kernel - 1 - j) * dilation;
            sum += weight[static_cast<size_t>(c) * kernel + j] *
                   window[position * channel_count + c];
          }
          out_row[c] = Silu(sum);
        }
      }
      std::memcpy(sequence_history, window.data() + time * channel_count,
                  past * channel_count * sizeof(float));
    }
  }

  void RowsToFloat(const char* host_rows, size_t count, ElementType type,
                   float* out) override {
    if (type == ElementType::kF32) {
      std::memcpy(out, host_rows, count * sizeof(float));
      return;
    }
    const size_t element_bytes = ElementBytes(type);
    for (size_t i = 0; i < count; ++i) {
      out[i] = DecodeElement(type, host_rows + i * element_bytes);
    }
  }

  absl::Status ArgmaxRows(const float* x, int rows, int cols, int stride,
                          int32_t* host_out) override {
    for (int r = 0; r < rows; ++r) {
      const float* row = x + static_cast<size_t>(r) * stride;
      host_out[r] =
          static_cast<int32_t>(std::max_element(row, row + cols) - row);
    }
    return absl::OkStatus();
  }

 private:
  // `count` zeroed Ts kept in `owner` until the backend goes.
  template <typename T>
  static absl::StatusOr<T*> AllocateZeroed(
      size_t count, std::vector<std::unique_ptr<T[]>>& owner) {
    std::unique_ptr<T[]> memory(new (std::nothrow) T[count]());
    if (memory == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot allocate ", count * sizeof(T), " bytes of host memory"));
    }
    owner.push_back(std::move(memory));
    return owner.back().get();
  }

  std::vector<std::unique_ptr<float[]>> floats_;
  std::vector<std::unique_ptr<char[]>> bytes_;
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend() {
  return std::make_unique<CpuBackend>();
}

}  // namespace engram::gpu
