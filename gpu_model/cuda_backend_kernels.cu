// CUDA twins of the CPU backend's loops (cpu_backend.cc). All arithmetic is
// fp32 with fp32 accumulation, in the CPU backend's formulas, so the two
// agree to rounding (the CUDA backend's test holds them to 1e-4). Indices
// are 64-bit wherever a product of shapes can pass 2^31 (logits of 8192
// rows x 129280 columns, say).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdint>

#include "gpu_model/cuda_backend_kernels.h"

namespace engram::gpu::internal {
namespace {

constexpr int kThreads = 256;  // per block, a multiple of the warp size
constexpr int kWarpSize = 32;
// Elementwise kernels stride over the rest; more blocks than this only add
// scheduling work on any current GPU.
constexpr int64_t kMaxBlocks = 65535;
// Dynamic shared memory a kernel may use without opting in.
constexpr size_t kDefaultSharedBytes = 48 * 1024;

int BlocksFor(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// The first index of a grid-stride loop and its stride.
__device__ int64_t GlobalIndex() {
  return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
}
__device__ int64_t GlobalStride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

__device__ float Silu(float x) { return x / (1.0f + expf(-x)); }

__device__ float WarpSum(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

__device__ float WarpMax(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  return value;
}

// BlockSum and BlockMax return the reduction of `value` over the block to
// every thread. All threads must call them; `scratch` holds 32 floats of
// shared memory. The leading barrier lets consecutive calls share scratch
// (and makes shared writes made before the call visible after it).
__device__ float BlockSum(float value, float* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  value = WarpSum(value);
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  return WarpSum(lane < warps ? scratch[lane] : 0.0f);
}

__device__ float BlockMax(float value, float* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  value = WarpMax(value);
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  return WarpMax(lane < warps ? scratch[lane] : -INFINITY);
}

__global__ void EmbedTokensKernel(const int32_t* ids, int count,
                                  const float* table, int dim, int copies,
                                  float* out) {
  const int64_t total = static_cast<int64_t>(count) * copies * dim;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int64_t d = e % dim;
    const int64_t i = e / dim / copies;
    out[e] = table[static_cast<int64_t>(ids[i]) * dim + d];
  }
}

// One block per row.
__global__ void RmsNormKernel(const float* x, int dim, int in_stride,
                              const float* weight, float eps, float* out,
                              int out_stride) {
  __shared__ float scratch[kWarpSize];
  const float* in_row = x + static_cast<int64_t>(blockIdx.x) * in_stride;
  float* out_row = out + static_cast<int64_t>(blockIdx.x) * out_stride;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    sum += in_row[i] * in_row[i];
  }
  sum = BlockSum(sum, scratch);
  const float scale = 1.0f / sqrtf(sum / dim + eps);
  // Each thread rewrites only the elements it read, so in place is safe.
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    out_row[i] = in_row[i] * scale * weight[i];
  }
}

__global__ void AddBiasKernel(float* y, const float* bias, int m, int n) {
  const int64_t total = static_cast<int64_t>(m) * n;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    y[e] += bias[e % n];
  }
}

__global__ void AddKernel(float* a, const float* b, int64_t count) {
  for (int64_t e = GlobalIndex(); e < count; e += GlobalStride()) {
    a[e] += b[e];
  }
}

__global__ void MeanOfBranchesKernel(const float* x, int rows, int branches,
                                     int dim, float* out) {
  const int64_t total = static_cast<int64_t>(rows) * dim;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int64_t r = e / dim;
    const int64_t i = e % dim;
    const float* in = x + r * branches * dim + i;
    float sum = 0.0f;
    for (int c = 0; c < branches; ++c) sum += in[static_cast<int64_t>(c) * dim];
    out[e] = sum / branches;
  }
}

__global__ void AddToBranchesKernel(float* x, const float* y, int rows,
                                    int branches, int dim) {
  const int64_t total = static_cast<int64_t>(rows) * branches * dim;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int64_t i = e % dim;
    const int64_t r = e / dim / branches;
    x[e] += y[r * dim + i];
  }
}

// One thread per rotated pair. The angle is computed in double, as the CPU
// backend does: in float, p * theta^(-2i/d) at p ~ 4096 is off by ~4e-4
// radians, more than the backends may differ.
__global__ void RotaryKernel(float* x, int batch, int time, int heads,
                             int head_dim, int start, float theta) {
  const int half = head_dim / 2;
  const int64_t total = static_cast<int64_t>(batch) * time * heads * half;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int i = static_cast<int>(e % half);
    const int64_t head_index = e / half;  // (b * time + t) * heads + h
    const int t = static_cast<int>((head_index / heads) % time);
    const double position = start + t;
    const double angle =
        position * pow(static_cast<double>(theta),
                       -2.0 * i / static_cast<double>(head_dim));
    const float cos_angle = static_cast<float>(cos(angle));
    const float sin_angle = static_cast<float>(sin(angle));
    float* head = x + head_index * head_dim;
    const float x1 = head[i];
    const float x2 = head[i + half];
    head[i] = x1 * cos_angle - x2 * sin_angle;
    head[i + half] = x2 * cos_angle + x1 * sin_angle;
  }
}

__global__ void WriteKvCacheKernel(const float* k, const float* v, int batch,
                                   int time, int position_floats, int start,
                                   int max_seq, float* k_cache,
                                   float* v_cache) {
  const int64_t total = static_cast<int64_t>(batch) * time * position_floats;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int64_t within = e % position_floats;
    const int64_t position = e / position_floats;  // b * time + t
    const int64_t b = position / time;
    const int64_t t = position % time;
    const int64_t to = (b * max_seq + start + t) * position_floats + within;
    k_cache[to] = k[e];
    v_cache[to] = v[e];
  }
}

// Dynamic shared memory of AttentionKernel, in floats, in this order: the
// query, the partial outputs, reduction scratch, one score per key.
struct AttentionLayout {
  int groups;  // key groups summing partial outputs of the same element
  int64_t partial_floats;
  int64_t total_floats;
};

AttentionLayout AttentionLayoutFor(int head_dim, int max_keys) {
  AttentionLayout layout;
  layout.groups = head_dim < kThreads ? kThreads / head_dim : 1;
  layout.partial_floats = static_cast<int64_t>(layout.groups) * head_dim;
  layout.total_floats =
      head_dim + layout.partial_floats + kWarpSize + int64_t{max_keys};
  return layout;
}

// One block per query (b, t, h). Each warp scores keys (its lanes split
// head_dim, so the key rows are read coalesced); then a block-wide softmax
// over the scores in shared memory; then `groups` groups of head_dim
// threads each sum every groups-th key's weighted value, and the groups'
// partial sums are added in a fixed order.
__global__ void AttentionKernel(const float* q, const float* k_cache,
                                const float* v_cache, int time, int heads,
                                int head_dim, int start, int max_seq,
                                float scale, int groups, int partial_floats,
                                float* out) {
  extern __shared__ float shared[];
  float* query_s = shared;
  float* partial = query_s + head_dim;
  float* scratch = partial + partial_floats;
  float* scores = scratch + kWarpSize;

  const int64_t query = blockIdx.x;  // (b * time + t) * heads + h
  const int h = static_cast<int>(query % heads);
  const int t = static_cast<int>((query / heads) % time);
  const int64_t b = query / heads / time;
  const int keys = start + t + 1;
  const int64_t position_floats = static_cast<int64_t>(heads) * head_dim;
  const float* k_base = k_cache + b * max_seq * position_floats +
                        static_cast<int64_t>(h) * head_dim;
  const float* v_base = v_cache + b * max_seq * position_floats +
                        static_cast<int64_t>(h) * head_dim;

  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    query_s[d] = q[query * head_dim + d];
  }
  __syncthreads();

  const int lane = threadIdx.x % kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  for (int p = threadIdx.x / kWarpSize; p < keys; p += warps) {
    const float* key = k_base + p * position_floats;
    float dot = 0.0f;
    for (int d = lane; d < head_dim; d += kWarpSize) dot += query_s[d] * key[d];
    dot = WarpSum(dot);
    if (lane == 0) scores[p] = scale * dot;
  }
  __syncthreads();

  float local_max = -INFINITY;
  for (int p = threadIdx.x; p < keys; p += blockDim.x) {
    local_max = fmaxf(local_max, scores[p]);
  }
  const float max_score = BlockMax(local_max, scratch);
  float local_total = 0.0f;
  for (int p = threadIdx.x; p < keys; p += blockDim.x) {
    const float weight = expf(scores[p] - max_score);
    scores[p] = weight;
    local_total += weight;
  }
  // BlockSum's barriers also publish the weights written above.
  const float total = BlockSum(local_total, scratch);

  for (int e = threadIdx.x; e < partial_floats; e += blockDim.x) {
    const int i = e % head_dim;
    const int group = e / head_dim;
    float sum = 0.0f;
    for (int p = group; p < keys; p += groups) {
      sum += scores[p] * v_base[p * position_floats + i];
    }
    partial[e] = sum;
  }
  __syncthreads();
  const float inverse_total = 1.0f / total;
  for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
    float sum = 0.0f;
    for (int group = 0; group < groups; ++group) {
      sum += partial[group * head_dim + i];
    }
    out[query * head_dim + i] = sum * inverse_total;
  }
}

__global__ void SiluMulKernel(const float* gate, const float* up, int64_t count,
                              float* out) {
  for (int64_t e = GlobalIndex(); e < count; e += GlobalStride()) {
    out[e] = Silu(gate[e]) * up[e];
  }
}

// One block per row.
__global__ void EngramGateKernel(const float* key, const float* query,
                                 const float* value, int dim,
                                 float inverse_sqrt_dim, int branch,
                                 int branches, float* out) {
  __shared__ float scratch[kWarpSize];
  const int64_t row = static_cast<int64_t>(blockIdx.x) * dim;
  float dot = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    dot += key[row + i] * query[row + i];
  }
  float g = BlockSum(dot, scratch) * inverse_sqrt_dim;
  // The reference multiplies by sign(g), which is 0 for g == 0.
  const float magnitude = sqrtf(fmaxf(fabsf(g), 1e-6f));
  g = g > 0 ? magnitude : (g < 0 ? -magnitude : 0.0f);
  const float gate = 1.0f / (1.0f + expf(-g));
  float* out_row =
      out + (static_cast<int64_t>(blockIdx.x) * branches + branch) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    out_row[i] = gate * value[row + i];
  }
}

// One thread per output element; `past` = (kernel - 1) * dilation.
__global__ void ShortConvKernel(const float* x, int batch, int time,
                                int channels, const float* weight, int kernel,
                                int dilation, int past, const float* history,
                                float* out) {
  const int64_t total = static_cast<int64_t>(batch) * time * channels;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int64_t c = e % channels;
    const int64_t position = e / channels;  // b * time + t
    const int64_t b = position / time;
    const int t = static_cast<int>(position % time);
    float sum = 0.0f;
    for (int j = 0; j < kernel; ++j) {
      const int p = past + t - (kernel - 1 - j) * dilation;  // in xs
      const float input = p < past ? history[(b * past + p) * channels + c]
                                   : x[(b * time + (p - past)) * channels + c];
      sum += weight[c * kernel + j] * input;
    }
    out[e] = Silu(sum);
  }
}

// One thread per (b, c): history[p] = xs[time + p] for p < past. Going up
// in p is safe in place: the history slot read, time + p, is above every
// slot written so far.
__global__ void ShiftHistoryKernel(const float* x, int batch, int time,
                                   int channels, int past, float* history) {
  const int64_t total = static_cast<int64_t>(batch) * channels;
  for (int64_t e = GlobalIndex(); e < total; e += GlobalStride()) {
    const int64_t c = e % channels;
    const int64_t b = e / channels;
    float* sequence_history = history + b * past * channels + c;
    for (int p = 0; p < past; ++p) {
      const int from = time + p;  // in xs
      sequence_history[static_cast<int64_t>(p) * channels] =
          from < past ? sequence_history[static_cast<int64_t>(from) * channels]
                      : x[(b * time + (from - past)) * channels + c];
    }
  }
}

__global__ void HalfToFloatKernel(const uint16_t* in, int64_t count,
                                  HalfType type, float* out) {
  for (int64_t e = GlobalIndex(); e < count; e += GlobalStride()) {
    const uint16_t bits = in[e];
    out[e] = type == HalfType::kBf16
                 ? __uint_as_float(static_cast<uint32_t>(bits) << 16)
                 : __half2float(__ushort_as_half(bits));
  }
}

// Keeps (value, index) when it beats the best so far: larger, or equal and
// earlier. NaNs never win (comparisons with NaN are false).
__device__ void KeepBetter(float value, int index, float& best_value,
                           int& best_index) {
  if (value > best_value || (value == best_value && index < best_index)) {
    best_value = value;
    best_index = index;
  }
}

// One block per row.
__global__ void ArgmaxRowsKernel(const float* x, int cols, int stride,
                                 int32_t* out) {
  __shared__ float scratch_values[kWarpSize];
  __shared__ int scratch_indices[kWarpSize];
  const float* row = x + static_cast<int64_t>(blockIdx.x) * stride;
  float best_value = -INFINITY;
  int best_index = INT_MAX;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    KeepBetter(row[c], c, best_value, best_index);
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const float value = __shfl_xor_sync(0xffffffffu, best_value, offset);
    const int index = __shfl_xor_sync(0xffffffffu, best_index, offset);
    KeepBetter(value, index, best_value, best_index);
  }
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  if (lane == 0) {
    scratch_values[warp] = best_value;
    scratch_indices[warp] = best_index;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x / kWarpSize;
    best_value = lane < warps ? scratch_values[lane] : -INFINITY;
    best_index = lane < warps ? scratch_indices[lane] : INT_MAX;
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      const float value = __shfl_xor_sync(0xffffffffu, best_value, offset);
      const int index = __shfl_xor_sync(0xffffffffu, best_index, offset);
      KeepBetter(value, index, best_value, best_index);
    }
    // A row of NaNs has no winner; std::max_element returns 0 there.
    if (lane == 0) out[blockIdx.x] = best_index == INT_MAX ? 0 : best_index;
  }
}

}  // namespace

cudaError_t LaunchEmbedTokens(const int32_t* ids, int count, const float* table,
                              int dim, int copies, float* out,
                              cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(count) * copies * dim;
  if (total <= 0) return cudaSuccess;
  EmbedTokensKernel<<<BlocksFor(total), kThreads, 0, stream>>>(
      ids, count, table, dim, copies, out);
  return cudaGetLastError();
}

cudaError_t LaunchRmsNorm(const float* x, int rows, int dim, int in_stride,
                          const float* weight, float eps, float* out,
                          int out_stride, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  RmsNormKernel<<<rows, kThreads, 0, stream>>>(x, dim, in_stride, weight, eps,
                                               out, out_stride);
  return cudaGetLastError();
}

cudaError_t LaunchAddBias(float* y, const float* bias, int m, int n,
                          cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(m) * n;
  if (total <= 0) return cudaSuccess;
  AddBiasKernel<<<BlocksFor(total), kThreads, 0, stream>>>(y, bias, m, n);
  return cudaGetLastError();
}

cudaError_t LaunchAdd(float* a, const float* b, size_t count,
                      cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const int64_t total = static_cast<int64_t>(count);
  AddKernel<<<BlocksFor(total), kThreads, 0, stream>>>(a, b, total);
  return cudaGetLastError();
}

cudaError_t LaunchMeanOfBranches(const float* x, int rows, int branches,
                                 int dim, float* out, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(rows) * dim;
  if (total <= 0 || branches <= 0) return cudaSuccess;
  MeanOfBranchesKernel<<<BlocksFor(total), kThreads, 0, stream>>>(
      x, rows, branches, dim, out);
  return cudaGetLastError();
}

cudaError_t LaunchAddToBranches(float* x, const float* y, int rows,
                                int branches, int dim, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(rows) * branches * dim;
  if (total <= 0) return cudaSuccess;
  AddToBranchesKernel<<<BlocksFor(total), kThreads, 0, stream>>>(x, y, rows,
                                                                 branches, dim);
  return cudaGetLastError();
}

cudaError_t LaunchRotary(float* x, int batch, int time, int heads, int head_dim,
                         int start, float theta, cudaStream_t stream) {
  const int64_t total =
      static_cast<int64_t>(batch) * time * heads * (head_dim / 2);
  if (total <= 0) return cudaSuccess;
  RotaryKernel<<<BlocksFor(total), kThreads, 0, stream>>>(
      x, batch, time, heads, head_dim, start, theta);
  return cudaGetLastError();
}

cudaError_t LaunchWriteKvCache(const float* k, const float* v, int batch,
                               int time, int heads, int head_dim, int start,
                               int max_seq, float* k_cache, float* v_cache,
                               cudaStream_t stream) {
  const int position_floats = heads * head_dim;
  const int64_t total = static_cast<int64_t>(batch) * time * position_floats;
  if (total <= 0) return cudaSuccess;
  WriteKvCacheKernel<<<BlocksFor(total), kThreads, 0, stream>>>(
      k, v, batch, time, position_floats, start, max_seq, k_cache, v_cache);
  return cudaGetLastError();
}

cudaError_t LaunchAttention(const float* q, const float* k_cache,
                            const float* v_cache, int batch, int time,
                            int heads, int head_dim, int start, int max_seq,
                            float* out, cudaStream_t stream) {
  const int64_t queries = static_cast<int64_t>(batch) * time * heads;
  if (queries <= 0 || head_dim <= 0) return cudaSuccess;
  if (queries > INT32_MAX || start < 0) return cudaErrorInvalidValue;
  const AttentionLayout layout = AttentionLayoutFor(head_dim, start + time);
  const size_t shared_bytes =
      static_cast<size_t>(layout.total_floats) * sizeof(float);
  if (shared_bytes > kDefaultSharedBytes) {
    // Long contexts need more than the default 48 KiB: opt in, up to what
    // the device allows (checked here so the failure is a clear
    // InvalidValue rather than a failed launch).
    int device = 0;
    cudaError_t error = cudaGetDevice(&device);
    if (error != cudaSuccess) return error;
    int optin_bytes = 0;
    error = cudaDeviceGetAttribute(
        &optin_bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    if (error != cudaSuccess) return error;
    if (shared_bytes > static_cast<size_t>(optin_bytes)) {
      return cudaErrorInvalidValue;
    }
    error = cudaFuncSetAttribute(AttentionKernel,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(shared_bytes));
    if (error != cudaSuccess) return error;
  }
  // The CPU backend's scale, computed the same way.
  const float scale = 1.0f / sqrtf(static_cast<float>(head_dim));
  AttentionKernel<<<static_cast<unsigned>(queries), kThreads, shared_bytes,
                    stream>>>(q, k_cache, v_cache, time, heads, head_dim, start,
                              max_seq, scale, layout.groups,
                              static_cast<int>(layout.partial_floats), out);
  return cudaGetLastError();
}

cudaError_t LaunchSiluMul(const float* gate, const float* up, size_t count,
                          float* out, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const int64_t total = static_cast<int64_t>(count);
  SiluMulKernel<<<BlocksFor(total), kThreads, 0, stream>>>(gate, up, total,
                                                           out);
  return cudaGetLastError();
}

cudaError_t LaunchEngramGate(const float* key, const float* query,
                             const float* value, int rows, int dim, int branch,
                             int branches, float* out, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  const float inverse_sqrt_dim = 1.0f / sqrtf(static_cast<float>(dim));
  EngramGateKernel<<<rows, kThreads, 0, stream>>>(
      key, query, value, dim, inverse_sqrt_dim, branch, branches, out);
  return cudaGetLastError();
}

cudaError_t LaunchShortConvSilu(const float* x, int batch, int time,
                                int channels, const float* weight, int kernel,
                                int dilation, float* history, float* out,
                                cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(batch) * time * channels;
  if (total <= 0 || kernel <= 0) return cudaSuccess;
  const int past = (kernel - 1) * dilation;
  ShortConvKernel<<<BlocksFor(total), kThreads, 0, stream>>>(
      x, batch, time, channels, weight, kernel, dilation, past, history, out);
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess || past == 0) return error;
  // Stream order runs this after every output has read the old history.
  const int64_t sequences = static_cast<int64_t>(batch) * channels;
  ShiftHistoryKernel<<<BlocksFor(sequences), kThreads, 0, stream>>>(
      x, batch, time, channels, past, history);
  return cudaGetLastError();
}

cudaError_t LaunchHalfToFloat(const uint16_t* in, size_t count, HalfType type,
                              float* out, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const int64_t total = static_cast<int64_t>(count);
  HalfToFloatKernel<<<BlocksFor(total), kThreads, 0, stream>>>(in, total, type,
                                                               out);
  return cudaGetLastError();
}

cudaError_t LaunchArgmaxRows(const float* x, int rows, int cols, int stride,
                             int32_t* out, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  ArgmaxRowsKernel<<<rows, kThreads, 0, stream>>>(x, cols, stride, out);
  return cudaGetLastError();
}

}  // namespace engram::gpu::internal
