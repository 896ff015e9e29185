// Backend: the numeric operations of the worker's model on one device, so
// the model is written once (model.h) and runs on the CPU or on a CUDA GPU.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
//                           CreateBackend(BackendKind::kAuto));
//   ENGRAM_ASSIGN_OR_RETURN(float* x, backend->Allocate(rows * dim));
//   backend->RmsNorm(x, rows, dim, dim, weight, 1e-6f, y, dim);
//   ENGRAM_RETURN_IF_ERROR(backend->Synchronize());
//
// Memory. Every `float*` an operation takes is backend memory from
// Allocate (host memory on the CPU, device memory on CUDA), except where a
// parameter says `host`. Allocations live as long as the backend.
//
// Order and errors. Operations run in the order they are called (on CUDA:
// queued on one stream, so they return before they finish). They do not
// return errors: the first failure is kept and returned by the next
// Synchronize (or by a Copy*ToHost), and later operations are skipped.
//
// Layouts are row-major. Shapes are in elements; a "stride" is the distance
// in elements between consecutive rows. Weights of linear layers are
// PyTorch's [out, in].
//
// Not thread-safe: one thread drives a backend.
#ifndef ENGRAM_GPU_MODEL_BACKEND_H_
#define ENGRAM_GPU_MODEL_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/element_type.h"

namespace engram::gpu {

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", or the GPU's name (cudaDeviceProp::name).
  virtual std::string device_name() const = 0;
  bool is_cpu() const { return device_name() == "cpu"; }

  // `count` floats of backend memory, zeroed. ResourceExhausted when out of
  // memory.
  virtual absl::StatusOr<float*> Allocate(size_t count) = 0;
  // `bytes` of host memory that the device can copy from asynchronously
  // (CUDA pinned memory; plain memory on the CPU). ResourceExhausted.
  virtual absl::StatusOr<char*> AllocateHostStaging(size_t bytes) = 0;

  // Copies `count` host floats to backend memory `out`; the host memory may
  // be reused on return.
  virtual void CopyToDevice(const float* host, size_t count, float* out) = 0;
  // Waits for the queued operations, then copies `count` floats to `host`.
  // Returns the first error since the last Synchronize.
  virtual absl::Status CopyToHost(const float* in, size_t count,
                                  float* host) = 0;
  // Waits for the queued operations; returns the first error since the
  // last Synchronize (and clears it).
  virtual absl::Status Synchronize() = 0;

  // out[i][c][:] = table[host_ids[i]][:] for c < copies: out is
  // [count][copies][dim]. REQUIRES: every id is a row of `table`.
  virtual void EmbedTokens(const int32_t* host_ids, int count,
                           const float* table, int dim, int copies,
                           float* out) = 0;

  // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for `rows` rows of
  // `dim` elements, x's rows `in_stride` apart and out's `out_stride`
  // apart. x and out may be the same memory when the strides agree.
  virtual void RmsNorm(const float* x, int rows, int dim, int in_stride,
                       const float* weight, float eps, float* out,
                       int out_stride) = 0;

  // y[m][n] = sum_k x[m][k] * w[n][k] + bias[n] (bias null: 0): x [m][k],
  // w [n][k], y [m][n], all contiguous. y must not overlap x.
  virtual void Linear(const float* x, int m, int k, const float* w,
                      const float* bias, int n, float* y) = 0;

  // a[i] += b[i] for i < count.
  virtual void Add(float* a, const float* b, size_t count) = 0;
  // out[i] = mean over c of x[i][c][:]: x [rows][branches][dim], out
  // [rows][dim].
  virtual void MeanOfBranches(const float* x, int rows, int branches, int dim,
                              float* out) = 0;
  // x[i][c][:] += y[i][:] for every branch c: x [rows][branches][dim].
  virtual void AddToBranches(float* x, const float* y, int rows, int branches,
                             int dim) = 0;

  // Rotary position embedding in place, the rotate-half convention
  // (Llama, GPT-NeoX): x is [batch][time][heads][head_dim]; position
  // p = start + t; for i < head_dim/2, with angle p * theta^(-2i/head_dim),
  // (x[i], x[i + head_dim/2]) becomes
  // (x[i] cos - x[i + head_dim/2] sin, x[i + head_dim/2] cos + x[i] sin).
  // REQUIRES: head_dim even.
  virtual void Rotary(float* x, int batch, int time, int heads, int head_dim,
                      int start, float theta) = 0;

  // Stores k and v ([batch][time][heads][head_dim]) at positions
  // start..start+time-1 of the caches ([batch][max_seq][heads][head_dim]).
  // REQUIRES: start + time <= max_seq.
  virtual void WriteKvCache(const float* k, const float* v, int batch, int time,
                            int heads, int head_dim, int start, int max_seq,
                            float* k_cache, float* v_cache) = 0;

  // Causal softmax attention: the query of (b, t), at position start + t,
  // attends to the cached positions 0..start+t of sequence b, scores
  // scaled by 1/sqrt(head_dim). q and out are [batch][time][heads]
  // [head_dim]; the caches as in WriteKvCache, already holding those
  // positions.
  virtual void Attention(const float* q, const float* k_cache,
                         const float* v_cache, int batch, int time, int heads,
                         int head_dim, int start, int max_seq, float* out) = 0;

  // out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x). out may be
  // gate or up.
  virtual void SiluMul(const float* gate, const float* up, size_t count,
                       float* out) = 0;

  // The Engram gate of branch `branch` for `rows` tokens: with
  // g = dot(key[i], query[i]) / sqrt(dim), g = sign(g) sqrt(max(|g|, 1e-6)),
  // out[i][branch][:] = sigmoid(g) * value[i][:]. key, query and value are
  // [rows][dim]; out is [rows][branches][dim].
  virtual void EngramGate(const float* key, const float* query,
                          const float* value, int rows, int dim, int branch,
                          int branches, float* out) = 0;

  // Causal depthwise convolution with SiLU, carrying its history across
  // calls: x is [batch][time][channels]; `history` is [batch]
  // [(kernel-1)*dilation][channels], the inputs of the positions before
  // x's, oldest first (zeros before a sequence's first token). With xs the
  // concatenation of history and x along time,
  // out[b][t][c] = silu(sum_j weight[c][j] * xs[b][H + t -
  // (kernel-1-j)*dilation][c]) where H = (kernel-1)*dilation; afterwards
  // history holds the last H positions of xs. weight is [channels][kernel]
  // (PyTorch's Conv1d [channels][1][kernel]). out must not overlap x or
  // history.
  virtual void ShortConvSilu(const float* x, int batch, int time, int channels,
                             const float* weight, int kernel, int dilation,
                             float* history, float* out) = 0;

  // Decodes `count` elements of `type` (kF32, kBf16 or kF16) at host
  // memory `host_rows` to floats in `out`. host_rows (from
  // AllocateHostStaging) must stay unchanged until the next Synchronize.
  virtual void RowsToFloat(const char* host_rows, size_t count,
                           ElementType type, float* out) = 0;

  // host_out[r] = the index of the largest of x[r][0..cols) (the first of
  // equals), for `rows` rows `stride` apart. Waits for the queued
  // operations; returns the first error since the last Synchronize.
  virtual absl::Status ArgmaxRows(const float* x, int rows, int cols,
                                  int stride, int32_t* host_out) = 0;
};

enum class BackendKind {
  kAuto,  // a CUDA GPU when one is usable, else the CPU
  kCpu,
  kCuda,
};

// ParseBackendKind reads "auto", "cpu" or "cuda"; InvalidArgument otherwise.
absl::StatusOr<BackendKind> ParseBackendKind(const std::string& name);

// CreateBackend makes a backend of `kind` (device 0 for CUDA). kCuda:
// Unavailable when the build has no CUDA or no GPU is usable.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind);

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_BACKEND_H_
