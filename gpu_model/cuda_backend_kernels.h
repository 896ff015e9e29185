// Plain-C++ interface of the CUDA backend's kernels (cuda_backend_kernels.cu),
// kept free of Abseil so that only this file passes through nvcc. Use the
// Backend from CreateCudaBackend (cuda_backend.h) instead of calling these.
//
//   cudaError_t error = LaunchAdd(a, b, count, stream);
//
// Each Launch* queues its kernel(s) on `stream` and returns
// cudaGetLastError(): launch failures show here, failures while running
// show at the next synchronisation. Pointers are device memory; the shapes
// and semantics are those of the Backend method of the same name
// (backend.h). Empty shapes launch nothing and return cudaSuccess.
#ifndef ENGRAM_GPU_MODEL_CUDA_BACKEND_KERNELS_H_
#define ENGRAM_GPU_MODEL_CUDA_BACKEND_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace engram::gpu::internal {

// The 16-bit element types RowsToFloat decodes on the device (f32 needs no
// kernel).
enum class HalfType { kBf16, kF16 };

// `ids` is device memory here (the backend copies the host ids first).
cudaError_t LaunchEmbedTokens(const int32_t* ids, int count, const float* table,
                              int dim, int copies, float* out,
                              cudaStream_t stream);

cudaError_t LaunchRmsNorm(const float* x, int rows, int dim, int in_stride,
                          const float* weight, float eps, float* out,
                          int out_stride, cudaStream_t stream);

// y[i][j] += bias[j] for y [m][n]: the bias half of Linear (cuBLAS does the
// product).
cudaError_t LaunchAddBias(float* y, const float* bias, int m, int n,
                          cudaStream_t stream);

cudaError_t LaunchAdd(float* a, const float* b, size_t count,
                      cudaStream_t stream);

cudaError_t LaunchMeanOfBranches(const float* x, int rows, int branches,
                                 int dim, float* out, cudaStream_t stream);

cudaError_t LaunchAddToBranches(float* x, const float* y, int rows,
                                int branches, int dim, cudaStream_t stream);

cudaError_t LaunchRotary(float* x, int batch, int time, int heads, int head_dim,
                         int start, float theta, cudaStream_t stream);

cudaError_t LaunchWriteKvCache(const float* k, const float* v, int batch,
                               int time, int heads, int head_dim, int start,
                               int max_seq, float* k_cache, float* v_cache,
                               cudaStream_t stream);

// Keeps the scores of one query in shared memory: cudaErrorInvalidValue
// when start + time keys do not fit the device's shared memory per block
// (about 56k keys on Ampere and Hopper).
cudaError_t LaunchAttention(const float* q, const float* k_cache,
                            const float* v_cache, int batch, int time,
                            int heads, int head_dim, int start, int max_seq,
                            float* out, cudaStream_t stream);

cudaError_t LaunchSiluMul(const float* gate, const float* up, size_t count,
                          float* out, cudaStream_t stream);

cudaError_t LaunchEngramGate(const float* key, const float* query,
                             const float* value, int rows, int dim, int branch,
                             int branches, float* out, cudaStream_t stream);

cudaError_t LaunchShortConvSilu(const float* x, int batch, int time,
                                int channels, const float* weight, int kernel,
                                int dilation, float* history, float* out,
                                cudaStream_t stream);

// Decodes `count` little-endian 16-bit elements at device memory `in`.
cudaError_t LaunchHalfToFloat(const uint16_t* in, size_t count, HalfType type,
                              float* out, cudaStream_t stream);

// out[r] (device memory) = the first index of the largest of row r.
cudaError_t LaunchArgmaxRows(const float* x, int rows, int cols, int stride,
                             int32_t* out, cudaStream_t stream);

}  // namespace engram::gpu::internal

#endif  // ENGRAM_GPU_MODEL_CUDA_BACKEND_KERNELS_H_
